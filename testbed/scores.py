"""The scores of a results folder: each cell's share of an ``eval/run.py`` report, stored apart.

One ``eval/run.py`` call scores a batch of checkpoints; its report is split into
``eval/<eval key>/cells/<id>.json`` per cell (with the stamp of the training it scored, so a
retrained cell is scored again) and ``tasks.json`` for the task-level information, so later
batches add cells without rescoring the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testbed.layout import TestbedError
from testbed.plan import Cell


def scored_stamp(folder: Path, cell: Cell) -> Any:
    """The training stamp a cell's stored score was made from (None when there is none)."""
    path = folder / "cells" / f"{cell.id}.json"
    return json.loads(path.read_text()).get("trained", "unscored") if path.is_file() else "unscored"


def split_report(
    report_path: Path, cells: list[Cell], folder: Path, stamps: dict[str, Any]
) -> None:
    """Store each cell's share of an eval report as ``folder/cells/<id>.json`` (with the stamp of
    the training it scored) and the task-level information as ``folder/tasks.json``."""
    from eval.contracts import ContractError, Report

    if not report_path.is_file():
        raise TestbedError(f"eval wrote no {report_path}")
    try:
        report = Report.read(report_path)
    except ContractError as e:
        raise TestbedError(str(e)) from None
    tasks = {task_id: t.facts() for task_id, t in report.tasks.items()}
    meta = {k: v for k, v in report.to_json().items() if k not in ("tasks", "checkpoints", "run")}
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    (folder / "tasks.json").write_text(
        json.dumps({"report": meta, "tasks": tasks}, indent=2) + "\n"
    )
    for cell in cells:
        per_task = {}
        for task_id, t in report.tasks.items():
            if cell.id not in t.models:
                raise TestbedError(
                    f"{report_path}: task {task_id} has no model '{cell.id}' (eval/run.py names "
                    "a checkpoint RUN/hf after its run directory)"
                )
            m = t.models[cell.id]
            per_task[task_id] = {
                "pretrained": m["pretrained"],
                "scratch": m["scratch"],
                "truncated": m.get("truncated"),
                "comparison": t.comparisons[cell.id],
            }
        record = {
            "key": cell.key,
            "trained": stamps[cell.id],
            "report": str(report_path),
            "tasks": per_task,
        }
        (folder / "cells" / f"{cell.id}.json").write_text(json.dumps(record, indent=2) + "\n")
