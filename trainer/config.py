"""The trainer's command line and its typed, resolved configuration.

The CLI owns data, model, masking and run length; the DeepSpeed JSON owns engine settings (batch
size, precision, ZeRO stage, optimizer, schedule). ``parse_args`` only parses and range-checks;
``trainer.preflight`` then checks everything against the files on disk before any process group
exists, so a bad argument costs one line of output and no launch.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.masking_config import MaskingConfig, add_masking_args, masking_config_from_args


class ConfigError(ValueError):
    """A bad argument or input; the message names the thing and the fix, on one line."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the DeepSpeed JSON (saved in ``RUN/config.json``)."""

    ds_config: Path
    data: str
    out: Path
    model: str = "bert-tiny"
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    max_steps: int = 1000
    max_len: int | None = None
    seed: int = 0
    resume: str = "never"
    save_every: int = 500
    keep_last: int = 2
    eval_every: int = 500
    eval_samples: int = 512
    log_every: int = 10
    num_workers: int = 2
    canonical_nodes: int = 64
    cache_dir: Path | None = None
    dist_timeout: float = 600.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["masking"] = self.masking.to_dict()
        for key in ("ds_config", "out", "cache_dir"):
            d[key] = None if d[key] is None else str(d[key])
        return d


def build_parser() -> argparse.ArgumentParser:
    """The trainer CLI (also used by ``trainer.launch`` to check arguments before launching)."""
    p = argparse.ArgumentParser(
        prog="trainer/run.py",
        description="Train a BERT-style DNA masked-LM with DeepSpeed on dnapt shards. Run it under "
        "`deepspeed`, `torchrun`, `bash launch.sh train` or plain `python` (one process).",
    )
    p.add_argument(
        "--ds_config",
        "--ds-config",
        dest="ds_config",
        type=Path,
        required=True,
        help="DeepSpeed JSON (ds_configs/zero{0,1,2,3}.json, zero3-offload.json): batch size, "
        "precision, ZeRO stage, optimizer, LR schedule; 'auto' values are filled in by the trainer",
    )
    p.add_argument(
        "--data",
        required=True,
        help="one vocabulary of a shard directory, DIR/<vocab> (e.g. shards/kmer6-overlap), or a "
        "remote URI to one (s3://, gs://, oci://, azure://, hf://, ...)",
    )
    p.add_argument("--out", type=Path, required=True, help="run directory (created if missing)")
    p.add_argument(
        "--model",
        default="bert-tiny",
        help="preset (bert-tiny, bert-small, bert-base, modernbert-tiny, modernbert-small, "
        "modernbert-base) or a Hugging Face config JSON with model_type; vocabulary size and "
        "max length always come from --data (default: %(default)s)",
    )
    p.add_argument(
        "--max-steps", type=int, default=1000, help="optimizer steps (default: %(default)s)"
    )
    p.add_argument(
        "--max-len",
        type=int,
        default=None,
        help="model max length in tokens incl. [CLS]/[SEP] (default: the shards' longest window "
        "+ 2; smaller is an error)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for init, data order, masking")
    p.add_argument(
        "--resume",
        default="never",
        help="'auto': continue from the latest checkpoint in --out if there is one; a path: "
        "that checkpoint directory (--out/checkpoints/step_N); 'never' (default): --out must "
        "hold no checkpoint",
    )
    p.add_argument(
        "--save-every", type=int, default=500, help="checkpoint every N steps (and at the end)"
    )
    p.add_argument(
        "--keep-last", type=int, default=2, help="checkpoints kept on disk (default: %(default)s)"
    )
    p.add_argument(
        "--eval-every", type=int, default=500, help="validate every N steps (and at the end)"
    )
    p.add_argument(
        "--eval-samples",
        type=int,
        default=512,
        help="size of the fixed validation subset: the first N windows of the val split",
    )
    p.add_argument("--log-every", type=int, default=10, help="metrics every N steps")
    p.add_argument("--num-workers", type=int, default=2, help="data-loader workers per rank")
    p.add_argument(
        "--canonical-nodes",
        type=int,
        default=64,
        help="streaming's canonical node count: fixes the sample order for any node/rank layout "
        "that divides it (default: %(default)s)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="local cache for a remote --data (default: ~/.cache/dnapt/streaming/<hash>)",
    )
    p.add_argument(
        "--dist-timeout",
        type=float,
        default=600.0,
        help="seconds a collective may wait for a dead or stuck rank before this rank fails",
    )
    add_masking_args(p)
    # Passed by the deepspeed launcher; the trainer reads LOCAL_RANK from the environment instead.
    p.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)
    return p


# Help for masking flags that trainer.masking registers without any (theirs wins when present).
def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} {value}: must be {'>= 0' if allow_zero else '> 0'}")


def config_from_namespace(ns: argparse.Namespace) -> TrainConfig:
    """Range-check the parsed arguments and build the typed config."""
    _positive("--max-steps", ns.max_steps)
    _positive("--save-every", ns.save_every)
    _positive("--keep-last", ns.keep_last)
    _positive("--eval-every", ns.eval_every)
    _positive("--eval-samples", ns.eval_samples)
    _positive("--log-every", ns.log_every)
    _positive("--num-workers", ns.num_workers, allow_zero=True)
    _positive("--canonical-nodes", ns.canonical_nodes)
    _positive("--dist-timeout", ns.dist_timeout)
    if ns.max_len is not None:
        _positive("--max-len", ns.max_len)
    try:
        masking = masking_config_from_args(ns)
    except ValueError as e:
        raise ConfigError(f"masking: {e}") from None
    return TrainConfig(
        ds_config=ns.ds_config,
        data=ns.data,
        out=ns.out,
        model=ns.model,
        masking=masking,
        max_steps=ns.max_steps,
        max_len=ns.max_len,
        seed=ns.seed,
        resume=ns.resume,
        save_every=ns.save_every,
        keep_last=ns.keep_last,
        eval_every=ns.eval_every,
        eval_samples=ns.eval_samples,
        log_every=ns.log_every,
        num_workers=ns.num_workers,
        canonical_nodes=ns.canonical_nodes,
        cache_dir=ns.cache_dir,
        dist_timeout=ns.dist_timeout,
    )


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Parse trainer arguments (argparse exits 2 on syntax errors; range errors raise)."""
    return config_from_namespace(build_parser().parse_args(argv))
