"""The vocabulary report's numbers: read a shard directory once, measure every vocabulary.

``analyze(AnalyzeConfig)`` returns the report dict (written as ``vocab_report.json``; every number
is defined in docs/vocab-report.md) and each vocabulary's train token counts (for the plots). The
metrics themselves are in ``data_prep/vocab_metrics.py``, the benchmark sequences in
``data_prep/vocab_bench.py``; ``data_prep/vocab_render.py`` turns the report into Markdown, PNG
plots and tables, and ``data_prep/analyze_vocab.py`` is the command line.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from data_prep import __version__
from data_prep.manifest import Manifest, ManifestError
from data_prep.paths import UnsafePathError, plain_name
from data_prep.vocab import (
    BASES_ARRAY,
    N_SPECIAL,
    Vocab,
    base_codes,
    build_vocab,
    load_vocab,
)
from data_prep.vocab_bench import AnalyzeError, benchmark_lengths, load_benchmark, sample_indices
from data_prep.vocab_metrics import (
    count_tokens,
    js_divergence_bits,
    robustness,
    split_metrics,
    substitute,
)
from data_prep.windows import SPLITS
from data_prep.writers import read_samples
from dnapt.cli import option

# Vocab families whose ids decode losslessly to bases, best first (overlapping k-mers lose the
# bases next to an N): the window bases for robustness and the sweep come from the first present.
BASE_SOURCE_ORDER = ("char", "kmer-disjoint", "bpe", "kmer-overlap")
READ_BATCH = 1024  # windows concatenated per np.bincount call


@dataclass(frozen=True)
class AnalyzeConfig:
    """Everything that determines the report (saved in its JSON under ``params``).

    Its fields are ``data_prep/analyze_vocab.py``'s flags (through ``dnapt.cli``).
    """

    data: Path = option(help="shard directory written by 'python data_prep/shard.py --out DIR'")
    out: Path | None = option(
        None, help="report directory (default: 'vocab_report' next to --data; files are replaced)"
    )
    benchmark: Path | None = option(
        None,
        help="benchmark folder <source>/<task>/{train,dev,test}.csv.gz (columns sequence,label); "
        "default: $DNAPT_DATA_MIRROR/benchmark, skipped with a note when that does not exist",
    )
    no_benchmark: bool = option(False, flags=("--no-benchmark",), help="skip the benchmark lengths")
    bpe_sweep: tuple[int, ...] = option(
        (),
        help="BPE sizes to train on a sample of the train split and measure like the shard "
        "vocabularies, e.g. 256,1024,4096,16384 (default: no sweep)",
    )
    max_tokens: int | None = option(
        None,
        ge=1,
        help="model max length in tokens, [CLS] and [SEP] included, for the benchmark's share "
        "of over-long sequences (default: each vocabulary's tokenizer model_max_length)",
    )
    robust_windows: int = option(
        10_000, ge=1, help="val windows sampled for the shift/substitution robustness"
    )
    sweep_train_bases: int = option(
        2_000_000,
        ge=1,
        help="bases of train windows sampled to train and count each sweep BPE",
    )
    benchmark_sample: int = option(
        200, ge=0, help="sequences sampled per task, all splits pooled (0: all)"
    )
    seed: int = option(0, help="seed of every sample and substitution")

    @property
    def report_dir(self) -> Path:
        """Where the report goes: ``out``, else ``vocab_report`` next to the shard directory."""
        return self.out if self.out is not None else self.data.parent / "vocab_report"


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


def open_shard_dir(data: Path) -> ShardDir:
    """Read ``DIR/manifest.json`` and check that every vocabulary directory is there."""
    manifest_path = data / "manifest.json"
    if not manifest_path.is_file():
        raise AnalyzeError(
            f"{manifest_path}: not found; pass --data a shard directory written by "
            "'python data_prep/shard.py --out DIR'"
        )
    try:
        manifest = Manifest.read(manifest_path, require_digest=False)
    except ManifestError as e:
        raise AnalyzeError(str(e)) from None
    shard = ShardDir(
        root=data,
        window=manifest.params.window,
        vocabs=tuple(manifest.vocabs),
        windows={s: manifest.split_windows(s) for s in SPLITS},
    )
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


def analyze(cfg: AnalyzeConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the whole analysis; returns the report and each vocabulary's train counts (for plots)."""
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 3)
        return now

    shard = open_shard_dir(cfg.data)
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
