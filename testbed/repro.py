"""The reproducibility record of a testbed run: code, data, configs, software and hardware.

A table of numbers is only worth what one can rebuild it from. Everything here is read, never
changed: the git commit (and whether the tree had uncommitted changes), the exact data manifest,
the installed package versions and the machine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "dnapt",
    "torch",
    "deepspeed",
    "transformers",
    "tokenizers",
    "accelerate",
    "mosaicml-streaming",
    "numpy",
    "scikit-learn",
    "safetensors",
)


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(root: Path) -> dict[str, Any]:
    """HEAD commit and whether tracked files differ from it (untracked files are ignored)."""
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _gpus() -> list[str]:
    """GPU names from nvidia-smi (no torch import, so the record is cheap to take)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def hardware() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
    }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_record(shards: Path) -> dict[str, Any]:
    """sha256 of manifest.json itself, of every source file and of every tokenizer."""
    from data_prep.manifest import Manifest

    path = shards / "manifest.json"
    manifest = Manifest.read(path, require_digest=False)
    return {
        "shards": str(shards),
        "manifest_sha256": sha256_bytes(path.read_bytes()),
        "sources": [{"input": s.input, "sha256": s.sha256} for s in manifest.sources],
        "tokenizers_sha256": {n: v.tokenizer_sha256 for n, v in manifest.vocabs.items()},
        "params": manifest.params.to_json(),
    }
