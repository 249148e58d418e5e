"""Gather a results folder into the testbed report's input: runs, scores, data, record.

Kept apart from the orchestration so that the report is a pure function of what is on disk:
a results folder produced by any earlier run (or by hand, in the tests) reports the same way.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Protocol

from data_prep.manifest import Manifest
from eval.contracts import CuratedList
from testbed.estimate import counts_from_manifest
from testbed.layout import CELL_MARKER, TIMING_FILE, Layout
from testbed.plan import Budget, Cell
from testbed.recipe import ROOT, Recipe
from testbed.report import RunResult, build_testbed, read_metrics
from testbed.repro import data_record, git_state, hardware, package_versions
from trainer.run_record import CONFIG_FILE, METRICS_FILE, ResolvedRun


class Testbed(Protocol):
    """What the report needs of a testbed run (``testbed.run.Testbed`` is one); a protocol, so
    this module reads results without importing the orchestrator that writes them."""

    recipe: Recipe
    layout: Layout
    budget: Budget
    cells: list[Cell]
    skipped: list[Any]
    timing: dict[str, dict[str, Any]]
    failures: list[str]
    command: str
    ds_config: dict[str, Any]

    def run_dir(self, cell: Cell) -> Path: ...

    def is_trained(self, cell: Cell) -> bool: ...

    def scores_dir(self, curated: Path) -> Path: ...


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def run_results(tb: Testbed, scores: Path | None) -> list[RunResult]:
    """One ``RunResult`` per planned cell, from its run directory and its score file."""
    out = []
    for cell in tb.cells:
        run = tb.run_dir(cell)
        log = tb.layout.logs / "train" / f"{cell.id}.node0.log"
        status = "ok" if tb.is_trained(cell) else "failed" if log.is_file() else "not trained"
        marker = _json(run / CELL_MARKER) or {}
        train, val = read_metrics(run / METRICS_FILE)
        score = _json(scores / "cells" / f"{cell.id}.json") if scores else None
        config = ResolvedRun.read(run / CONFIG_FILE) if (run / CONFIG_FILE).is_file() else None
        out.append(
            RunResult(
                id=cell.id,
                vocab=cell.vocab,
                masking=cell.masking.label,
                strategy=cell.masking.strategy,
                objective=cell.masking.objective,
                seed=cell.seed,
                key=cell.key,
                status=status,
                wall_s=marker.get("wall_s"),
                train=train,
                val=val,
                score=score["tasks"] if score and status == "ok" else None,
                ds_config=config.ds_config if config else None,
                log=str(log) if log.is_file() else None,
            )
        )
    return out


def _curated(path: Path) -> CuratedList | None:
    """The audit's curated list (``eval.contracts``), or None when the audit did not run."""
    return CuratedList.read(path) if path.is_file() else None


def eval_context(tb: Testbed, curated: Path, scores: Path | None) -> dict[str, Any]:
    e = tb.recipe.eval
    cur = _curated(curated)
    verdicts = dict(cur.verdicts) if cur else {}
    return {
        "protocol": e.protocol,
        "seeds": e.seeds,
        "requested_tasks": list(e.tasks) or "all",
        "curated_tasks": list(cur.tasks) if cur else [],
        "verdicts": verdicts,
        "dropped": [t for t, v in verdicts.items() if v == "drop"],
        "audit": str(tb.layout.audit),
        "scores": str(scores) if scores else None,
    }


def collect(tb: Testbed, curated: Path, total_s: float) -> dict[str, Any]:
    """The full testbed.json content of a finished (or partly failed) run."""
    recipe, b = tb.recipe, tb.budget
    scores = tb.scores_dir(curated) if curated.is_file() else None
    tasks_file = _json(scores / "tasks.json") if scores else None
    cur = _curated(curated)
    curated_ids = list(cur.tasks) if cur else []
    tasks = {t: v for t, v in (tasks_file or {}).get("tasks", {}).items() if t in curated_ids}
    manifest = Manifest.read(tb.layout.shards / "manifest.json", require_digest=False)
    counts = counts_from_manifest(manifest, tb.layout.shards)
    context = {
        "recipe": {
            "name": recipe.name,
            "description": recipe.description,
            "path": str(recipe.path),
            "sha256": hashlib.sha256(recipe.text.encode()).hexdigest(),
            "text": recipe.text,
            "model": recipe.model,
            "vocabs": list(recipe.vocabs),
            "masking": [
                {"label": m.label, "strategy": m.strategy, "objective": m.objective, **m.params}
                for m in recipe.masking
            ],
        },
        "budget": {
            "bases": b.bases,
            "window": b.window,
            "micro_batch": b.micro_batch,
            "grad_accum": b.grad_accum,
            "world_size": b.world_size,
            "global_batch": b.global_batch,
            "steps": b.steps,
            "bases_seen": b.bases_seen,
            "epochs": b.bases_seen / max(counts.bases["train"], 1),
        },
        "data": {
            "sources": list(recipe.corpus.sources),
            "shards": str(tb.layout.shards),
            "windows": counts.windows,
            "bases": counts.bases,
            "tokens": {n: v.tokens for n, v in counts.vocabs.items()},
            "vocab_report": str(tb.layout.vocab_report) if recipe.analysis else None,
        },
        "eval": eval_context(tb, curated, scores),
        "timing": {
            "total_s": round(total_s, 1),
            "steps": tb.timing,
            "last_executed_s": _json(tb.layout.out / TIMING_FILE) or {},
        },
        "failures": tb.failures,
        "reproducibility": {
            "command": tb.command,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git": git_state(ROOT),
            "packages": package_versions(),
            "hardware": hardware(),
            "data": data_record(tb.layout.shards),
            "ds_config_requested": tb.ds_config,
        },
    }
    skipped = [{"vocab": s.vocab, "masking": s.masking, "reason": s.reason} for s in tb.skipped]
    bases_per_step = b.global_batch * b.window
    return build_testbed(context, run_results(tb, scores), skipped, tasks, bases_per_step)
