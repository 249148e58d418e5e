"""The testbed report: testbed.json (everything), testbed.md (for people), two plots, a table.

It is built only from what the stages wrote (each run's ``metrics.jsonl`` and ``config.json``,
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

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.findings import build_findings, findings_markdown
from testbed.fmt import duration, md_table, num, pm
from trainer.run_record import TrainRecord, ValRecord
from trainer.run_record import read_metrics as read_run_metrics

SCHEMA_VERSION = 1
TAIL = 3
DAGGER = "†"


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


def _timing(tb: dict[str, Any]) -> str:
    """This invocation's time, and what each stage cost when it last executed."""
    t = tb["timing"]
    last = dict(t.get("last_executed_s", {}))
    last["training"] = sum(x.get("wall_s") or 0.0 for x in tb["runs"])
    stages = ", ".join(f"{k} {duration(v)}" for k, v in last.items() if k != "train")
    return f"this invocation {duration(t['total_s'])}; stages when last executed: {stages}"


TABLE_HEADER = (
    "vocab",
    "masking",
    "final train loss",
    "val loss",
    "val BPHB",
    "below composition",
    "leak_frac",
    "hidden_base_frac",
    "curated MCC",
    "scratch MCC",
    "tokens/s",
    "wall time",
)


def table_cells(row: dict[str, Any]) -> list[str]:
    """The row as the table's strings (shared by testbed.md and the console)."""
    return [
        row["vocab"],
        row["masking"] + ("" if row["status"] == "ok" else " (failed)"),
        pm(row["final_train_loss"], row.get("final_train_loss_sd"), 2),
        pm(row.get("val_loss"), row.get("val_loss_sd"), 2),
        pm(row["val_bphb"], row.get("val_bphb_sd"), 3),
        pm(row.get("val_bits_below_composition"), row.get("val_bits_below_composition_sd"), 3),
        num(row["leak_frac"]),
        num(row["hidden_base_frac"]),
        pm(row["mcc_mean"], row["mcc_sd"]),
        pm(row["scratch_mcc_mean"], row["scratch_mcc_sd"]),
        "-" if row["tokens_per_s"] is None else f"{row['tokens_per_s']:,.0f}",
        duration(row["wall_s"]),
    ]


def _task_mark(info: dict[str, Any]) -> str:
    return DAGGER if info.get("train_split") == "dev" else ""


def render_markdown(tb: dict[str, Any]) -> str:
    """testbed.md: the table, the skipped pairs, per-task detail, plots and the record."""
    r, b, e = tb["recipe"], tb["budget"], tb["eval"]
    lines = [f"# dnapt testbed: {r['name']}", ""]
    if r.get("description"):
        lines += [r["description"], ""]
    d = tb["data"]
    lines += [
        f"- recipe `{r['path']}` (sha256 `{r['sha256'][:12]}`), model `{r['model']}`, "
        f"{len(tb['runs'])} runs; git `{(tb['reproducibility']['git']['commit'] or '?')[:12]}`"
        + (" (uncommitted changes)" if tb["reproducibility"]["git"]["dirty"] else ""),
        f"- corpus {', '.join(d['sources'])}: {d['windows']['train']:,} train / "
        f"{d['windows']['val']:,} val windows of {b['window']} bases",
        f"- budget per run: {b['bases']:,} bases → {b['steps']:,} steps × {b['global_batch']} "
        f"windows × {b['window']} bases = {b['bases_seen']:,} bases seen "
        f"({b['epochs']:.2f} epochs of the train split)",
        f"- eval: `{e['protocol']}` protocol, {e['seeds']} seeds, {len(tb['tasks'])} curated tasks "
        f"(audit dropped: {', '.join(e.get('dropped', [])) or 'none'})",
        f"- wall time: {_timing(tb)}",
        "",
        "## Results",
        "",
    ]
    lines += md_table(TABLE_HEADER, [table_cells(row) for row in tb["rows"]])
    lines += [
        "",
        "Train loss, val loss, BPHB, below composition: mean ± sd over training seeds. Val loss "
        "is token cross-entropy under the fixed leak-free validation masking; below composition: "
        "bits per hidden base saved against the train split's base composition on the same "
        "hidden bases (> 0 means the model learned context; uniform guessing is 2 bits). A "
        "hidden-bases row's train loss is nats per hidden base, not per token. "
        "Curated MCC: mean ± sd over (training seed × eval seed) of the mean test MCC over the "
        "curated tasks; scratch: the same architecture and tokenizer, randomly initialized, same "
        "protocol. BPHB: bits per hidden base under the fixed leak-free validation masking "
        "(comparable across vocabularies; lower is better; ~1.9–2.0 bits = unigram guessing). "
        "Train losses are per token and do not compare across vocabularies.",
        "",
    ]
    if tb["skipped"]:
        lines += ["Skipped pairs (invalid, or not planned by the recipe):", ""]
        lines += [f"- {s['vocab']} × {s['masking']}: {s['reason']}" for s in tb["skipped"]]
        lines.append("")
    failed = [x for x in tb["runs"] if x["status"] != "ok"]
    if failed:
        lines += ["Failed runs:", ""]
        lines += [f"- `{x['id']}`: {x['status']} (log: `{x['log']}`)" for x in failed]
        lines.append("")
    lines += findings_markdown(tb)
    lines += _task_section(tb)
    lines += [
        "## Plots",
        "",
        "![loss curves](loss_curves.png)",
        "",
        "![BPHB vs curated MCC](bphb_vs_mcc.png)",
        "",
    ]
    lines += _repro_section(tb)
    return "\n".join(lines) + "\n"


def _task_section(tb: dict[str, Any]) -> list[str]:
    tasks = tb["tasks"]
    if not tasks:
        return ["## Per-task detail", "", "No task was scored.", ""]
    header = ["cell", *[t + _task_mark(i) for t, i in tasks.items()]]
    rows = [
        ["k-mer LR (baseline)"] + [num(i["baselines"]["kmer_lr"]["mcc"]) for i in tasks.values()]
    ]
    rows.append(
        ["GC+length LR (baseline)"]
        + [num(i["baselines"]["gc_length_lr"]["mcc"]) for i in tasks.values()]
    )
    scratch_done = set()
    for row in tb["rows"]:
        rows.append(
            [f"{row['vocab']} × {row['masking']}"]
            + [pm(row["tasks"][t]["mcc_mean"], row["tasks"][t]["mcc_sd"]) for t in tasks]
        )
        if row["vocab"] not in scratch_done and row["scored"]:
            scratch_done.add(row["vocab"])
            rows.append(
                [f"{row['vocab']} from scratch"]
                + [
                    pm(row["tasks"][t]["scratch_mcc_mean"], row["tasks"][t]["scratch_mcc_sd"])
                    for t in tasks
                ]
            )
    out = ["## Per-task detail (test MCC, mean ± sd over seeds)", ""]
    out += md_table(header, rows)
    out += [
        "",
        f"{DAGGER} no train split: trained on dev, no model selection. Each cell's pretrained-vs-"
        "scratch verdict and bootstrap CIs per task are in testbed.json (`rows[].tasks`) and in "
        "the eval reports.",
        "",
    ]
    return out


def _repro_section(tb: dict[str, Any]) -> list[str]:
    rep = tb["reproducibility"]
    hw = rep["hardware"]
    pk = ", ".join(f"{k} {v}" for k, v in rep["packages"].items() if v)
    data = rep.get("data") or {}
    out = [
        "## Reproducibility",
        "",
        f"- command: `{rep['command']}`",
        f"- git commit `{rep['git']['commit']}`; uncommitted changes: {rep['git']['dirty']}",
        f"- recipe sha256 `{tb['recipe']['sha256']}` (full text in testbed.json `recipe.text`)",
        f"- data manifest sha256 `{data.get('manifest_sha256', '-')}`; sources: "
        + ", ".join(f"{s['input']} `{s['sha256'][:12]}`" for s in data.get("sources", [])),
        f"- hardware: {hw['cpu']} ({hw['cpu_count']} CPUs, {hw['usable_cpus']} usable), "
        f"{hw['memory_gib']} GiB, GPUs: {', '.join(hw['gpus']) or 'none'}; {hw['platform']}",
        f"- packages: {pk}",
        "- resolved DeepSpeed config of every run: testbed.json `resolved_ds_configs`",
        "",
    ]
    return out


def _style(tb: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    import matplotlib.pyplot as plt

    vocabs = list(dict.fromkeys(x["vocab"] for x in tb["runs"]))
    maskings = list(dict.fromkeys(x["masking"] for x in tb["runs"]))
    cmap = plt.get_cmap("tab10")
    colors = {v: cmap(i % 10) for i, v in enumerate(vocabs)}
    styles = ["-", "--", ":", "-."]
    lines = {m: styles[i % len(styles)] for i, m in enumerate(maskings)}
    return colors, lines


def plot_loss_curves(tb: dict[str, Any], path: Path) -> None:
    """Every run's training loss (and validation BPHB) against bases seen, on one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors, lines = _style(tb)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5.5))
    for x in tb["runs"]:
        label = f"{x['vocab']} × {x['masking']} s{x['seed']}"
        if x["train_curve"]:
            bases = [p[1] / 1e6 for p in x["train_curve"]]
            ax1.plot(
                bases,
                [p[2] for p in x["train_curve"]],
                lines[x["masking"]],
                color=colors[x["vocab"]],
                label=label,
            )
        val = [p for p in x["val_curve"] if p[2] is not None]
        if val:
            ax2.plot(
                [p[1] / 1e6 for p in val],
                [p[2] for p in val],
                lines[x["masking"]],
                marker="o",
                color=colors[x["vocab"]],
                label=label,
            )
    ax1.set_xlabel("bases seen (millions)")
    ax1.set_ylabel("MLM loss per token")
    ax1.set_title("training loss (not comparable across vocabularies)", fontsize=10)
    ax2.set_xlabel("bases seen (millions)")
    ax2.set_ylabel("bits per hidden base (lower is better)")
    ax2.set_title("validation BPHB (fixed leak-free masking)", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    handles, labels = ax1.get_legend_handles_labels()
    rows = max(1, -(-len(labels) // 3))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 + 0.045 * rows, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bphb_vs_mcc(tb: dict[str, Any], path: Path) -> None:
    """One point per cell: val BPHB against mean curated MCC (error bar: sd)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors, _ = _style(tb)
    markers = ["o", "s", "^", "D", "v", "P"]
    mk = {
        m: markers[i % len(markers)]
        for i, m in enumerate(dict.fromkeys(r["masking"] for r in tb["rows"]))
    }
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    plotted = 0
    for row in tb["rows"]:
        if row["val_bphb"] is None or row["mcc_mean"] is None:
            continue
        ax.errorbar(
            row["val_bphb"],
            row["mcc_mean"],
            yerr=row["mcc_sd"] or 0.0,
            fmt=mk[row["masking"]],
            color=colors[row["vocab"]],
            capsize=3,
            label=f"{row['vocab']} × {row['masking']}",
        )
        plotted += 1
    ax.set_xlabel("val bits per hidden base (lower is better)")
    ax.set_ylabel("mean curated test MCC")
    ax.set_title("pretraining score vs downstream score")
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no scored cell", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(tb: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"dnapt testbed: {tb['recipe']['name']}")
    for col in TABLE_HEADER:
        table.add_column(col, justify="left" if col in ("vocab", "masking") else "right")
    for row in tb["rows"]:
        table.add_row(*table_cells(row))
    console.print(table)
    for s in tb["skipped"]:
        console.print(f"skipped {s['vocab']} × {s['masking']}: {s['reason']}", highlight=False)
    findings = findings_markdown(tb)
    if findings:
        console.print("\n".join(findings), highlight=False, markup=False, soft_wrap=True)


def write_outputs(tb: dict[str, Any], out: Path) -> list[Path]:
    """testbed.json, testbed.md and the two plots under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / n for n in ("testbed.json", "testbed.md", "loss_curves.png", "bphb_vs_mcc.png")]
    paths[0].write_text(json.dumps(tb, indent=2) + "\n")
    paths[1].write_text(render_markdown(tb))
    plot_loss_curves(tb, paths[2])
    plot_bphb_vs_mcc(tb, paths[3])
    return paths
