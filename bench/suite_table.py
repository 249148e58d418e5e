"""The core suite's table: build it, audit it, train the CNN baseline on each task.

    OMP_NUM_THREADS=1 python bench/suite_table.py --out DIR

Prints a Markdown table (task, rows per split, GC+len AUROC, k-mer AUROC, CNN MCC, audit verdict)
and the build time; DIR gets bench/ (the tasks) and audit/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dnapt.cli import command_parser, option, parse_config
from dnapt.markdown import md_table
from eval.audit import main as audit_main
from eval.baselines import BaselineConfig, run_baselines
from eval.benchmark import load_task
from eval.contracts import AuditResult
from eval.make_task import main as make_main


@dataclass(frozen=True)
class SuiteTableConfig:
    """``python bench/suite_table.py``'s arguments."""

    out: Path = option(help="folder for the suite (bench/) and its audit (audit/)")


def build_parser() -> argparse.ArgumentParser:
    """The suite_table CLI, generated from ``SuiteTableConfig``."""
    return command_parser(SuiteTableConfig, description=__doc__.splitlines()[0])


def main(argv: list[str] | None = None) -> int:
    a = parse_config(SuiteTableConfig, build_parser(), argv)
    if a is None:
        return 2
    torch.set_num_threads(1)
    out = Path(a.out)
    t0 = time.perf_counter()
    assert make_main(["--suite", "core", "--out", str(out / "bench"), "--overwrite"]) == 0
    build_s = time.perf_counter() - t0
    assert audit_main(["--benchmark", str(out / "bench"), "--out", str(out / "audit")]) == 0
    audit = {r["task"]: r for r in AuditResult.read(out / "audit" / "audit.json").records}
    header = (
        "task",
        "rows train/dev/test",
        "GC+len AUROC",
        "k-mer AUROC",
        "CNN MCC",
        "audit verdict",
    )
    rows = []
    for task_id, rec in audit.items():
        info = json.loads((out / "bench" / task_id / "task.json").read_text())
        sc = info["shortcut"]
        counts = "/".join(str(sum(info["counts"][s].values())) for s in ("train", "dev", "test"))
        cnn = run_baselines(
            load_task(out / "bench", task_id), BaselineConfig(kmer_ks=(4,), cnn=True)
        )["cnn"]
        reasons = ", ".join(r["check"] for r in rec["reasons"] if r["severity"] != "info")
        verdict = rec["verdict"] + (f" ({reasons})" if reasons else "")
        rows.append(
            [
                task_id,
                counts,
                f"{sc['gc_length_lr_auroc']:.3f}",
                f"{sc['kmer_lr_auroc']:.3f} (k={sc['kmer_k']})",
                f"{cnn.metrics['mcc']:.3f}",
                verdict,
            ]
        )
    print("\n".join(md_table(header, rows)))
    print(f"suite build: {build_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
