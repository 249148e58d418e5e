"""Rank 0's metric sinks: ``RUN/metrics.jsonl``, TensorBoard and a rich progress line.

Every line is one ``trainer.run_record`` record (``TrainRecord`` or ``ValRecord``: ``kind``,
``step``, ``time`` in seconds since the epoch, the logged figures). On resume the records after the
checkpoint's step are dropped (the killed run wrote them, the resumed run rewrites them), so the
file reads as one run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from trainer.run_record import METRICS_FILE, RunRecordError, parse_record, record


def truncate_after(path: Path, step: int) -> None:
    """Drop records with ``step`` > ``step`` (the resumed run will write them again)."""
    if not path.is_file():
        return
    kept = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = parse_record(line, f"{path} line {i}")
        except (json.JSONDecodeError, RunRecordError):
            continue  # a line cut short by the kill
        if rec.step <= step:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept))


class MetricsWriter:
    """Writes metrics on rank 0; constructed only there."""

    def __init__(self, run_dir: Path, max_steps: int, start_step: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / METRICS_FILE
        truncate_after(self.path, start_step)
        self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1)
        self.console = Console(stderr=True, soft_wrap=True)
        self._live = self.console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self._live,
        )
        self._task = self._progress.add_task("", total=max_steps, completed=start_step)
        self._progress.start()

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        rec = record(kind, step, round(time.time(), 3), values)
        with open(self.path, "a") as f:  # one append per record: a kill loses at most one line
            f.write(json.dumps(rec.to_json()) + "\n")
        for key, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(f"{kind}/{key}", value, step)
        line = _summary(kind, step, values)
        if kind == "train":
            self._progress.update(self._task, completed=step, description=line)
        if not self._live or kind != "train":
            self.console.print(f"[{kind}] step {step}: {line}", highlight=False)

    def close(self) -> None:
        self._progress.stop()
        self._tb.close()


def _summary(kind: str, step: int, v: dict[str, Any]) -> str:
    if kind == "train":
        return (
            f"loss {v['loss']:.4f} acc {v['accuracy']:.3f} lr {v['lr']:.2e} "
            f"{v['tokens_per_s']:,.0f} tok/s"
        )
    parts = [f"{k} {val:.4f}" for k, val in v.items() if isinstance(val, float)]
    return " ".join(parts)
