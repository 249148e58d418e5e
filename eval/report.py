"""Write a scoring report: report.json (``eval.contracts.Report``; schema in docs/evaluation.md),
report.md, report.csv, a PNG bar chart, and the console table.

Every number of a task without a train split carries the mark † ("trained on dev, no model
selection"), in every format, so it cannot be quoted without its caveat.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from dnapt.markdown import md_table
from eval.contracts import Report, TaskScores

DAGGER = "†"
BASELINES = ("majority", "gc_length_lr", "kmer_lr", "cnn")
SHORT = {
    "pretraining beats from-scratch": "beats",
    "from-scratch beats pretraining": "worse",
    "no significant difference": "n.s.",
}


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _mark(task: TaskScores) -> str:
    return DAGGER if task.dev_trained else ""


def _rows(tasks: dict[str, TaskScores]) -> list[dict]:
    """Flat rows (one per task × model/baseline), shared by the CSV and the Markdown tables."""
    rows = []
    for task_id, t in tasks.items():
        common = {
            "task": task_id,
            "train_split": t.train_split,
            "model_selection": t.selection_split or "none",
            "note": t.note,
            "audit_verdict": t.audit_verdict,
        }
        for name, b in t.baselines.items():
            rows.append(
                {
                    **common,
                    "model": name,
                    "init": "baseline",
                    "mcc_mean": b["mcc"],
                    "mcc_sd": None,
                    "mcc_ci_lo": b["mcc_ci95"][0],
                    "mcc_ci_hi": b["mcc_ci95"][1],
                    "accuracy_mean": b["accuracy"],
                    "macro_f1_mean": b["macro_f1"],
                    "auroc_mean": b["auroc"],
                    "truncated_test_rows": None,
                    "vs_scratch": None,
                }
            )
        for name, m in t.models.items():
            for init in ("pretrained", "scratch"):
                s = m[init]
                rows.append(
                    {
                        **common,
                        "model": name,
                        "init": init,
                        "mcc_mean": s["mean"]["mcc"],
                        "mcc_sd": s["sd"]["mcc"],
                        "mcc_ci_lo": s["mcc_ci95"][0],
                        "mcc_ci_hi": s["mcc_ci95"][1],
                        "accuracy_mean": s["mean"]["accuracy"],
                        "macro_f1_mean": s["mean"]["macro_f1"],
                        "auroc_mean": s["mean"]["auroc"],
                        "truncated_test_rows": m["truncated"]["test"],
                        "vs_scratch": t.comparisons[name]["verdict"]
                        if init == "pretrained"
                        else None,
                    }
                )
    return rows


def write_csv(report: Report, path: Path) -> None:
    rows = _rows(report.tasks)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def render_markdown(report: Report) -> str:
    ckpts = [
        f"`{c.name}` ({c.path}, vocab {c.vocab or 'external'}, max {c.max_length} tokens)"
        for c in report.checkpoints
    ]
    lines = [
        f"# dnapt evaluation report ({report.protocol})",
        "",
        f"- checkpoints: {', '.join(ckpts)}",
        f"- seeds: {report.seeds}; protocol settings: `{json.dumps(report.protocol_config)}`",
        f"- length policy: {report.length_policy['description']}",
        f"- IUPAC policy: `{report.iupac_policy}`; benchmark: `{report.benchmark['path']}` "
        f"(tasks: `{report.benchmark['tasks']}`)",
        f"- MCC is mean ± sd over seeds; [lo, hi] is the bootstrap 95% CI of the seed-mean MCC on "
        f"test ({report.n_boot} resamples). {DAGGER} = no train split: trained on dev, no "
        "model selection.",
        "",
    ]
    for task_id, t in report.tasks.items():
        mark = _mark(t)
        lines += [f"## {task_id}{mark}", ""]
        notes = [
            f"audit verdict: **{t.audit_verdict}**",
            f"test n = {t.n['test']}",
            f"trained on `{t.train_split}`",
        ]
        if t.test_rows_excluded:
            notes.append(f"{t.test_rows_excluded} leaked test rows removed by the audit")
        for split, changed in t.rows_changed.items():
            notes += [
                f"{split}: {n} {k.replace('_rows', '')} rows changed"
                for k, n in changed.items()
                if n
            ]
        if t.note:
            notes.append(t.note)
        lines += ["; ".join(notes), ""]
        header = ("model", "init", "MCC", "95% CI", "accuracy", "macro-F1", "AUROC")
        rows = []
        for r in _rows({task_id: t}):
            sd = "" if r["mcc_sd"] is None else f" ± {_f(r['mcc_sd'])}"
            truncated = r["truncated_test_rows"]
            rows.append(
                [
                    r["model"],
                    r["init"],
                    f"{_f(r['mcc_mean'])}{sd}{mark}",
                    f"[{_f(r['mcc_ci_lo'])}, {_f(r['mcc_ci_hi'])}]{mark}",
                    f"{_f(r['accuracy_mean'])}{mark}",
                    f"{_f(r['macro_f1_mean'])}{mark}",
                    f"{_f(r['auroc_mean'])}{mark}",
                    "-" if truncated is None else truncated,
                ]
            )
        lines += md_table((*header, "truncated (test)"), rows)
        lines.append("")
        for name, c in t.comparisons.items():
            lines.append(f"- `{name}`: {c['statement']}{mark}")
        lines.append("")
    return "\n".join(lines)


def plot(report: Report, path: Path) -> None:
    """Grouped bars: each task, each checkpoint (pretrained / from scratch) and the k-mer and
    GC+length baselines; error bars are the bootstrap 95% CIs of MCC."""
    import matplotlib

    matplotlib.use("Agg")  # files only; and it costs ~1 s to import, so only here
    import matplotlib.pyplot as plt

    tasks = list(report.tasks)
    series: list[tuple[str, list[float], list[list[float]]]] = []
    for c in report.checkpoints:
        for init in ("pretrained", "scratch"):
            vals = [report.tasks[t].models[c.name][init] for t in tasks]
            series.append(
                (
                    f"{c.name} {init}",
                    [v["mean"]["mcc"] for v in vals],
                    [v["mcc_ci95"] for v in vals],
                )
            )
    for name in ("cnn", "kmer_lr", "gc_length_lr"):
        if not all(name in report.tasks[t].baselines for t in tasks):
            continue
        vals = [report.tasks[t].baselines[name] for t in tasks]
        series.append((name, [v["mcc"] for v in vals], [v["mcc_ci95"] for v in vals]))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(tasks) * len(series) * 0.35 + 2), 4.5))
    for i, (label, heights, cis) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(tasks))]
        err = [
            [h - lo for h, (lo, _) in zip(heights, cis, strict=True)],
            [hi - h for h, (_, hi) in zip(heights, cis, strict=True)],
        ]
        ax.bar(xs, heights, width, yerr=err, capsize=2, label=label)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(
        [t + _mark(report.tasks[t]) for t in tasks], rotation=45, ha="right", fontsize=8
    )
    ax.set_ylabel("test MCC (95% bootstrap CI)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_title(f"dnapt eval ({report.protocol}, {len(report.seeds)} seeds)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def wide_console() -> Console:
    """stdout console; 200 columns when not a terminal (logs, CI) so tables do not wrap."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def print_table(report: Report, console: Console) -> None:
    table = Table(title=f"dnapt eval: {report.protocol}, seeds {report.seeds} (MCC, mean ± sd)")
    table.add_column("task", overflow="fold")
    table.add_column("audit")
    table.add_column("k-mer LR")
    table.add_column("GC+len LR")
    table.add_column("CNN")
    for c in report.checkpoints:
        table.add_column(c.name)
        table.add_column("scratch")
        table.add_column("vs scratch")
    for task_id, t in report.tasks.items():
        mark = _mark(t)
        cells = [
            task_id + mark,
            t.audit_verdict,
            _f(t.baselines["kmer_lr"]["mcc"]),
            _f(t.baselines["gc_length_lr"]["mcc"]),
            _f(t.baselines.get("cnn", {}).get("mcc")),
        ]
        for c in report.checkpoints:
            m = t.models[c.name]
            cells += [
                f"{_f(m['pretrained']['mean']['mcc'])} ± {_f(m['pretrained']['sd']['mcc'], 2)}",
                f"{_f(m['scratch']['mean']['mcc'])} ± {_f(m['scratch']['sd']['mcc'], 2)}",
                SHORT[t.comparisons[c.name]["verdict"]],
            ]
        table.add_row(*cells)
    console.print(table)
    console.print(f"{DAGGER} no train split: trained on dev, no model selection")


def write_report(report: Report, out: Path) -> list[Path]:
    """All report files under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "report.csv", out / "report.png"]
    report.write(paths[0])
    paths[1].write_text(render_markdown(report))
    write_csv(report, paths[2])
    plot(report, paths[3])
    return paths
