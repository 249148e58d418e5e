"""Checkpoints that resume exactly: DeepSpeed state + loader state + every rank's RNG states.

Security: a checkpoint may come from someone else (a shared filesystem, a downloaded run), and a
pickle can run code when loaded. dnapt's own files hold tensors and plain values only and load
with ``torch.load(weights_only=True)``; DeepSpeed's files (``*model_states.pt``,
``*optim_states.pt``) are pickles that DeepSpeed loads itself, so ``restricted_loads`` makes those
loads ``weights_only`` too, allowing only the few DeepSpeed classes its checkpoints contain.

Layout: ``RUN/checkpoints/step_00000050/`` (DeepSpeed's files, ``dnapt_rank<R>.pt`` per rank) and
``RUN/checkpoints/latest`` (the tag, DeepSpeed's own convention). ``latest`` is replaced
atomically only after every rank has finished writing, so a run killed mid-save resumes from the
previous complete checkpoint. Each rank stores its own RNG states (dropout differs per rank);
DeepSpeed's ``client_state`` holds what is global (step, loader position, world size).
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

TAG_RE = re.compile(r"^step_(\d{8})$")
LOW_SPACE_BYTES = 64 << 20  # below this much free space a failed write is reported as disk full


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file and the fix."""


def _deepspeed_globals() -> list[Any]:
    """The classes DeepSpeed 0.19 pickles into its checkpoints (ZeRO 0-3, fp32 and bf16; found by
    loading each kind with ``weights_only=True``). Nothing else may be constructed on load."""
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, ZeroStageEnum, fragment_address]


@contextmanager
def restricted_loads() -> Iterator[None]:
    """Inside, every ``torch.load`` (DeepSpeed's included) is ``weights_only``; a file that needs
    anything else, or cannot be read, raises ``CheckpointError`` naming the file."""
    plain = torch.load

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        try:
            return plain(f, *args, **kwargs)
        except pickle.UnpicklingError as e:
            why = str(e).split("WeightsUnpickler error:")[-1].strip().split("\n")[0]
            raise CheckpointError(
                f"{f}: refused: it holds Python objects a checkpoint never needs ({why}); it was "
                "crafted or comes from another program: load only runs you trust"
            ) from None
        except (OSError, RuntimeError, EOFError, ValueError) as e:
            raise CheckpointError(
                f"{f}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                "; the file is truncated or corrupt: resume from an older checkpoint"
            ) from None

    with torch.serialization.safe_globals(_deepspeed_globals()):
        torch.load = load
        try:
            yield
        finally:
            torch.load = plain


def step_of(tag: str) -> int:
    m = TAG_RE.match(tag)
    return int(m.group(1)) if m else -1


def problems(tag_dir: Path, world_size: int) -> str | None:
    """Why ``tag_dir`` cannot be resumed from, or None when it looks intact.

    Cheap: every rank's RNG file is there and every ``.pt`` is a complete zip archive (a
    truncated or empty file has no central directory). It does not read the tensors.
    """
    if not tag_dir.is_dir():
        return f"{tag_dir} is missing"
    for rank in range(world_size):
        if not (tag_dir / f"dnapt_rank{rank}.pt").is_file():
            return f"{tag_dir / f'dnapt_rank{rank}.pt'} is missing (an interrupted save)"
    files = sorted(tag_dir.glob("*.pt"))
    if not any("model_states" in f.name for f in files):
        return f"{tag_dir} holds no DeepSpeed model states (an interrupted save)"
    for f in files:
        try:
            with zipfile.ZipFile(f) as z:
                z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            return f"{f} is truncated or corrupt ({e})"
    return None


def tag_for(step: int) -> str:
    return f"step_{step:08d}"


def rng_state() -> dict[str, Any]:
    """Every RNG the training process draws from (masking draws from seeded generators).

    Stored as tensors and plain Python values only, so ``torch.load(weights_only=True)`` reads
    it back: a crafted checkpoint can then not run code when a run resumes.
    """
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt), "gauss": gauss},
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_tag(ckpt_dir: Path) -> str | None:
    """The tag ``latest`` names (None before the first save); it must look like a tag, since the
    file may have been edited and is joined to ``ckpt_dir``."""
    path = ckpt_dir / "latest"
    if not path.is_file():
        return None
    tag = path.read_text(errors="replace").strip()
    if not TAG_RE.match(tag):
        raise CheckpointError(
            f"{path}: names {tag[:40]!r}, not a checkpoint tag (step_NNNNNNNN): edited or corrupt"
        )
    return tag


def checkpoint_tags(ckpt_dir: Path) -> list[str]:
    """Complete or partial checkpoint directories, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p.name for p in ckpt_dir.iterdir() if p.is_dir() and TAG_RE.match(p.name))


def _write_failure(path: Path, e: BaseException) -> CheckpointError:
    """A one-line error for a failed checkpoint write; a full disk is named as such (torch
    reports it as e.g. ``unexpected pos 128 vs 0``, with no errno)."""
    try:
        free = shutil.disk_usage(path if path.exists() else path.parent).free
    except OSError:
        free = None
    full = getattr(e, "errno", None) == errno.ENOSPC or (
        free is not None and free < LOW_SPACE_BYTES
    )
    if full:
        return CheckpointError(
            f"{path}: no space left on device ({(free or 0) >> 20} MiB free) while saving a "
            f"checkpoint ({type(e).__name__}: {e}); free space or lower --keep-last, then resume "
            "with --resume auto (it falls back to the last complete checkpoint)"
        )
    return CheckpointError(f"{path}: checkpoint write failed ({type(e).__name__}: {e})")


def save(
    engine: Any, ckpt_dir: Path, step: int, client_state: dict[str, Any], rank: int, keep_last: int
) -> str:
    """Collective: every rank must call it. Returns the tag written."""
    dist = torch.distributed
    tag = tag_for(step)
    try:
        (ckpt_dir / tag).mkdir(parents=True, exist_ok=True)
        torch.save(rng_state(), ckpt_dir / tag / f"dnapt_rank{rank}.pt")
        engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client_state, save_latest=False)
    except (OSError, RuntimeError) as e:
        raise _write_failure(ckpt_dir / tag, e) from None
    dist.barrier()
    if rank == 0:
        tmp = ckpt_dir / "latest.tmp"
        try:
            tmp.write_text(tag)
            os.replace(tmp, ckpt_dir / "latest")
        except OSError as e:
            raise _write_failure(tmp, e) from None
        tags = checkpoint_tags(ckpt_dir)
        # Tags newer than this step belong to an abandoned timeline (a resume fell back past a
        # corrupt checkpoint, or rewound on purpose): they would otherwise outlive good ones.
        stale = [t for t in tags if step_of(t) > step]
        kept = [t for t in tags if step_of(t) <= step]
        for old in stale + kept[:-keep_last]:
            if old != tag:
                shutil.rmtree(ckpt_dir / old, ignore_errors=True)
    dist.barrier()
    return tag


def load(engine: Any, ckpt_dir: Path, tag: str, rank: int) -> dict[str, Any]:
    """Restore engine, optimizer, scheduler and this rank's RNGs; returns the client state.

    Every file is read with ``weights_only`` loads (``restricted_loads``).
    """
    rank_file = ckpt_dir / tag / f"dnapt_rank{rank}.pt"
    if not rank_file.is_file():
        raise CheckpointError(
            f"{ckpt_dir / tag}: no state for rank {rank}: resume with the number of ranks that "
            "wrote the checkpoint"
        )
    with restricted_loads():
        path, client = engine.load_checkpoint(
            str(ckpt_dir), tag=tag, load_optimizer_states=True, load_lr_scheduler_states=True
        )
        if path is None:
            raise CheckpointError(f"{ckpt_dir / tag}: DeepSpeed could not load this checkpoint")
        set_rng_state(torch.load(rank_file))
    return client
