"""Checkpoint bookkeeping: tags, the latest pointer and RNG capture."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from trainer.checkpoint import checkpoint_tags, latest_tag, rng_state, set_rng_state, tag_for


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
