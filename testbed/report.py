"""The testbed report's content: testbed.json (everything), computed from a results folder.

``testbed.render`` turns it into testbed.md, the plots and the console table. It is built only from what the stages wrote (each run's ``metrics.jsonl`` and ``config.json``,
each cell's scores extracted from ``eval/run.py``'s ``report.json``), so a report can always be
regenerated from a results folder, and the tests build one from fake run outputs.

Definitions of the row figures (also in docs/testbed.md):

* final train loss: mean MLM loss of the last ``TAIL`` logged training intervals;
* leak_frac, hidden_base_frac, masked_token_frac: means over all logged training intervals;
* val BPHB: bits per hidden base of the last validation (fixed leak-free val masking);
* curated MCC: for each training seed and eval seed, the mean test MCC over the curated tasks;
  mean ± sd over those (train seed x eval seed) values. A frozen encoder's probe is deterministic,
  so under ``probe`` the sd reflects training seeds only;
* tokens/s: median over logged intervals (all ranks); wall time: the training command's
  wall-clock seconds (mean over seeds), start-up and export included.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.findings import build_findings
from trainer.run_record import TrainRecord, ValRecord
from trainer.run_record import read_metrics as read_run_metrics

SCHEMA_VERSION = 1


TAIL = 3


@dataclass
class RunResult:
    """One trained (or failed) cell run and, when scored, its per-task eval summaries."""

    id: str
    vocab: str
    masking: str
    strategy: str
    seed: int
    key: str
    status: str  # "ok", "failed" or "not trained"
    objective: str = "tokens"
    wall_s: float | None = None
    train: list[TrainRecord] = field(default_factory=list)
    val: list[ValRecord] = field(default_factory=list)
    score: dict[str, Any] | None = None
    ds_config: dict[str, Any] | None = None
    log: str | None = None


def read_metrics(path: Path) -> tuple[list[TrainRecord], list[ValRecord]]:
    """(train, val) records of a run's metrics.jsonl (missing file: both empty)."""
    metrics = read_run_metrics(path)
    return list(metrics.train), list(metrics.val)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _sd(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None)


def run_metrics(run: RunResult) -> dict[str, Any]:
    """The per-run figures of a row (see the module docstring for their definitions)."""
    t, v = run.train, run.val
    last_val = v[-1] if v else ValRecord(step=0)
    speeds = [r.tokens_per_s for r in t if r.tokens_per_s]
    return {
        "steps": t[-1].step if t else None,
        "final_train_loss": _mean([r.loss for r in t[-TAIL:]]),
        "masked_token_frac": _mean([r.masked_token_frac for r in t]),
        "hidden_base_frac": _mean([r.hidden_base_frac for r in t]),
        "leak_frac": _mean([r.leak_frac for r in t]),
        "val_bphb": last_val.val_bphb,
        "val_hidden_base_accuracy": last_val.val_hidden_base_accuracy,
        "val_loss": last_val.val_loss,
        "val_composition_bphb": last_val.val_composition_bphb,
        "val_bits_below_composition": last_val.val_bits_below_composition,
        "tokens_per_s": statistics.median(speeds) if speeds else None,
        "wall_s": run.wall_s,
    }


def seed_mccs(score: dict[str, Any], init: str) -> dict[int, float]:
    """Eval seed -> mean test MCC over the tasks of ``score`` (one cell run, one init)."""
    by_seed: dict[int, list[float]] = {}
    for task in score.values():
        for s in task[init]["per_seed"]:
            if s.get("mcc") is not None:
                by_seed.setdefault(int(s["seed"]), []).append(s["mcc"])
    return {seed: statistics.fmean(v) for seed, v in sorted(by_seed.items())}


def _task_detail(runs: list[RunResult], task: str) -> dict[str, Any]:
    pre, scr, verdicts, cis = [], [], {}, {}
    for r in runs:
        t = (r.score or {}).get(task)
        if t is None:
            continue
        pre += [s["mcc"] for s in t["pretrained"]["per_seed"]]
        scr += [s["mcc"] for s in t["scratch"]["per_seed"]]
        verdicts[r.id] = t["comparison"]["verdict"]
        cis[r.id] = t["pretrained"]["mcc_ci95"]
    return {
        "mcc_mean": _mean(pre),
        "mcc_sd": _sd(pre),
        "scratch_mcc_mean": _mean(scr),
        "scratch_mcc_sd": _sd(scr),
        "mcc_ci95": cis,
        "vs_scratch": verdicts,
    }


def build_rows(runs: list[RunResult], tasks: list[str]) -> list[dict[str, Any]]:
    """One row per vocabulary x masking (training seeds pooled), in matrix order."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        groups.setdefault((r.vocab, r.masking), []).append(r)
    rows = []
    for (vocab, masking), members in groups.items():
        ok = [r for r in members if r.status == "ok"]
        per_run = [run_metrics(r) for r in ok]
        scored = [r for r in ok if r.score]
        mcc = [m for r in scored for m in seed_mccs(r.score, "pretrained").values()]
        scratch = [m for r in scored for m in seed_mccs(r.score, "scratch").values()]
        row: dict[str, Any] = {
            "vocab": vocab,
            "masking": masking,
            "strategy": members[0].strategy,
            "objective": members[0].objective,
            "runs": [r.id for r in members],
            "seeds": [r.seed for r in members],
            "status": "ok" if len(ok) == len(members) else "failed",
            "scored": len(scored) == len(members),
        }
        for key in (
            "final_train_loss",
            "val_bphb",
            "val_loss",
            "val_composition_bphb",
            "val_bits_below_composition",
            "val_hidden_base_accuracy",
            "leak_frac",
            "hidden_base_frac",
            "masked_token_frac",
            "tokens_per_s",
            "wall_s",
        ):
            row[key] = _mean([m[key] for m in per_run])
        for key in ("val_bphb", "val_loss", "final_train_loss", "val_bits_below_composition"):
            row[f"{key}_sd"] = _sd([m[key] for m in per_run])
        row.update(
            mcc_mean=_mean(mcc),
            mcc_sd=_sd(mcc),
            mcc_n=len(mcc),
            scratch_mcc_mean=_mean(scratch),
            scratch_mcc_sd=_sd(scratch),
            tasks={t: _task_detail(scored, t) for t in tasks},
        )
        rows.append(row)
    return rows


def run_record(r: RunResult, bases_per_step: int) -> dict[str, Any]:
    """A run's entry in testbed.json: its figures and its curves in bases seen."""
    return {
        "id": r.id,
        "vocab": r.vocab,
        "masking": r.masking,
        "strategy": r.strategy,
        "objective": r.objective,
        "seed": r.seed,
        "key": r.key,
        "status": r.status,
        "log": r.log,
        **(run_metrics(r) if r.status == "ok" else {}),
        "train_curve": [[x.step, x.step * bases_per_step, x.loss] for x in r.train],
        "val_curve": [[x.step, x.step * bases_per_step, x.val_bphb] for x in r.val],
    }


def build_testbed(
    context: dict[str, Any],
    runs: list[RunResult],
    skipped: list[dict[str, str]],
    tasks: dict[str, Any],
    bases_per_step: int,
) -> dict[str, Any]:
    """testbed.json: ``context`` (recipe, budget, data, eval, reproducibility, timings) plus the
    rows, the runs with their curves, the skipped pairs and the per-task information."""
    task_ids = list(tasks)
    rows = build_rows(runs, task_ids)
    records = [run_record(r, bases_per_step) for r in runs]
    return {
        "schema_version": SCHEMA_VERSION,
        **context,
        "rows": rows,
        "findings": build_findings(records, rows),
        "runs": records,
        "skipped": skipped,
        "tasks": tasks,
        "resolved_ds_configs": {r.id: r.ds_config for r in runs if r.ds_config is not None},
    }
