"""Helpers for trainer tests: launching real runs on free ports and reading their metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from trainer.run_record import METRICS_FILE, read_metrics

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(29500, 29600)  # the trainer tests' share of rendezvous ports


def free_port() -> int:
    """A port in the trainer's range that nothing listens on right now."""
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 29500-29599")


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(PYTHONPATH=str(ROOT), DS_ACCELERATOR="cpu", TOKENIZERS_PARALLELISM="false")
    e.update(extra)
    return e


def trainer_args(data: Path, out: Path, **opts: object) -> list[str]:
    """CI-sized trainer arguments: bert-tiny, 1 loader worker, short collective timeout."""
    base = {
        "ds_config": str(ROOT / "ds_configs" / "zero2.json"),
        "data": str(data),
        "out": str(out),
        "model": "bert-tiny",
        "max-steps": 8,
        "log-every": 1,
        "eval-every": 4,
        "save-every": 2,
        "eval-samples": 64,
        "num-workers": 1,
        "dist-timeout": 30,
    }
    base.update({k.replace("_", "-") if k != "ds_config" else k: v for k, v in opts.items()})
    args: list[str] = []
    for key, value in base.items():
        args += [f"--{key}", str(value)]
    return args


def launch_cmd(trainer: list[str], *launch: str) -> list[str]:
    return [sys.executable, "-m", "trainer.launch", *launch, "--", *trainer]


def start(cmd: list[str], log: Path, **env_extra: str) -> subprocess.Popen:
    """Start a launcher in its own session (so a test can kill the whole job)."""
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env(**env_extra),
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run(cmd: list[str], log: Path, timeout: float = 240, **env_extra: str) -> None:
    proc = start(cmd, log, **env_extra)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        raise
    assert rc == 0, f"{' '.join(cmd)} failed ({rc}):\n{log.read_text()[-4000:]}"


def metrics(run_dir: Path, kind: str = "train") -> list[dict]:
    recs = read_metrics(run_dir / METRICS_FILE)
    return [r.to_json() for r in (recs.train if kind == "train" else recs.val)]
