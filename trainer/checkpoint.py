"""Checkpoints that resume exactly: DeepSpeed state + loader state + every rank's RNG states.

Layout: ``RUN/checkpoints/step_00000050/`` (DeepSpeed's files, ``dnapt_rank<R>.pt`` per rank) and
``RUN/checkpoints/latest`` (the tag, DeepSpeed's own convention). ``latest`` is replaced
atomically only after every rank has finished writing, so a run killed mid-save resumes from the
previous complete checkpoint. Each rank stores its own RNG states (dropout differs per rank);
DeepSpeed's ``client_state`` holds what is global (step, loader position, world size).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

TAG_RE = re.compile(r"^step_(\d{8})$")


def tag_for(step: int) -> str:
    return f"step_{step:08d}"


def rng_state() -> dict[str, Any]:
    """Every RNG the training process draws from (masking draws from seeded generators)."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_tag(ckpt_dir: Path) -> str | None:
    path = ckpt_dir / "latest"
    return path.read_text().strip() if path.is_file() else None


def checkpoint_tags(ckpt_dir: Path) -> list[str]:
    """Complete or partial checkpoint directories, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p.name for p in ckpt_dir.iterdir() if p.is_dir() and TAG_RE.match(p.name))


def save(
    engine: Any, ckpt_dir: Path, step: int, client_state: dict[str, Any], rank: int, keep_last: int
) -> str:
    """Collective: every rank must call it. Returns the tag written."""
    dist = torch.distributed
    tag = tag_for(step)
    (ckpt_dir / tag).mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), ckpt_dir / tag / f"dnapt_rank{rank}.pt")
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client_state, save_latest=False)
    dist.barrier()
    if rank == 0:
        tmp = ckpt_dir / "latest.tmp"
        tmp.write_text(tag)
        os.replace(tmp, ckpt_dir / "latest")
        for old in checkpoint_tags(ckpt_dir)[:-keep_last]:
            if old != tag:
                shutil.rmtree(ckpt_dir / old, ignore_errors=True)
    dist.barrier()
    return tag


def load(engine: Any, ckpt_dir: Path, tag: str, rank: int) -> dict[str, Any]:
    """Restore engine, optimizer, scheduler and this rank's RNGs; returns the client state."""
    rank_file = ckpt_dir / tag / f"dnapt_rank{rank}.pt"
    if not rank_file.is_file():
        raise RuntimeError(
            f"{ckpt_dir / tag}: no state for rank {rank}: resume with the number of ranks that "
            "wrote the checkpoint"
        )
    path, client = engine.load_checkpoint(
        str(ckpt_dir), tag=tag, load_optimizer_states=True, load_lr_scheduler_states=True
    )
    if path is None:
        raise RuntimeError(f"{ckpt_dir / tag}: DeepSpeed could not load this checkpoint")
    set_rng_state(torch.load(rank_file, weights_only=False))
    return client
