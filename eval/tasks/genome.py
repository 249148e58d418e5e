"""A genome in memory as base codes (A0 C1 G2 T3 N4, via data_prep/fasta.py) and the window
arithmetic every builder step shares: strand-aware extraction, GC and N counts by prefix sums."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_prep.fasta import read_fasta
from eval.alphabet import LETTERS

_RC = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


@dataclass(frozen=True)
class Window:
    """``[start, end)`` on ``record``; on '-' the sequence is the reverse complement."""

    record: str
    start: int
    end: int
    strand: str


class Genome:
    """Records as uint8 code arrays, with cached prefix sums of GC and N per record."""

    def __init__(self, records: dict[str, np.ndarray]) -> None:
        self.records = records
        self._gc: dict[str, np.ndarray] = {}
        self._n: dict[str, np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        return list(self.records)

    def length(self, record: str) -> int:
        return int(self.records[record].size)

    def _prefix(self, cache: dict, record: str, mask_fn) -> np.ndarray:
        if record not in cache:
            cache[record] = np.concatenate(
                [[0], np.cumsum(mask_fn(self.records[record]), dtype=np.int64)]
            )
        return cache[record]

    def gc_counts(self, record: str, starts: np.ndarray, length: int) -> np.ndarray:
        """G+C bases in each window ``[s, s + length)``."""
        c = self._prefix(self._gc, record, lambda x: (x == 1) | (x == 2))
        return c[starts + length] - c[starts]

    def n_counts(self, record: str, starts: np.ndarray, length: int) -> np.ndarray:
        c = self._prefix(self._n, record, lambda x: x == 4)
        return c[starts + length] - c[starts]

    def codes(self, w: Window) -> np.ndarray:
        seq = self.records[w.record][w.start : w.end]
        return _RC[seq[::-1]] if w.strand == "-" else seq.copy()


def to_text(codes: np.ndarray) -> str:
    return LETTERS[codes].tobytes().decode("ascii")


def gc_fraction(codes: np.ndarray) -> float:
    acgt = int((codes < 4).sum())
    return float(((codes == 1) | (codes == 2)).sum() / max(acgt, 1))


@lru_cache(maxsize=4)
def load_genome(path: str) -> Genome:
    """Every record of a FASTA file (IUPAC codes become N, case is dropped; data_prep/fasta.py
    documents and counts both). Cached: a suite builds several tasks from one genome."""
    return Genome({r.name: r.codes for r in read_fasta(Path(path))})
