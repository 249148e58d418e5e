"""The eval stage's command lines, each defined once as a frozen dataclass.

``RunConfig`` (eval/run.py), ``AuditConfig`` (eval/audit.py) and ``MakeTaskConfig``
(eval/make_task.py) declare their fields with ``dnapt.cli.option``: the parser, its defaults and
range checks, a recipe's table (``dnapt.cli.from_mapping``) and the argv an orchestrator hands a
stage (``dnapt.cli.to_argv``) all come from these definitions. The protocol settings nested in
``RunConfig`` (``ProbeConfig``, ``FinetuneConfig``) and the audit's (``AuditThresholds``,
``NearDupConfig``) live with the code that uses them and are flattened into these CLIs.

Stdlib + light eval modules only: ``--help`` and argument errors must not load torch or sklearn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dnapt.cli import ConfigError, command_parser, option, parse_config
from eval.baselines import BaselineConfig
from eval.benchmark import IUPAC_POLICIES
from eval.cache import default_cache_dir
from eval.dedup import NearDupConfig
from eval.encoder import POOLINGS
from eval.finetune import FinetuneConfig
from eval.probe import ProbeConfig
from eval.verdict import AuditThresholds

__all__ = ["AuditConfig", "ConfigError", "MakeTaskConfig", "RunConfig", "parse_or_exit"]

PROTOCOLS = ("probe", "finetune")
BENCHMARK_HELP = "benchmark dir (default: $DNAPT_DATA_MIRROR/benchmark)"
IUPAC_HELP = (
    "IUPAC ambiguity codes: 'error' rejects the file, 'n' maps them to N and reports the count"
)
# A report's baselines: the audit's shortcut baselines plus the one-hot CNN trained from scratch
# (eval/cnn.py), the supervised model a pretrained encoder must beat. The audit leaves the CNN out.
RUN_BASELINES = BaselineConfig(cnn=True)


@dataclass(frozen=True)
class RunConfig:
    """Everything a report depends on (eval/run.py); its settings are written into report.json."""

    checkpoints: tuple[str, ...] = option(
        flags=("--checkpoint",),
        help="HF checkpoint dir with its tokenizer (e.g. RUN/hf); repeat for several",
    )
    out: str = option(help="report directory")
    benchmark: str | None = option(None, help=BENCHMARK_HELP)
    tasks: str = option(
        "all", help="curated:AUDIT_DIR/curated.json | all | comma-separated source/task ids"
    )
    protocol: str = option(
        "probe",
        choices=PROTOCOLS,
        help="probe (frozen encoder + logistic regression) or finetune",
    )
    seeds: int = option(3, ge=1, help="seeds 0..N-1")
    # Not ``batch_size``: the nested FinetuneConfig has one, and flattened flags share one
    # argparse namespace, so two fields of one name would overwrite each other.
    embed_batch_size: int = option(64, ge=1, flags=("--batch-size",), help="embedding batch size")
    pooling: str = option(
        "mean", choices=POOLINGS, help="mean over content tokens or the first token (CLS)"
    )
    max_length: int | None = option(
        None,
        ge=3,
        help="cap on tokens per sequence, specials included (default: the model's own limit)",
    )
    iupac: str = option("error", choices=IUPAC_POLICIES, help=IUPAC_HELP)
    n_boot: int = option(1000, ge=1, help="bootstrap resamples for the CIs")
    probe: ProbeConfig = ProbeConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    cache_dir: str | None = option(
        None,
        help="probe embeddings cache, keyed by checkpoint and task content (default: "
        "$DNAPT_EVAL_CACHE or ~/.cache/dnapt/eval); a re-score of the same checkpoint skips "
        "extraction",
    )
    cache: bool = option(True, help="read and write the embeddings cache (--no-cache: neither)")

    @property
    def baselines(self) -> BaselineConfig:
        return RUN_BASELINES

    @property
    def cache_root(self) -> Path | None:
        """The embeddings cache directory, or None when caching is off."""
        if not self.cache:
            return None
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def protocol_settings(self) -> dict[str, Any]:
        """The protocol's settings as report.json records them (``protocol_config``)."""
        settings = self.probe.to_dict() if self.protocol == "probe" else asdict(self.finetune)
        return settings | {"pooling": self.pooling, "batch_size": self.embed_batch_size}


@dataclass(frozen=True)
class AuditConfig:
    """An audit (eval/audit.py): where, which tasks, and everything a verdict depends on."""

    out: str = option(help="output dir for audit.json, audit.md, curated.json")
    benchmark: str | None = option(None, help=BENCHMARK_HELP)
    tasks: str = option("all", help="'all' or comma-separated source/task ids")
    dedup: bool = option(
        False,
        help="repair leaks: drop test rows found in the training split, reverse complements "
        "included",
    )
    iupac: str = option("error", choices=IUPAC_POLICIES, help=IUPAC_HELP)
    n_boot: int = option(1000, ge=1, help="bootstrap resamples for MCC CIs")
    jobs: int = option(
        1, ge=1, help="tasks audited in parallel processes (results do not depend on it)"
    )
    near_dup: NearDupConfig = NearDupConfig()
    thresholds: AuditThresholds = AuditThresholds()
    baselines: BaselineConfig = BaselineConfig()

    def settings(self) -> dict[str, Any]:
        """What the verdicts depend on, as audit.json and curated.json record it (``config``);
        where the audit ran and how many processes it used are not part of it."""
        return {
            "iupac": self.iupac,
            "dedup": self.dedup,
            "n_boot": self.n_boot,
            "thresholds": asdict(self.thresholds),
            "near_dup": asdict(self.near_dup),
            "baselines": asdict(self.baselines),
        }


@dataclass(frozen=True)
class MakeTaskConfig:
    """A task build (eval/make_task.py): spec files or a curated suite, and where to write."""

    out: Path = option(help="benchmark dir; tasks go to OUT/<name>/")
    specs: tuple[Path, ...] = option((), flags=("specs",), help="task spec TOML files")
    suite: str | None = option(None, help="build every spec of a curated suite (eval/suites/NAME)")
    overwrite: bool = option(False, help="rebuild tasks that already exist")
    allow_gc_shortcut: bool = option(
        False,
        help="keep a gc-matched task whose GC+length LR test AUROC exceeds 0.60 (recorded in "
        "task.json); by default the build fails",
    )

    def __post_init__(self) -> None:
        if bool(self.specs) == bool(self.suite):
            raise ConfigError("give spec files or --suite NAME (one of the two)")


def parse_or_exit(
    cls: type, script: str, description: str, argv: list[str] | None, prog: str | None = None
) -> Any:
    """``argv`` parsed into ``cls``; any argument error exits 2, a range error after one line
    naming the flag (``SCRIPT: error: --flag value: ...``)."""
    parser = command_parser(cls, prog=prog or script, description=description)
    cfg = parse_config(cls, parser, argv, name=script)
    if cfg is None:
        raise SystemExit(2)
    return cfg
