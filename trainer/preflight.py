"""Check a training run against the files on disk before any process group starts.

Run by every rank before ``init_distributed`` and by ``trainer.launch`` before it starts the
launcher, so a missing shard directory, a tokenizer that disagrees with its manifest, an unknown
preset, a too-small ``--max-len`` or an incompatible resume costs one line, not a cluster launch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig

from dnapt.errors import print_error
from trainer.bphb import VAL_MASKING
from trainer.checkpoint import (
    TAG_RE,
    CheckpointError,
    checkpoint_tags,
    latest_tag,
    problems,
    step_of,
)
from trainer.config import ConfigError, TrainConfig
from trainer.ds_config import load_ds_config, resolve_ds_config
from trainer.masking import Masker, build_masker
from trainer.models import model_config
from trainer.run_record import CONFIG_FILE, ResolvedRun, RunData, RunRecordError
from trainer.shards import Shards, open_shards


@dataclass
class Plan:
    """A checked run: everything ``trainer.run`` needs besides the process group."""

    cfg: TrainConfig
    shards: Shards
    max_len: int
    model_config: PretrainedConfig
    ds_config: dict[str, Any]
    masker: Masker
    val_masker: Masker
    ckpt_dir: Path
    resume_tag: str | None

    @property
    def micro_batch(self) -> int:
        return int(self.ds_config["train_micro_batch_size_per_gpu"])

    @property
    def grad_accum(self) -> int:
        return int(self.ds_config["gradient_accumulation_steps"])

    @property
    def zero_stage(self) -> int:
        return int(self.ds_config.get("zero_optimization", {}).get("stage", 0))

    def resolved(self, world_size: int) -> ResolvedRun:
        """What ``RUN/config.json`` holds: enough to rebuild, export and audit the run."""
        v = self.shards.vocab
        return ResolvedRun(
            train=self.cfg,
            world_size=world_size,
            max_len=self.max_len,
            data=RunData(
                vocab=self.shards.name,
                vocab_size=v.size,
                family=v.family,
                k=v.k,
                window=self.shards.window,
                max_tokens=self.shards.max_tokens,
                tokenizer_sha256=v.sha256(),
                manifest_sha256=self.shards.manifest_sha256,
            ),
            val_masking=VAL_MASKING.to_dict(),
            model=self.model_config.to_dict(),
            ds_config=self.ds_config,
        )


def _resume_tag(cfg: TrainConfig) -> tuple[Path, str | None]:
    ckpt_dir = cfg.out / "checkpoints"
    try:
        latest = latest_tag(ckpt_dir)
    except CheckpointError as e:
        if cfg.resume != "auto":
            raise ConfigError(str(e)) from None
        return ckpt_dir, _intact_tag(ckpt_dir, None, cfg.out, str(e))
    if cfg.resume == "never":
        if latest is not None:
            raise ConfigError(
                f"--out {cfg.out} already holds checkpoints (latest {latest}): pass --resume auto "
                "to continue it, or choose a new --out"
            )
        return ckpt_dir, None
    if cfg.resume == "auto":
        return ckpt_dir, None if latest is None else _intact_tag(ckpt_dir, latest, cfg.out)
    path = Path(cfg.resume)
    if not (path.is_dir() and TAG_RE.match(path.name)):
        raise ConfigError(
            f"--resume {cfg.resume}: not a checkpoint directory (RUN/checkpoints/step_N); use "
            "'auto', 'never' or such a path"
        )
    why = problems(path, _saved_world(path.parent.parent))
    if why:
        raise ConfigError(f"--resume {cfg.resume}: cannot resume: {why}")
    return path.parent, path.name


def _saved_world(run_dir: Path) -> int:
    """Ranks that wrote the run's checkpoints (``RUN/config.json``); 1 when unknown."""
    try:
        return ResolvedRun.read(run_dir / CONFIG_FILE).world_size
    except RunRecordError:
        return 1  # _check_resume reports the missing or broken config.json


def _intact_tag(
    ckpt_dir: Path, latest: str | None, out: Path, latest_problem: str | None = None
) -> str:
    """``latest`` if it is intact, else the newest intact checkpoint before it, with a warning.

    A save killed or starved of disk after ``latest`` was written, a deleted directory, a
    truncated file or a garbled ``latest`` (``latest`` None, ``latest_problem`` says why) must
    cost the steps since the previous checkpoint, not the run.
    """
    world = _saved_world(out)
    older = [
        t
        for t in reversed(checkpoint_tags(ckpt_dir))
        if latest is None or step_of(t) < step_of(latest)
    ]
    first_problem = latest_problem
    for tag in ([latest] if latest else []) + older:
        why = problems(ckpt_dir / tag, world)
        if why is None:
            if tag != latest and os.environ.get("RANK", "0") == "0":
                print_error(
                    "trainer",
                    f"checkpoint {latest or '(latest)'} is unusable ({first_problem}); resuming "
                    f"from the previous intact checkpoint {tag}",
                    kind="warning",
                )
            return tag
        first_problem = first_problem or why
    raise ConfigError(
        f"--resume auto: no intact checkpoint in {ckpt_dir} (latest {latest or '?'}: "
        f"{first_problem}); resume from a copy of the run or start a new --out"
    )


def _check_resume(plan: Plan, world_size: int | None) -> None:
    """The checkpoint must come from the same vocabulary, model, ZeRO stage, seed and ranks."""
    saved_path = plan.ckpt_dir.parent / CONFIG_FILE
    if not saved_path.is_file():
        raise ConfigError(f"--resume: {saved_path} is missing, so the checkpoint can't be checked")
    try:
        saved = ResolvedRun.read(saved_path)
    except RunRecordError as e:
        raise ConfigError(f"--resume: {e}") from None
    now = plan.resolved(world_size or saved.world_size)
    arch_before = _arch(saved.model)
    arch_now = _arch(json.loads(json.dumps(now.model)))  # as it would be saved
    arch_diff = sorted(
        k for k in arch_before.keys() | arch_now.keys() if arch_before.get(k) != arch_now.get(k)
    )
    checks = [
        ("vocabulary", saved.data.tokenizer_sha256, now.data.tokenizer_sha256),
        ("max length", saved.max_len, now.max_len),
        (
            "model",
            ", ".join(f"{k}={arch_before.get(k)}" for k in arch_diff),
            ", ".join(f"{k}={arch_now.get(k)}" for k in arch_diff),
        ),
        (
            "ZeRO stage",
            saved.zero_stage,
            plan.zero_stage,
        ),
        ("seed", saved.train.seed, plan.cfg.seed),
        ("number of ranks", saved.world_size, now.world_size),
    ]
    for what, before, after in checks:
        if before != after:
            raise ConfigError(
                f"--resume: the checkpoint's {what} differs from this run's ({before} vs "
                f"{after}): resume with the original settings or start a new --out"
            )


def _arch(model: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in ("transformers_version", "_name_or_path")}


def _check_val(shards: Shards, world_size: int | None) -> None:
    """Validation (val loss, BPHB) needs val windows, at least one per rank."""
    n = shards.windows["val"]
    if n == 0:
        raise ConfigError(
            f"--data {shards.local}: the shards have no val windows (sharded with --val-fraction "
            "0?); the trainer validates on them: re-shard with --val-fraction > 0 or --val-records"
        )
    if world_size is not None and n < world_size:
        raise ConfigError(
            f"--data {shards.local}: {n} val windows for {world_size} ranks: shard more "
            "validation data or use fewer ranks"
        )


def preflight(cfg: TrainConfig, world_size: int | None = None) -> Plan:
    """Check ``cfg`` against disk; ``world_size`` (when known) is checked against a resume."""
    if cfg.out.exists() and not cfg.out.is_dir():
        raise ConfigError(
            f"--out {cfg.out} is an existing file, not a run directory: choose another"
        )
    raw = load_ds_config(cfg.ds_config)
    ds_config = resolve_ds_config(raw, cfg.ds_config, cfg.max_steps)
    shards = open_shards(cfg.data, cfg.cache_dir)
    _check_val(shards, world_size)
    needed = shards.max_tokens + 2
    max_len = cfg.max_len if cfg.max_len is not None else needed
    if max_len < needed:
        raise ConfigError(
            f"--max-len {max_len} is smaller than the shards' longest window ({shards.max_tokens} "
            f"tokens + [CLS]/[SEP] = {needed}): raise it or leave it out"
        )
    mcfg = model_config(cfg.model, shards.vocab.size, max_len)
    try:
        masker = build_masker(cfg.masking, shards.vocab)
        val_masker = build_masker(VAL_MASKING, shards.vocab)
    except ValueError as e:
        raise ConfigError(f"--masking: {e}") from None
    ckpt_dir, tag = _resume_tag(cfg)
    plan = Plan(cfg, shards, max_len, mcfg, ds_config, masker, val_masker, ckpt_dir, tag)
    if tag is not None:
        _check_resume(plan, world_size)
    return plan
