"""The report's two figures: loss curves against bases seen, and val BPHB against curated MCC.

matplotlib is imported inside each function (Agg backend): it costs seconds, and only a report
that is written needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
