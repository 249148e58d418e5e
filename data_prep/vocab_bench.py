"""Benchmark sequences for the vocabulary report: how long each task's sequences are in tokens.

The one benchmark CSV reader of data_prep (``<source>/<task>/{train,dev,test}.csv.gz`` with a
``sequence`` column); the folder itself is found by ``data_prep.sources.benchmark_root``. Only
sampled lines are parsed, so a task costs one decompression.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.vocab import Vocab, VocabError, base_codes
from data_prep.vocab_metrics import length_summary

BENCH_SPLITS = ("train", "dev", "test")


class AnalyzeError(RuntimeError):
    """An analysis that cannot run on the given input; the message names the file and the fix."""


def sample_indices(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``min(n, k)`` distinct indices out of ``n``, sorted (all of them when k >= n)."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=k, replace=False))


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: its sampled sequences as base codes (all splits pooled), and the total."""

    name: str
    splits: tuple[str, ...]
    total: int
    codes: list[np.ndarray]


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
