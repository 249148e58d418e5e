"""Running one stage as a child process: environment, CPU threads, logged output."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from testbed.commands import on_gpu
from testbed.recipe import ROOT, Recipe

LOG_TAIL = 15  # lines of a failed step's log shown in its error


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra or {})
    return env


def stage_env(recipe: Recipe) -> dict[str, str]:
    """Per-process CPU threads for every stage, when the recipe sets them and there is no GPU.

    Measured on a busy 2-core machine: a bert-tiny forward pass took 0.07 s with one thread and
    0.43 s with two (threads spin-waiting on cores other processes hold)."""
    threads = recipe.launcher.cpu_threads
    if threads is None or on_gpu():
        return {}
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_logged(
    cmd: list[str], log: Path, verbose: bool, env: dict[str, str] | None = None
) -> tuple[int, float, list[str]]:
    """Run ``cmd`` from the repository root with its output in ``log`` (and on the console when
    verbose); returns (exit code, seconds, last lines of output)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=LOG_TAIL)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=child_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            tail.append(line.rstrip())
            if verbose:
                sys.stdout.write(line)
        rc = proc.wait()
    return rc, time.perf_counter() - t0, list(tail)
