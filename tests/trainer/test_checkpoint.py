"""Checkpoint bookkeeping: tags, the latest pointer and RNG capture."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.checkpoint import (
    CheckpointError,
    checkpoint_tags,
    latest_tag,
    problems,
    restricted_loads,
    rng_state,
    save,
    set_rng_state,
    tag_for,
)


def test_tags_sort_by_step(tmp_path: Path) -> None:
    for step in (10, 2, 100):
        (tmp_path / tag_for(step)).mkdir()
    (tmp_path / "zero_to_fp32.py").write_text("")
    assert checkpoint_tags(tmp_path) == ["step_00000002", "step_00000010", "step_00000100"]
    assert latest_tag(tmp_path) is None
    (tmp_path / "latest").write_text("step_00000010\n")
    assert latest_tag(tmp_path) == "step_00000010"


def test_rng_state_round_trip() -> None:
    state = rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == got[0] and expected[1] == got[1] and torch.equal(expected[2], got[2])


class _Payload:
    """Pickles to a call that creates ``marker``: what a crafted checkpoint would run on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_rng_state_loads_weights_only(tmp_path: Path) -> None:
    torch.save(rng_state(), tmp_path / "dnapt_rank0.pt")
    expected = (random.random(), np.random.randn(), torch.rand(3))
    set_rng_state(torch.load(tmp_path / "dnapt_rank0.pt", weights_only=True))
    got = (random.random(), np.random.randn(), torch.rand(3))
    assert expected[:2] == got[:2] and torch.equal(expected[2], got[2])


def test_crafted_checkpoint_cannot_run_code(tmp_path: Path) -> None:
    marker, plain_load = tmp_path / "pwned", torch.load
    torch.save({"module": _Payload(marker)}, tmp_path / "mp_rank_00_model_states.pt")
    with restricted_loads(), pytest.raises(CheckpointError, match="model_states.pt: refused"):
        # what DeepSpeed does inside engine.load_checkpoint / zero_to_fp32
        torch.load(tmp_path / "mp_rank_00_model_states.pt", weights_only=False)
    assert not marker.exists()
    assert torch.load is plain_load  # restored on the way out


def test_truncated_checkpoint_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"
    torch.save({"x": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    torch.save({}, tmp_path / "mp_rank_00_model_states.pt")
    assert "optim_states.pt is truncated" in (problems(tmp_path, 0) or "")
    with restricted_loads(), pytest.raises(CheckpointError, match=f"{path}: unreadable"):
        torch.load(path)


class _FullDiskEngine:
    def save_checkpoint(self, *args, **kwargs) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 128 vs 0")


def test_disk_full_at_save_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 0))
    with pytest.raises(CheckpointError, match="no space left on device .* lower --keep-last"):
        save(_FullDiskEngine(), tmp_path, 4, {}, rank=0, keep_last=2)
    assert latest_tag(tmp_path) is None  # the previous complete checkpoint stays the one resumed


def test_other_write_failures_are_not_called_disk_full(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint write failed") as e:
        save(_FullDiskEngine(), tmp_path, 4, {}, rank=0, keep_last=2)
    assert "no space" not in str(e.value)
