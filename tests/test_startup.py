"""Every CLI answers ``--help`` and an argument error without loading a heavy library.

Cross-stage (one check per command line), hence at the top of tests/. Measured as the modules
actually imported (``python -X importtime``), not as seconds: timing a shared CI machine would be
flaky, while an import of torch or transformers on these paths is a regression in any load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "torch", "transformers", "streaming", "deepspeed", "sklearn", "scipy", "matplotlib",
    "accelerate", "datasketch", "torchvision",
)  # fmt: skip

COMMANDS = [
    ["data_prep/shard.py", "--help"],
    ["data_prep/shard.py", "verify", "--help"],
    ["data_prep/shard.py", "--out", "x", "--window", "3"],
    ["data_prep/analyze_vocab.py", "--help"],
    ["trainer/run.py", "--help"],
    ["trainer/run.py", "--ds_config", "x", "--data", "y", "--out", "z", "--max-steps", "-1"],
    ["trainer/launch.py", "--help"],
    ["eval/run.py", "--help"],
    ["eval/audit.py", "--help"],
    ["-m", "testbed", "--help"],
]


def _imported(argv: list[str]) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc.returncode, names


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a))
def test_help_and_argument_errors_load_no_heavy_library(argv: list[str]) -> None:
    rc, names = _imported(argv)
    assert rc in (0, 2), f"{argv}: exit {rc}"
    assert not names & set(HEAVY), f"{' '.join(argv)} imports {sorted(names & set(HEAVY))}"


@pytest.mark.parametrize("command", ["dnapt-shard", "dnapt-train", "dnapt-eval", "dnapt-testbed"])
def test_installed_commands_answer_help(command: str) -> None:
    """The console scripts of ``[project.scripts]`` run the same CLIs as the script paths."""
    exe = Path(sys.executable).parent / command
    assert exe.is_file(), f"{exe} missing: re-run `bash launch.sh setup`"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
