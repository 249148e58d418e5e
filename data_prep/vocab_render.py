"""The vocabulary report on paper: ``vocab_report.json``, ``vocab_report.md``, PNG plots, and the
tables printed at the end of ``data_prep/analyze_vocab.py``.

Everything here reads the report dict that ``data_prep.vocab_report.analyze`` computed; nothing is
measured again. matplotlib and rich are imported only when writing plots or printing tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_prep.vocab_report import sweep_label
from dnapt.markdown import md_table


def all_entries(report: dict) -> dict[str, dict]:
    """Shard vocabularies, then sweep vocabularies under their sweep labels."""
    out = dict(report["vocabs"])
    for name, e in report.get("sweep", {}).get("vocabs", {}).items():
        out[sweep_label(name)] = e
    return out


def _f(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


TABLE_COLUMNS = (
    "vocab",
    "size",
    "used train",
    "used val",
    "rare <10",
    "UNK",
    "bases/tok",
    "tok/kb",
    "Zipf s",
    "top 1%",
    "bits/tok",
    "bits/base",
    "shift Δ",
    "subst Δ",
    "JS",
)


def table_rows(report: dict) -> list[list[str]]:
    """One row of the main table per vocabulary (train metrics unless the column says val)."""
    rows = []
    for label, e in all_entries(report).items():
        tr, rb = e["train"], e["robustness"]
        rows.append(
            [
                label,
                str(e["size"]),
                f"{tr['used_frac']:.1%}",
                f"{e['val']['used_frac']:.1%}",
                str(tr["rare_tokens"]),
                f"{tr['unk_rate']:.2%}",
                _f(tr["bases_per_token"], ".3f"),
                _f(tr["tokens_per_kb"], ".1f"),
                _f(tr["zipf_exponent"], ".2f"),
                f"{tr['top1pct_share']:.1%}",
                f"{tr['entropy_bits_per_token']:.2f}",
                _f(tr["entropy_bits_per_base"], ".3f"),
                f"{rb['shift_changed_frac']:.3f}",
                f"{rb['subst_tokens_changed']:.2f}",
                f"{e['js_train_val_bits']:.4f}",
            ]
        )
    return rows


def bench_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """Benchmark table: per task, median tokens and share over the limit under each vocabulary."""
    tasks = report["benchmark"]["tasks"]
    first = next(iter(tasks.values()))["tokens"]
    header = ["task", "seqs (sampled)", "bases"]
    header += [f"{label} (max {s['max_tokens']})" for label, s in first.items()]
    rows = []
    for name, t in tasks.items():
        cells = [name, f"{t['sequences']:,} ({t['sampled']:,})", f"{t['bases']['median']:.0f}"]
        for s in t["tokens"].values():
            cells.append(f"{s['median']:.0f} · {s['share_over']:.0%}")
        rows.append(cells)
    return header, rows


def print_tables(report: dict, out: Path) -> None:
    """The main table (and the benchmark table when measured) on stdout with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a log or pipe: no terminal width to respect
        console = Console(width=220)
    table = Table(
        title=f"dnapt vocabulary report: {report['data']} ({report['window']}-base windows)"
    )
    for col in TABLE_COLUMNS:
        table.add_column(col, justify="left" if col == "vocab" else "right")
    for row in table_rows(report):
        table.add_row(*row)
    console.print(table)
    if "benchmark" in report:
        header, rows = bench_rows(report)
        bt = Table(
            title="benchmark: median content tokens per sequence · share over the max length"
        )
        for col in header:
            bt.add_column(col, justify="left" if col == "task" else "right")
        for row in rows:
            bt.add_row(*row)
        console.print(bt)
    console.print(
        f"report: {out / 'vocab_report.md'} (JSON, plots beside it); "
        f"elapsed {report['run']['elapsed_s']:.1f} s"
    )


def write_markdown(report: dict, out: Path, plots: list[str]) -> None:
    """``vocab_report.md``: the tables and plots, for reading next to the JSON."""
    parts = [
        "# dnapt vocabulary report",
        "",
        f"Shards: `{report['data']}`, {report['window']}-base windows. Robustness is measured on "
        f"{report['robustness_windows']:,} val windows. Train metrics unless a column says val; "
        "every number is defined in dnapt's docs/vocab-report.md.",
        "",
        "## Vocabularies",
        "",
        *md_table(TABLE_COLUMNS, table_rows(report)),
        "",
        "shift Δ: fraction of a window's tokens that change when it is read one base later; "
        "subst Δ: tokens changed by one base substitution; JS: train-vs-val Jensen–Shannon "
        "divergence (bits).",
    ]
    if "sweep" in report:
        ts = report["sweep"]["train_sample"]
        parts += [
            "",
            "## BPE sweep",
            "",
            f"Rows marked (sweep) are BPE vocabularies trained on a sample of {ts['windows']:,} "
            f"train windows ({ts['bases']:,} bases); their train metrics are over that sample and "
            "their val metrics over the robustness windows.",
        ]
    if "benchmark" in report:
        header, rows = bench_rows(report)
        parts += [
            "",
            "## Benchmark sequences in tokens",
            "",
            f"Benchmark: `{report['benchmark']['root']}`. Each cell: median content tokens per "
            "sequence · share of sequences whose tokens + [CLS] + [SEP] exceed the max length "
            "named in the column header.",
            "",
            *md_table(header, rows),
        ]
    parts += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    parts += ["", f"Elapsed: {report['run']['elapsed_s']:.1f} s.", ""]
    (out / "vocab_report.md").write_text("\n".join(parts))


def write_plots(report: dict, counts: dict[str, np.ndarray], out: Path) -> list[str]:
    """Rank–frequency, bases/token + stability bars, and (with a sweep) the sweep curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = all_entries(report)
    files = []

    fig, ax = plt.subplots(figsize=(7, 5))
    for label, c in counts.items():
        freq = np.sort(c[5:])[::-1]
        freq = freq[freq > 0] / c.sum()
        s = entries[label]["train"]["zipf_exponent"]
        style = "--" if label.endswith("(sweep)") else "-"
        ax.loglog(np.arange(1, freq.size + 1), freq, style, label=f"{label} (s={_f(s, '.2f')})")
    ax.set_xlabel("rank")
    ax.set_ylabel("relative frequency (train)")
    ax.set_title("Rank–frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "rank_frequency.png", dpi=120)
    plt.close(fig)
    files.append("rank_frequency.png")

    labels = list(entries)
    panels = (
        ("bases per token (train)", [e["train"]["bases_per_token"] for e in entries.values()]),
        (
            "shift Δ: fraction of tokens changed",
            [e["robustness"]["shift_changed_frac"] for e in entries.values()],
        ),
        (
            "subst Δ: tokens changed",
            [e["robustness"]["subst_tokens_changed"] for e in entries.values()],
        ),
    )
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (title, values) in zip(axes, panels, strict=True):
        bars = ax.bar(range(len(labels)), values, color="tab:blue")
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_title(title)
    axes[1].set_yscale("log")  # 0.001 (char) to ~1 (disjoint k-mers): both must be visible
    fig.tight_layout()
    fig.savefig(out / "compression_stability.png", dpi=120)
    plt.close(fig)
    files.append("compression_stability.png")

    if "sweep" in report:
        sweep = report["sweep"]["vocabs"]
        x = [e["size"] for e in sweep.values()]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        series = (
            ("bases per token", [e["train"]["bases_per_token"] for e in sweep.values()]),
            (
                "shift Δ: fraction of tokens changed",
                [e["robustness"]["shift_changed_frac"] for e in sweep.values()],
            ),
            (
                "subst Δ: tokens changed",
                [e["robustness"]["subst_tokens_changed"] for e in sweep.values()],
            ),
        )
        for ax, (title, y) in zip(axes, series, strict=True):
            ax.plot(x, y, "o-")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("BPE vocabulary size")
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out / "bpe_sweep.png", dpi=120)
        plt.close(fig)
        files.append("bpe_sweep.png")
    return files


def write_report(report: dict, counts: dict[str, np.ndarray], out: Path) -> None:
    """JSON, PNG plots and Markdown into ``out`` (created if needed; earlier reports replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab_report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plots = write_plots(report, counts, out)
    write_markdown(report, out, plots)
