"""Vocabulary analysis report: what each tokenization of a shard directory costs and how it behaves.

    python data_prep/analyze_vocab.py --data DIR [--benchmark BENCH] [--out REPORT_DIR] \
        [--bpe-sweep 256,1024,4096,16384]

DNA models pick a vocabulary almost without analysis; this report makes the choice measurable on
the user's own data. For every vocabulary in ``DIR`` (and every BPE size of an optional sweep,
trained on the train split) it measures usage, compression, the frequency distribution, entropy,
how stable the segmentation is under a one-base shift and a single-base substitution, the
train-vs-val divergence, and how long benchmark sequences become in tokens. It writes
``vocab_report.json``, ``vocab_report.md`` and PNG plots to ``REPORT_DIR`` and prints a table.
The metrics themselves live in ``data_prep/vocab_metrics.py``; every number is defined in
docs/vocab-report.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from data_prep import __version__
from data_prep.errors import print_error
from data_prep.paths import UnsafePathError, plain_name
from data_prep.sources import SourceError, benchmark_root
from data_prep.vocab import (
    BASES_ARRAY,
    N_SPECIAL,
    Vocab,
    VocabError,
    VocabSpec,
    base_codes,
    build_vocab,
    load_vocab,
)
from data_prep.vocab_metrics import (
    count_tokens,
    js_divergence_bits,
    length_summary,
    robustness,
    split_metrics,
    substitute,
)
from data_prep.windows import SPLITS
from data_prep.writers import ShardFormatError, read_samples

BENCH_SPLITS = ("train", "dev", "test")
# Vocab families whose ids decode losslessly to bases, best first (overlapping k-mers lose the
# bases next to an N): the window bases for robustness and the sweep come from the first present.
BASE_SOURCE_ORDER = ("char", "kmer-disjoint", "bpe", "kmer-overlap")
READ_BATCH = 1024  # windows concatenated per np.bincount call


class AnalyzeError(RuntimeError):
    """An analysis that cannot run on the given input; the message names the file and the fix."""


@dataclass(frozen=True)
class AnalyzeConfig:
    """Everything that determines the report (saved in its JSON under ``params``)."""

    data: Path
    out: Path
    benchmark: Path | None = None
    bpe_sweep: tuple[int, ...] = ()
    max_tokens: int | None = None
    robust_windows: int = 10_000
    sweep_train_bases: int = 2_000_000
    benchmark_sample: int = 200
    seed: int = 0


@dataclass(frozen=True)
class ShardDir:
    """The parts of a shard directory's manifest the analysis needs."""

    root: Path
    window: int
    vocabs: tuple[str, ...]
    windows: dict[str, int]  # per split


@dataclass
class SplitScan:
    """One vocab/split read in full: token counts, window count, and the sampled windows' ids."""

    counts: np.ndarray
    windows: int
    kept: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: its sampled sequences as base codes (all splits pooled), and the total."""

    name: str
    splits: tuple[str, ...]
    total: int
    codes: list[np.ndarray]


def open_shards(data: Path) -> ShardDir:
    """Read ``DIR/manifest.json`` and check that every vocabulary directory is there."""
    manifest_path = data / "manifest.json"
    if not manifest_path.is_file():
        raise AnalyzeError(
            f"{manifest_path}: not found; pass --data a shard directory written by "
            "'python data_prep/shard.py --out DIR'"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        params = manifest["params"]
        shard = ShardDir(
            root=data,
            window=int(params["window"]),
            vocabs=tuple(manifest["vocabs"]),
            windows={s: int(manifest["splits"][s]["windows"]) for s in SPLITS},
        )
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise AnalyzeError(
            f"{manifest_path}: not a dnapt manifest ({e!r}); re-run data_prep/shard.py"
        ) from None
    for name in shard.vocabs:
        try:
            plain_name(name, f"{manifest_path}: vocabs")
        except UnsafePathError as e:
            raise AnalyzeError(str(e)) from None
        for split in SPLITS:
            if not (data / name / split).is_dir():
                raise AnalyzeError(
                    f"{data / name / split}: listed in manifest.json but missing; "
                    f"check the directory with 'python data_prep/shard.py verify {data}'"
                )
    if not shard.vocabs:
        raise AnalyzeError(f"{manifest_path}: lists no vocabularies; re-run data_prep/shard.py")
    if shard.windows["val"] == 0:
        raise AnalyzeError(
            f"{manifest_path}: no val windows; robustness and the train-vs-val divergence are "
            "measured on val: re-shard with --val-fraction > 0 or --val-records"
        )
    return shard


def sample_indices(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``min(n, k)`` distinct indices out of ``n``, sorted (all of them when k >= n)."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=k, replace=False))


def scan_split(shard: ShardDir, name: str, split: str, size: int, keep: np.ndarray) -> SplitScan:
    """Stream one vocab/split once: accumulate token counts, keep the ids of windows ``keep``."""
    path = shard.root / name / split
    wanted = set(keep.tolist())
    kept: dict[int, np.ndarray] = {}
    seen = 0

    def batches() -> Iterator[np.ndarray]:
        nonlocal seen
        buf: list[np.ndarray] = []
        for i, sample in enumerate(read_samples(path)):
            ids = np.asarray(sample["input_ids"])
            if i in wanted:
                kept[i] = ids
            buf.append(ids)
            seen = i + 1
            if len(buf) == READ_BATCH:
                yield np.concatenate(buf)
                buf = []
        if buf:
            yield np.concatenate(buf)

    counts = count_tokens(batches(), size)
    if seen != shard.windows[split]:
        raise AnalyzeError(
            f"{path}: {seen} windows, manifest.json says {shard.windows[split]}; check the "
            f"directory with 'python data_prep/shard.py verify {shard.root}'"
        )
    return SplitScan(counts, seen, [kept[i] for i in sorted(kept)])


def window_codes(vocab: Vocab, rows: list[np.ndarray], window: int) -> np.ndarray:
    """[n, window] base codes of encoded windows, decoded from the vocabulary's tokens.

    Tiling families (every family but overlapping k-mers) decode in one gather over
    ``token_bases``; overlapping k-mers go through ``decode_bases`` window by window.
    """
    if not rows:
        return np.zeros((0, window), dtype=np.uint8)
    if vocab.family == "kmer-overlap":
        return np.stack([base_codes(vocab.decode_bases(r)) for r in rows])
    table = vocab.token_bases(int(vocab.token_lengths.max()))
    flat = table[np.concatenate(rows).astype(np.int64)].ravel()
    flat = flat[flat >= 0]
    if flat.size != len(rows) * window:
        raise AnalyzeError(
            f"{vocab.name}: its tokens cover {flat.size} bases, not {len(rows)} × {window}; "
            f"check the directory with 'python data_prep/shard.py verify'"
        )
    return flat.reshape(len(rows), window).astype(np.uint8)


def vocab_entry(
    vocab: Vocab,
    train: np.ndarray,
    val: np.ndarray,
    sizes: dict[str, tuple[int, int]],
    robust: tuple[list[np.ndarray], np.ndarray, np.ndarray],
) -> dict:
    """The JSON entry of one vocabulary from its train/val counts and the robustness windows.

    ``sizes`` maps each split to the (windows, bases) its counts were taken over; ``robust`` is
    (the windows' ids under this vocabulary, their base codes, their substituted base codes).
    """
    overlap = vocab.k if vocab.family == "kmer-overlap" else 0
    return {
        "name": vocab.name,
        "family": vocab.family,
        "k": vocab.k,
        "size": vocab.size,
        "content_tokens": vocab.size - N_SPECIAL,
        "model_max_length": int(vocab.tokenizer.model_max_length),
        "train": split_metrics(train, *sizes["train"], overlap_k=overlap),
        "val": split_metrics(val, *sizes["val"], overlap_k=overlap),
        "js_train_val_bits": js_divergence_bits(train, val),
        "robustness": robustness(vocab, *robust),
    }


def parse_sizes(text: str) -> tuple[int, ...]:
    """``--bpe-sweep 256,1024`` -> (256, 1024), checked like vocabulary names."""
    sizes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if not part.isdigit():
            raise AnalyzeError(f"--bpe-sweep: '{part}' is not a size; use e.g. 256,1024,4096")
        try:
            VocabSpec.parse(f"bpe-{part}")
        except VocabError as e:
            raise AnalyzeError(f"--bpe-sweep: {e}") from None
        sizes.append(int(part))
    if len(set(sizes)) != len(sizes):
        raise AnalyzeError(f"--bpe-sweep lists a size twice: {text}")
    return tuple(sorted(sizes))


def run_sweep(
    sizes: tuple[int, ...],
    window: int,
    train_codes: np.ndarray,
    val_codes: np.ndarray,
    mutated: np.ndarray,
) -> tuple[dict[str, Vocab], dict[str, dict], dict[str, np.ndarray]]:
    """Train BPE at each size on the train sample and measure it like the shard vocabularies.

    Train statistics are over the training sample itself, val statistics over the val sample.
    """
    texts = [BASES_ARRAY[r].tobytes().decode() for r in train_codes]
    vocabs, entries, counts = {}, {}, {}
    for size in sizes:
        v = build_vocab(f"bpe-{size}", window, texts)
        train = count_tokens(v.encode_batch(texts), v.size)
        val_ids = v.encode_windows(val_codes)
        val = count_tokens(val_ids, v.size)
        sizes_ = {
            "train": (len(texts), len(texts) * window),
            "val": (val_codes.shape[0], val_codes.size),
        }
        vocabs[v.name] = v
        entries[v.name] = vocab_entry(v, train, val, sizes_, (val_ids, val_codes, mutated))
        entries[v.name]["requested_size"] = size
        counts[v.name] = train
    return vocabs, entries, counts


def _csv_lines(path: Path) -> tuple[int, list[str]]:
    """The ``sequence`` column's index and the data lines of a gzip CSV (parsed when sampled)."""
    try:
        with gzip.open(path, "rt", newline="") as fh:
            lines = fh.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise AnalyzeError(
            f"{path}: unreadable ({e}); replace it with a gzip CSV (sequence,label)"
        ) from None
    header = next(csv.reader(lines[:1]), [])
    if "sequence" not in header:
        raise AnalyzeError(
            f"{path}: header {header} has no 'sequence' column; benchmark files must be CSV "
            "with header sequence,label"
        )
    return header.index("sequence"), lines[1:]


def load_benchmark(root: Path, per_task: int, rng: np.random.Generator) -> list[BenchTask]:
    """Every ``<source>/<task>/{train,dev,test}.csv.gz`` task, up to ``per_task`` sequences each.

    Only the sampled lines are parsed and checked, so a task costs one decompression.
    """
    tasks = []
    for task_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
        files = [(s, task_dir / f"{s}.csv.gz") for s in BENCH_SPLITS]
        files = [(s, f) for s, f in files if f.is_file()]
        if not files:
            continue
        rows = []  # (file, column, line number, raw line)
        for _, f in files:
            col, lines = _csv_lines(f)
            rows += [(f, col, i, line) for i, line in enumerate(lines, start=2) if line]
        pick = sample_indices(len(rows), per_task or len(rows), rng)
        codes = []
        for i in pick.tolist():
            f, col, line, raw = rows[i]
            try:
                codes.append(base_codes(next(csv.reader([raw]))[col]))
            except (VocabError, IndexError, csv.Error) as e:
                raise AnalyzeError(f"{f}:{line}: {e}; fix or remove this row") from None
        name = str(task_dir.relative_to(root))
        tasks.append(BenchTask(name, tuple(s for s, _ in files), len(rows), codes))
    if not tasks:
        raise AnalyzeError(
            f"{root}: no benchmark tasks; expected <source>/<task>/{{train,dev,test}}.csv.gz"
        )
    return tasks


def token_lengths(vocab: Vocab, codes: list[np.ndarray]) -> np.ndarray:
    """Content tokens of each sequence; equal-length sequences are encoded as one batch."""
    out = np.zeros(len(codes), dtype=np.int64)
    by_len: dict[int, list[int]] = {}
    for i, c in enumerate(codes):
        by_len.setdefault(c.size, []).append(i)
    for idx in by_len.values():
        batch = np.stack([codes[i] for i in idx])
        out[idx] = [ids.size for ids in vocab.encode_windows(batch)]
    return out


def benchmark_lengths(
    tasks: list[BenchTask], vocabs: dict[str, Vocab], max_tokens: int | None
) -> dict[str, dict]:
    """Per task: base lengths, and per vocabulary the token-length distribution and share over."""
    out = {}
    for task in tasks:
        bases = np.array([c.size for c in task.codes], dtype=np.int64)
        entry = {
            "splits": list(task.splits),
            "sequences": task.total,
            "sampled": len(task.codes),
            "bases": {
                "min": int(bases.min()),
                "median": float(np.median(bases)),
                "max": int(bases.max()),
            },
            "tokens": {},
        }
        for label, v in vocabs.items():
            lengths = token_lengths(v, task.codes)
            limit = max_tokens or int(v.tokenizer.model_max_length)
            entry["tokens"][label] = length_summary(lengths, limit)
        out[task.name] = entry
    return out


def analyze(cfg: AnalyzeConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the whole analysis; returns the report and each vocabulary's train counts (for plots)."""
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 3)
        return now

    shard = open_shards(cfg.data)
    w = shard.window
    rng_val, rng_train, rng_sub, rng_bench = (
        np.random.default_rng([cfg.seed, i]) for i in range(4)
    )
    val_idx = sample_indices(shard.windows["val"], cfg.robust_windows, rng_val)
    n_train_sample = math.ceil(cfg.sweep_train_bases / w) if cfg.bpe_sweep else 0
    train_idx = sample_indices(shard.windows["train"], n_train_sample, rng_train)

    vocabs = {name: load_vocab(shard.root / name) for name in shard.vocabs}
    source = min(vocabs.values(), key=lambda v: BASE_SOURCE_ORDER.index(v.family)).name
    scans: dict[str, dict[str, SplitScan]] = {}
    for name, v in vocabs.items():
        keep = {"val": val_idx, "train": train_idx if name == source else train_idx[:0]}
        scans[name] = {s: scan_split(shard, name, s, v.size, keep[s]) for s in SPLITS}
    val_codes = window_codes(vocabs[source], scans[source]["val"].kept, w)
    train_codes = window_codes(vocabs[source], scans[source]["train"].kept, w)
    mutated, _ = substitute(val_codes, rng_sub)
    t = lap("read_shards", t0)

    entries, train_counts = {}, {}
    sizes = {s: (shard.windows[s], shard.windows[s] * w) for s in SPLITS}
    for name, v in vocabs.items():
        sc = scans[name]
        robust = ([r.astype(np.int64) for r in sc["val"].kept], val_codes, mutated)
        entries[name] = vocab_entry(v, sc["train"].counts, sc["val"].counts, sizes, robust)
        train_counts[name] = sc["train"].counts
    t = lap("metrics", t)

    report: dict = {
        "dnapt_version": __version__,
        "data": str(shard.root),
        "window": w,
        "params": {k: (str(x) if isinstance(x, Path) else x) for k, x in asdict(cfg).items()},
        "base_source": source,
        "robustness_windows": int(val_codes.shape[0]),
        "vocabs": entries,
    }
    bench_vocabs = dict(vocabs)
    if cfg.bpe_sweep:
        sv, se, sc_ = run_sweep(cfg.bpe_sweep, w, train_codes, val_codes, mutated)
        report["sweep"] = {
            "train_sample": {"windows": int(train_codes.shape[0]), "bases": int(train_codes.size)},
            "val_sample": {"windows": int(val_codes.shape[0]), "bases": int(val_codes.size)},
            "vocabs": se,
        }
        for name in sv:
            bench_vocabs[sweep_label(name)] = sv[name]
            train_counts[sweep_label(name)] = sc_[name]
        t = lap("bpe_sweep", t)
    if cfg.benchmark is not None:
        tasks = load_benchmark(cfg.benchmark, cfg.benchmark_sample, rng_bench)
        report["benchmark"] = {
            "root": str(cfg.benchmark),
            "max_tokens": cfg.max_tokens,
            "tasks": benchmark_lengths(tasks, bench_vocabs, cfg.max_tokens),
        }
        t = lap("benchmark", t)
    report["run"] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "phases_s": phases,
        "cpus": os.cpu_count(),
    }
    return report, train_counts


def sweep_label(name: str) -> str:
    """How a sweep vocabulary is named next to the shard's own (e.g. both have bpe-4096)."""
    return f"{name} (sweep)"


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


def _md_table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


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
        _md_table(TABLE_COLUMNS, table_rows(report)),
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
            _md_table(header, rows),
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python data_prep/analyze_vocab.py",
        description="Measure every vocabulary of a shard directory (usage, compression, Zipf fit, "
        "entropy, segmentation robustness, train-vs-val divergence, benchmark lengths in tokens) "
        "and write vocab_report.json, vocab_report.md and PNG plots. Definitions: "
        "docs/vocab-report.md.",
    )
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        help="shard directory written by 'python data_prep/shard.py --out DIR'",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report directory (default: 'vocab_report' next to --data; files are replaced)",
    )
    p.add_argument(
        "--benchmark",
        type=Path,
        default=None,
        help="benchmark folder <source>/<task>/{train,dev,test}.csv.gz (columns sequence,label); "
        "default: $DNAPT_DATA_MIRROR/benchmark, skipped with a note when that does not exist",
    )
    p.add_argument("--no-benchmark", action="store_true", help="skip the benchmark lengths")
    p.add_argument(
        "--benchmark-sample",
        type=int,
        default=200,
        help="sequences sampled per task, all splits pooled (0: all; default: 200)",
    )
    p.add_argument(
        "--max-tokens",
        type=_positive,
        default=None,
        help="model max length in tokens, [CLS] and [SEP] included, for the benchmark's share "
        "of over-long sequences (default: each vocabulary's tokenizer model_max_length)",
    )
    p.add_argument(
        "--bpe-sweep",
        default="",
        help="comma-separated BPE sizes to train on a sample of the train split and measure "
        "like the shard vocabularies, e.g. 256,1024,4096,16384 (default: no sweep)",
    )
    p.add_argument(
        "--sweep-train-bases",
        type=_positive,
        default=2_000_000,
        help="bases of train windows sampled to train and count each sweep BPE "
        "(default: 2,000,000)",
    )
    p.add_argument(
        "--robust-windows",
        type=_positive,
        default=10_000,
        help="val windows sampled for the shift/substitution robustness (default: 10,000)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of every sample and substitution (default: 0)"
    )
    return p


def config_from_args(a: argparse.Namespace) -> AnalyzeConfig:
    if a.benchmark_sample < 0:
        raise AnalyzeError(f"--benchmark-sample {a.benchmark_sample}: use 0 (all) or more")
    if a.no_benchmark:
        bench = None
    elif a.benchmark is not None:
        bench = benchmark_root(a.benchmark)
    else:
        try:
            bench = benchmark_root()
        except SourceError as e:
            print(f"analyze_vocab: note: benchmark lengths skipped ({e})", file=sys.stderr)
            bench = None
    data = a.data.resolve()
    return AnalyzeConfig(
        data=data,
        out=a.out if a.out is not None else data.parent / "vocab_report",
        benchmark=bench,
        bpe_sweep=parse_sizes(a.bpe_sweep),
        max_tokens=a.max_tokens,
        robust_windows=a.robust_windows,
        sweep_train_bases=a.sweep_train_bases,
        benchmark_sample=a.benchmark_sample,
        seed=a.seed,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = config_from_args(args)
        report, counts = analyze(cfg)
        write_report(report, counts, cfg.out)
    except (AnalyzeError, SourceError, VocabError, ShardFormatError) as e:
        print_error("analyze_vocab", e)
        return 2
    print_tables(report, cfg.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
