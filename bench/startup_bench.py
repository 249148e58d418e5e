"""Start-up cost of every command line: ``--help`` wall time and the modules it imports, for this
tree and optionally an older git revision, measured alternately in the same run.

    python bench/startup_bench.py [--before GIT_REF] [--repeats 5]

One JSON line per command: the median wall seconds of ``python CMD --help`` (a fresh interpreter
each time, so it includes Python's own start), the heavy libraries it imported (torch,
transformers, streaming, deepspeed, sklearn, scipy, matplotlib, accelerate), and with
``--before`` the same for that revision. Trials alternate between the trees so load changes on a
shared machine hit both alike. Then one line per heavy library with its own import time
(``-X importtime``, cumulative), the price a command pays when it does import it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dnapt.cli import command_parser, option, parse_config

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "torch", "transformers", "streaming", "deepspeed", "sklearn", "scipy", "matplotlib",
    "accelerate",
)  # fmt: skip
COMMANDS = [
    ["data_prep/shard.py", "--help"],
    ["data_prep/analyze_vocab.py", "--help"],
    ["trainer/run.py", "--help"],
    ["trainer/launch.py", "--help"],
    ["eval/run.py", "--help"],
    ["eval/audit.py", "--help"],
    ["-m", "testbed", "--help"],
]


def _run(root: Path, argv: list[str]) -> tuple[float, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=root, env=env, capture_output=True
    )
    wall = time.perf_counter() - t0
    names = {
        line.rsplit(b"|", 1)[1].strip().split(b".")[0].decode()
        for line in proc.stderr.splitlines()
        if line.startswith(b"import time:") and b"|" in line
    }
    return wall, names & set(HEAVY)


def _import_seconds(module: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True
    )
    for line in reversed(proc.stderr.splitlines()):
        parts = line.split(b"|")
        if len(parts) == 3 and parts[2].strip() == module.encode():
            return int(parts[1]) / 1e6
    return float("nan")


@dataclass(frozen=True)
class StartupBenchConfig:
    """``python bench/startup_bench.py``'s arguments."""

    before: str | None = option(None, help="also measure this git revision (e.g. a commit hash)")
    repeats: int = option(5, help="trials per command and tree (%(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The startup_bench CLI, generated from ``StartupBenchConfig``."""
    return command_parser(
        StartupBenchConfig, description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )


def main(argv: list[str] | None = None) -> int:
    a = parse_config(StartupBenchConfig, build_parser(), argv)
    if a is None:
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after": ROOT}
        if a.before:
            archive = subprocess.run(
                ["git", "archive", a.before], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            trees["before"] = Path(tmp)
        for cmd in COMMANDS:
            walls: dict[str, list[float]] = {k: [] for k in trees}
            heavy: dict[str, set[str]] = {k: set() for k in trees}
            for _ in range(a.repeats):
                for name, root in trees.items():
                    wall, names = _run(root, cmd)
                    walls[name].append(wall)
                    heavy[name] |= names
            row: dict = {"bench": "startup", "command": " ".join(cmd)}
            for name in trees:
                row[f"{name}_help_s"] = round(statistics.median(walls[name]), 3)
                row[f"{name}_heavy_imports"] = sorted(heavy[name])
            row["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(json.dumps(row), flush=True)
    for module in HEAVY:
        print(json.dumps({"bench": "import", "module": module, "seconds": _import_seconds(module)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
