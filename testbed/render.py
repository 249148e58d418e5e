"""The testbed report for people: testbed.md, the console table, and the files on disk.

A pure function of ``testbed.json``'s content (``testbed.report.build_testbed``), so a report can
be re-rendered from any results folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dnapt.markdown import md_table
from testbed.findings import findings_markdown
from testbed.fmt import duration, num, pm
from testbed.plots import plot_bphb_vs_mcc, plot_loss_curves

DAGGER = "†"


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
