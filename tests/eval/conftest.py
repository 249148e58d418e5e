"""Eval fixtures: a tiny dnapt-style checkpoint (session-wide) and the shared benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalkit import make_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("tinyrun") / "hf")


@pytest.fixture(scope="session")
def benchmark_dir(data_mirror: Path) -> Path:
    return data_mirror / "benchmark"
