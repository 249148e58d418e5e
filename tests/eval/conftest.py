"""Eval fixtures: a tiny dnapt-style checkpoint (session-wide) and the shared benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.eval.evalkit import make_checkpoint


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """In-process runs use one intra-op thread, like each process of a 2-process launch.

    On a 2-core machine shared with other jobs, two OpenMP threads spin-wait and run 2-4x slower
    than one; results do not depend on the thread count (1 vs 2 processes are tested identical).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("tinyrun") / "hf")


@pytest.fixture(scope="session")
def benchmark_dir(data_mirror: Path) -> Path:
    return data_mirror / "benchmark"
