"""Audit benchmark tasks and write the curated benchmark.

    python eval/audit.py --benchmark DIR --out AUDIT_DIR [--dedup] [--tasks all|t1,t2] [thresholds]

Per task: exact and reverse-complement duplicates within and across splits, label conflicts,
MinHash near-duplicates between train and test, class balance, test size and the 95% CI width of
MCC, and the shortcut baselines on test. Each task gets keep / flag / drop with reasons from
configurable thresholds (docs/evaluation.md). Writes AUDIT_DIR/audit.json, audit.md and curated.json
(the default list: keep tasks and tasks flagged only for precision; the other flagged tasks under
"flagged", scored only when named; the thresholds and the sha256 of every file judged).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from dnapt.errors import print_error
from dnapt.markdown import md_table
from eval.baselines import run_baselines
from eval.benchmark import (
    BenchmarkError,
    discover_tasks,
    load_task,
    resolve_benchmark,
    select_tasks,
)
from eval.config import AuditConfig, parse_or_exit
from eval.contracts import AuditResult, CuratedList
from eval.dedup import exact_duplicates, label_conflicts, leaked_test_rows, near_duplicates
from eval.metrics import bootstrap_indices, bootstrap_mcc, percentile_ci
from eval.report import wide_console
from eval.verdict import AuditThresholds, in_default_list, judge

__all__ = ["AuditConfig", "audit_task", "main", "parse_args", "write_outputs"]


def baseline_summaries(task, cfg: AuditConfig) -> dict[str, dict]:
    """Shortcut baselines on test with the bootstrap 95% CI of their MCC.

    Shared with eval/run.py so a report's baselines are exactly the audit's.
    """
    classes = task.classes
    y = task.positions(task.test.labels)
    idx = bootstrap_indices(len(y), cfg.n_boot)
    out = {}
    for name, res in run_baselines(task, cfg.baselines).items():
        pred = task.positions(res.pred)
        ci = percentile_ci(bootstrap_mcc(y, pred[None], idx, len(classes)))
        out[name] = {**res.metrics, "mcc_ci95": list(ci), "params": res.params}
    return out


def audit_task(root: Path, task_id: str, cfg: AuditConfig) -> tuple[dict, list[int]]:
    """The audit record of one task and the test rows its repair removes (empty unless --dedup)."""
    t0 = time.perf_counter()
    task = load_task(root, task_id, cfg.iupac)
    leaked = leaked_test_rows(task)
    removed = leaked if cfg.dedup and len(leaked) else np.array([], dtype=np.int64)
    scored = task.with_test_rows_removed(removed) if len(removed) else task
    baselines = baseline_summaries(scored, cfg)
    test_counts = np.array([(scored.test.labels == c).sum() for c in task.classes])
    record = {
        "task": task_id,
        "splits": {
            name: {
                "n": len(s),
                "classes": {str(c): int((s.labels == c).sum()) for c in task.classes},
                "sha256": s.sha256,
                "iupac_rows": s.iupac_rows,
                "lowercase_rows": s.lowercase_rows,
                "stripped_rows": s.stripped_rows,
            }
            for name, s in task.splits.items()
        },
        "train_split": task.train_split,
        "selection_split": task.selection_split,
        "protocol_note": task.protocol_note,
        "total_rows": sum(len(s) for s in task.splits.values()),
        "duplicates": exact_duplicates(task),
        "label_conflicts": label_conflicts(task),
        "leak": {"test_rows": len(leaked), "frac": len(leaked) / len(task.test)},
        "repair": {"applied": bool(len(removed)), "removed_test_rows": len(removed)},
        "near_duplicates": near_duplicates(
            scored.train.sequences, scored.test.sequences, cfg.near_dup
        ),
        "class_balance": {"test_minority_frac": float(test_counts.min() / test_counts.sum())},
        "test_size": len(scored.test),
        "mcc_ci95_width": float(np.diff(baselines["kmer_lr"]["mcc_ci95"])[0]),
        "baselines": baselines,
    }
    record["saturated"] = baselines["kmer_lr"]["mcc"] >= cfg.thresholds.saturation_mcc
    record["verdict"], record["reasons"] = judge(record, cfg.thresholds)
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return record, removed.tolist()


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _row(r: dict) -> list[str]:
    b = r["baselines"]
    n = r["splits"][r["train_split"]]["n"]
    return [
        r["task"],
        f"{n}{'' if r['train_split'] == 'train' else ' (dev)'}",
        str(r["test_size"]),
        f"{r['leak']['test_rows']}{' repaired' if r['repair']['applied'] else ''}",
        f"{r['near_duplicates']['test_frac']:.1%}",
        str(r["label_conflicts"]["sequences"]),
        f"{r['class_balance']['test_minority_frac']:.2f}",
        _fmt(b["gc_length_lr"]["mcc"]),
        f"{_fmt(b['kmer_lr']['mcc'])} (k={b['kmer_lr']['params']['k']})",
        _fmt(b["kmer_lr"]["auroc"]),
        f"{r['mcc_ci95_width']:.2f}",
        r["verdict"],
        ", ".join(x["check"] for x in r["reasons"]),
    ]


HEADER = [
    "task",
    "train n",
    "test n",
    "leak",
    "near-dup",
    "conflicts",
    "minority",
    "GC+len MCC",
    "k-mer MCC",
    "k-mer AUROC",
    "CI width",
    "verdict",
    "reasons",
]


def render_markdown(records: list[dict], cfg: AuditConfig, root: Path) -> str:
    lines = [
        "# Benchmark audit",
        "",
        f"Benchmark: `{root}`. IUPAC policy: `{cfg.iupac}`. Dedup repair: `{cfg.dedup}`.",
        "",
        *md_table(HEADER, [_row(r) for r in records]),
    ]
    lines += ["", "## Reasons", ""]
    for r in records:
        lines.append(f"- **{r['task']}** → `{r['verdict']}`")
        lines += [f"  - {x['severity']}: {x['message']}" for x in r["reasons"]]
    lines += ["", "## Thresholds", ""]
    helps = AuditThresholds.help()
    lines += [f"- `{k}` = {v}: {helps[k]}" for k, v in asdict(cfg.thresholds).items()]
    nd = cfg.near_dup
    lines.append(
        f"- near-duplicates: canonical {nd.k}-mer Jaccard >= {nd.threshold} (MinHash, {nd.num_perm} perms, confirmed exactly)"
    )
    return "\n".join(lines) + "\n"


CONSOLE_COLUMNS = [h for h in HEADER if h not in ("minority", "k-mer AUROC")]


def print_table(records: list[dict], console: Console) -> None:
    """The audit table on the console (audit.md has every column)."""
    colors = {"keep": "green", "flag": "yellow", "drop": "red"}
    table = Table(title="dnapt benchmark audit", show_lines=False)
    keep = [HEADER.index(h) for h in CONSOLE_COLUMNS]
    for h in CONSOLE_COLUMNS:
        table.add_column(h, overflow="fold")
    for r in records:
        cells = _row(r)
        cells[HEADER.index("verdict")] = f"[{colors[r['verdict']]}]{r['verdict']}[/]"
        table.add_row(*[cells[i] for i in keep])
    console.print(table)


def write_outputs(
    out: Path,
    records: list[dict],
    removed: dict,
    cfg: AuditConfig,
    root: Path,
    named: bool = False,
) -> None:
    """audit.json (everything measured), audit.md (for people), curated.json (for eval/run.py).

    curated.json's ``tasks``: by default the keep tasks and those flagged only for precision
    (verdict.in_default_list); when the tasks were ``named`` (``--tasks t1,t2``) they were asked
    for explicitly, so every task but the dropped ones. Verdicts travel with the list either way.
    """

    def chosen(r: dict) -> bool:
        if named:
            return r["verdict"] != "drop"
        return in_default_list(r["verdict"], r["reasons"])

    out.mkdir(parents=True, exist_ok=True)
    config = cfg.settings()
    AuditResult(str(root), config, tuple(records)).write(out / "audit.json")
    (out / "audit.md").write_text(render_markdown(records, cfg, root))
    CuratedList(
        benchmark=str(root),
        tasks=tuple(r["task"] for r in records if chosen(r)),
        flagged=tuple(r["task"] for r in records if r["verdict"] == "flag" and not chosen(r)),
        verdicts={r["task"]: r["verdict"] for r in records},
        reasons={r["task"]: [x["message"] for x in r["reasons"]] for r in records},
        config=config,
        sha256={r["task"]: {s: v["sha256"] for s, v in r["splits"].items()} for r in records},
        exclude_test_rows={t: rows for t, rows in removed.items() if rows},
    ).write(out / "curated.json")


def parse_args(argv: list[str] | None = None) -> AuditConfig:
    """The audit's typed config (argument and range errors: one line, exit 2)."""
    return parse_or_exit(
        AuditConfig,
        "eval/audit.py",
        "Audit benchmark tasks (leaks, duplicates, shortcuts, saturation, test size) and write "
        "AUDIT_DIR/{audit.json,audit.md,curated.json}.",
        argv,
    )


class _Serial:
    """In-process stand-in for a process pool (``--jobs 1``): same ``map``, no fork."""

    map = staticmethod(map)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(stderr=True)
    try:
        root = resolve_benchmark(cfg.benchmark)
        ids = discover_tasks(root) if cfg.tasks == "all" else select_tasks(cfg.tasks, root).task_ids
        t0 = time.perf_counter()
        args_ = ([root] * len(ids), ids, [cfg] * len(ids))
        pool = ProcessPoolExecutor(cfg.jobs) if cfg.jobs > 1 else None
        with console.status("auditing") as status:
            results = []
            for task_id, res in zip(ids, (pool or _Serial()).map(audit_task, *args_), strict=True):
                status.update(f"audited {task_id} ({len(results) + 1}/{len(ids)})")
                results.append(res)
        if pool:
            pool.shutdown()
    except BenchmarkError as e:
        print_error("eval/audit.py", e)
        return 2
    records = [r for r, _ in results]
    removed = {r["task"]: rows for r, rows in results}
    write_outputs(Path(cfg.out), records, removed, cfg, root, named=cfg.tasks != "all")
    print_table(records, wide_console())
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("keep", "flag", "drop")}
    console.print(
        f"{len(records)} tasks in {time.perf_counter() - t0:.0f}s: {counts}; wrote {cfg.out}/audit.json, audit.md, curated.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
