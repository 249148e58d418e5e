"""Testbed recipes: one TOML file fixes every choice of a vocabulary x masking experiment.

This module declares what a recipe holds: one frozen dataclass per table, whose fields carry
their defaults, help and range checks (``dnapt.cli.option``), so ``dnapt.cli.from_mapping``
rejects unknown keys, wrong types and out-of-range values with one line naming the key. Where a
table mirrors a stage's own config, its fields are taken from that config (``_like``) rather than
restated. ``testbed.recipe_load`` reads a file into a ``Recipe`` and adds the checks that span
fields. Relative paths are relative to the repository root (where ``launch.sh`` runs), so a
recipe means the same thing from any working directory. The schema is documented key by key in
docs/testbed.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_prep.vocab_report import AnalyzeConfig
from dnapt.cli import option
from eval.config import AuditConfig, RunConfig
from trainer.config import TrainConfig
from trainer.launch import LaunchConfig

if TYPE_CHECKING:
    from data_prep.shard_config import ShardConfig

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_MODES = ("local", "hostfile", "node-rank")
# The fields of a stage config that the testbed sets for each call (paths, the cells' checkpoints,
# the curated task list): a recipe's [vocab.report], [eval.run] and [eval.audit] give the rest.
ANALYZE_OWNED = ("data", "out", "benchmark", "bpe_sweep")
RUN_OWNED = ("checkpoints", "out", "benchmark", "tasks", "cache_dir", "cache")
AUDIT_OWNED = ("out", "benchmark", "tasks")


class RecipeError(ValueError):
    """A recipe that cannot run; the message is one line naming the file, field and fix."""


def _like(config: type, name: str, default: Any = dataclasses.MISSING) -> Any:
    """A recipe field declared as ``config``'s field ``name`` (help, range checks, choices, and
    the default unless the recipe's differs): a stage's option has one definition."""
    f = next(f for f in dataclasses.fields(config) if f.name == name)
    value = f.default if default is dataclasses.MISSING else default
    return dataclasses.field(default=value, metadata=f.metadata)


def repo_path(value: str | Path) -> Path:
    """A recipe path: absolute as given, relative ones against the repository root."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else ROOT / p


@dataclass(frozen=True)
class CorpusSpec:
    """``[corpus]``: what ``data_prep/shard.py`` is asked to produce (all lengths in bases)."""

    sources: tuple[str, ...] = option(help="registry names or FASTA paths")
    window: int = option(gt=0, help="window length in bases (at least 8)")
    stride: int | None = option(None, gt=0, help="window stride (default: the window)")
    val_fraction: float | None = option(None, ge=0, help="share of each record held out, < 1")
    val_records: tuple[str, ...] = option((), help="records held out whole")
    max_n_frac: float = option(0.0, ge=0, help="drop windows with more N than this, <= 1")
    bpe_train_bases: int | None = option(None, gt=0, help="BPE training sample (default: shard's)")
    seed: int = option(0, ge=0, help="shard seed (BPE sample)")
    workers: int = option(1, gt=0, help="tokenizer processes")
    shards: Path | None = option(None, help="shard directory (default: RESULTS/shards)")
    verify: bool = option(True, help="verify a fresh shard directory")
    # record = bases, for a dry run without the FASTA files (values checked by the loader)
    expected_record_lengths: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VocabTable:
    """``[vocab]``: the vocabularies of the matrix and their analysis."""

    names: tuple[str, ...] = option(help="vocabulary names")
    analysis: bool = option(True, help="run the vocabulary analysis")
    bpe_sweep: tuple[int, ...] = option((), ge=16, help="analyze_vocab.py --bpe-sweep sizes")
    # [vocab.report]: analyze_vocab.py's own options (AnalyzeConfig), parsed by the loader.
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MaskingExtras:
    """The keys of a ``[[masking]]`` table besides ``trainer.masking.MaskingConfig``'s fields."""

    label: str | None = option(None, help="column name (default: the strategy)")
    objective: str = _like(TrainConfig, "objective")
    vocabs: tuple[str, ...] = option((), help="the vocabularies it runs on (default: all)")


@dataclass(frozen=True)
class MaskingSpec:
    """One masking column of the matrix: a label, ``trainer.masking.MaskingConfig`` fields and
    the training objective (``tokens`` or ``hidden-bases``, the trainer's ``--objective``)."""

    label: str
    strategy: str
    params: dict[str, float | int]
    objective: str = "tokens"
    vocabs: tuple[str, ...] = ()  # the vocabularies it runs on; empty: all of the recipe's


@dataclass(frozen=True)
class ModelTable:
    """``[model]``."""

    preset: str = option(help="a trainer preset or a model config JSON")


@dataclass(frozen=True)
class DeepSpeedTable:
    """``[deepspeed]``."""

    config: str = option(help="a DeepSpeed JSON (ds_configs/...)")
    override: dict[str, Any] = field(default_factory=dict)  # merged into it table by table


@dataclass(frozen=True)
class BudgetTable:
    """``[budget]``."""

    bases: int = option(gt=0, help="bases seen per run")


@dataclass(frozen=True)
class TrainSpec:
    """``[train]``: how every cell is trained; counts over the run, so they hold for any budget."""

    seeds: tuple[int, ...] = option((0,), ge=0, help="training seeds, distinct")
    checkpoints: int = option(1, gt=0, help="checkpoints per run")
    evals: int = option(1, gt=0, help="validations per run")
    logs: int = option(50, gt=0, help="logged training intervals per run")
    eval_samples: int = _like(TrainConfig, "eval_samples")
    num_workers: int = _like(TrainConfig, "num_workers", 1)
    keep_last: int = _like(TrainConfig, "keep_last", 1)
    dist_timeout: float = _like(TrainConfig, "dist_timeout")


@dataclass(frozen=True)
class EvalSpec:
    """``[eval]``: which tasks, and how the audit (``[eval.audit]``: ``eval/audit.py``'s
    ``AuditConfig``) and the scoring (``[eval.run]``: ``eval/run.py``'s ``RunConfig``) run. The
    stage configs hold placeholders in the fields the testbed sets per call (``*_OWNED``)."""

    tasks: tuple[str, ...] = option((), help="'source/task' ids; empty (\"all\" in a recipe): all")
    benchmark: Path | None = option(None, help="benchmark folder")
    nproc: int = option(1, gt=0, help="scoring processes")
    suite: str | None = option(None, help="a curated task suite (eval/suites/NAME)")
    run: RunConfig = field(default_factory=lambda: RunConfig(checkpoints=(), out=""))
    audit: AuditConfig = field(default_factory=lambda: AuditConfig(out=""))

    @property
    def protocol(self) -> str:
        return self.run.protocol

    @property
    def seeds(self) -> int:
        return self.run.seeds


@dataclass(frozen=True)
class LauncherSpec:
    """``[launcher]``: where the ranks of each training run come from (``trainer.launch``)."""

    mode: str = option("local", choices=LAUNCH_MODES, help="where each run's ranks come from")
    nproc: int = option(1, gt=0, help="ranks per node")
    nnodes: int = option(1, gt=0, help="nodes")
    hostfile: Path | None = _like(LaunchConfig, "hostfile")
    backend: str = _like(LaunchConfig, "launcher")
    master_addr: str | None = _like(LaunchConfig, "master_addr")
    master_port: int = _like(LaunchConfig, "master_port")
    cpu_threads: int | None = option(None, ge=1, help="OMP_NUM_THREADS for every stage on CPU")

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes


@dataclass(frozen=True)
class CostSpec:
    """``[cost]``: the accelerator assumed by the dry run's GPU-hour estimate."""

    gpu: str = option("H100 SXM (bf16 dense)", help="accelerator label")
    peak_tflops: float = option(989.0, gt=0, help="peak dense TFLOP/s")
    mfu: float = option(0.4, gt=0, help="model FLOP utilization, <= 1")


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe (``text`` is the file verbatim, for the reproducibility record)."""

    path: Path
    text: str
    name: str
    description: str
    results: Path
    corpus: CorpusSpec
    vocabs: tuple[str, ...]
    analysis: bool
    bpe_sweep: tuple[int, ...]
    vocab_report: AnalyzeConfig
    masking: tuple[MaskingSpec, ...]
    model: str
    ds_config: Path
    ds_override: dict[str, Any]
    budget_bases: int
    train: TrainSpec
    eval: EvalSpec
    launcher: LauncherSpec
    cost: CostSpec = field(default_factory=CostSpec)

    def shard_config(self, shards: Path, overwrite: bool = False) -> ShardConfig:
        """The corpus as ``data_prep/shard.py``'s own ``ShardConfig`` (its defaults apply where
        the recipe is silent): the shard command and the expected manifest both come from it."""
        from data_prep.shard_config import ShardConfig
        from data_prep.windows import WindowConfig

        c = self.corpus
        windows = WindowConfig(
            window=c.window,
            stride=c.stride,
            val_records=c.val_records,
            val_fraction=c.val_fraction,
            max_n_frac=c.max_n_frac,
        )
        return ShardConfig(
            out=str(shards),
            inputs=c.sources,
            vocabs=self.vocabs,
            windows=windows,
            workers=c.workers,
            seed=c.seed,
            bpe_train_bases=c.bpe_train_bases,
            overwrite=overwrite,
        )
