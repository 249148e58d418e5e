"""The trainer's command line and its typed, resolved configuration.

The CLI owns data, model, masking and run length; the DeepSpeed JSON owns engine settings (batch
size, precision, ZeRO stage, optimizer, schedule). ``TrainConfig`` is the one definition: the
parser, its defaults and range checks, and the argv the testbed hands the trainer are all
derived from its fields (``dnapt.cli``). ``trainer.preflight`` then checks everything against
the files on disk before any process group exists, so a bad argument costs one line of output
and no launch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dnapt.cli import ConfigError, command_parser, from_namespace, option, to_dict
from trainer.masking_config import MaskingConfig

__all__ = ["ConfigError", "TrainConfig", "build_parser", "config_from_namespace", "parse_args"]

OBJECTIVES = ("tokens", "hidden-bases")
PRESET_NAMES = "bert-tiny, bert-2x128, bert-small, bert-base, modernbert-tiny, modernbert-small, modernbert-base"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the DeepSpeed JSON (saved in ``RUN/config.json``)."""

    ds_config: Path = option(
        flags=("--ds_config", "--ds-config"),
        help="DeepSpeed JSON (ds_configs/zero{0,1,2,3}.json, zero3-offload.json): batch size, "
        "precision, ZeRO stage, optimizer, LR schedule; 'auto' values are filled in by the trainer",
    )
    data: str = option(
        help="one vocabulary of a shard directory, DIR/<vocab> (e.g. shards/kmer6-overlap), or a "
        "remote URI to one (s3://, gs://, oci://, azure://, hf://, ...)"
    )
    out: Path = option(help="run directory (created if missing)")
    model: str = option(
        "bert-tiny",
        help=f"preset ({PRESET_NAMES}) or a Hugging Face config JSON with model_type; vocabulary "
        "size and max length always come from --data",
    )
    masking: MaskingConfig = MaskingConfig()
    objective: str = option(
        "tokens",
        choices=OBJECTIVES,
        help="training loss: cross-entropy of the labelled tokens, or -ln P(true base) of each "
        "hidden base from the labelled tokens' distributions marginalised per base as BPHB "
        "does (nothing copyable is scored; see docs/training.md)",
    )
    max_steps: int = option(1000, gt=0, help="optimizer steps (the LR schedule spans them)")
    max_len: int | None = option(
        None,
        gt=0,
        help="model max length in tokens incl. [CLS]/[SEP] (default: the shards' longest window "
        "+ 2; smaller is an error)",
    )
    seed: int = option(0, help="seed for init, data order, masking")
    resume: str = option(
        "never",
        help="'auto': continue from the latest checkpoint in --out if there is one; a path: "
        "that checkpoint directory (--out/checkpoints/step_N); 'never': --out must hold no "
        "checkpoint",
    )
    save_every: int = option(500, gt=0, help="checkpoint every N steps (and at the end)")
    keep_last: int = option(2, gt=0, help="checkpoints kept on disk")
    eval_every: int = option(500, gt=0, help="validate every N steps (and at the end)")
    eval_samples: int = option(
        512,
        gt=0,
        help="size of the fixed validation subset: N windows spread across the val split's "
        "records in proportion to their size",
    )
    log_every: int = option(10, gt=0, help="metrics every N steps")
    num_workers: int = option(2, ge=0, help="data-loader workers per rank")
    canonical_nodes: int = option(
        64,
        gt=0,
        help="streaming's canonical node count: fixes the sample order for any node/rank layout "
        "that divides it",
    )
    cache_dir: Path | None = option(
        None, help="local cache for a remote --data (default: ~/.cache/dnapt/streaming/<hash>)"
    )
    dist_timeout: float = option(
        600.0,
        gt=0,
        help="seconds a collective may wait for a dead or stuck rank before this rank fails",
    )

    def to_dict(self) -> dict[str, Any]:
        d = to_dict(self)
        d["masking"] = self.masking.to_dict()
        return d


def build_parser() -> argparse.ArgumentParser:
    """The trainer CLI (also used by ``trainer.launch`` to check arguments before launching)."""
    p = command_parser(
        TrainConfig,
        prog="trainer/run.py",
        description="Train a BERT-style DNA masked-LM with DeepSpeed on dnapt shards. Run it under "
        "`deepspeed`, `torchrun`, `bash launch.sh train` or plain `python` (one process).",
    )
    # Passed by the deepspeed launcher; the trainer reads LOCAL_RANK from the environment instead.
    p.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)
    return p


def config_from_namespace(ns: argparse.Namespace) -> TrainConfig:
    """Range-check the parsed arguments and build the typed config (masking resolved)."""
    try:
        cfg = from_namespace(TrainConfig, ns)
    except ConfigError:
        raise
    except ValueError as e:  # MaskingConfig's own cross-field checks
        raise ConfigError(f"masking: {e}") from None
    return replace(cfg, masking=cfg.masking.resolved())


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Parse trainer arguments (argparse exits 2 on syntax errors; range errors raise)."""
    return config_from_namespace(build_parser().parse_args(argv))
