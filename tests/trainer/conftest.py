"""Trainer test fixtures: the real E. coli genome sharded once per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainer.runs import ROOT, env


@pytest.fixture(scope="session")
def ecoli_char(tmp_path_factory: pytest.TempPathFactory, ecoli_fasta: Path) -> Path:
    """The whole real E. coli genome sharded by the real CLI: one vocabulary, 128-base windows."""
    out = tmp_path_factory.mktemp("ecoli_full") / "shards"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "data_prep" / "shard.py"),
            "--fasta",
            str(ecoli_fasta),
            "--out",
            str(out),
            "--vocab",
            "char",
            "--window",
            "128",
            "--stride",
            "128",
            "--no-progress",
        ],
        cwd=ROOT,
        env=env(),
        check=True,
        capture_output=True,
    )
    return out / "char"
