"""Negatives: GC-matched genomic background, dinucleotide shuffles, DART-Eval's flank shuffle and
the motif-implant control. Every draw uses the generator it is given (seeded per split).

* ``gc-matched``: windows of the same length from the same split's regions that overlap no
  positive window and no feature of the positive kind or of ``exclude_types`` (each widened by
  ``margin``), contain no N, and do not overlap each other; drawn bin by bin so that their GC
  histogram (bins of ``gc_bin``) equals the positives' times ``ratio``. A bin without enough
  candidates borrows from the nearest bins (counted). Strand is drawn at random, or, with
  ``center_motif``, the windows are centred on occurrences of that word on either strand exactly
  where the positives carry it (splice donors: the GT of every background sits where the donor's
  GT sits).
* ``dinuc-shuffle``: each positive shuffled keeping its dinucleotide counts (shuffle.py).
* ``flank-shuffle``: each positive with only its central ``core`` bases shuffled, flanks intact
  (DART-Eval's control: identical composition and context, motif grammar destroyed).
* ``motif-implant``: dinucleotide-shuffled genomic windows; positives carry one site sampled from
  a JASPAR matrix at a random position and orientation, negatives are the same backgrounds
  without it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from eval.tasks.genome import _RC, Genome, Window
from eval.tasks.motifs import sample_instance
from eval.tasks.shuffle import dinuc_shuffle
from eval.tasks.splits import Region

_CODE = {c: i for i, c in enumerate("ACGT")}
BORROW_BINS = 5  # how far (in bins) a short GC bin may borrow


@dataclass
class Row:
    """One output row: where it came from, its label, how it was made and its bases."""

    window: Window
    label: int
    how: str
    codes: np.ndarray


def _blocked(genome: Genome, record: str, avoid: list[tuple[int, int]], margin: int) -> np.ndarray:
    """Per-base prefix sum of 'may not be in a negative': avoided intervals (widened) and N."""
    size = genome.length(record)
    diff = np.zeros(size + 1, dtype=np.int64)
    if avoid:
        a = np.asarray(avoid, dtype=np.int64)
        np.add.at(diff, np.clip(a[:, 0] - margin, 0, size), 1)
        np.add.at(diff, np.clip(a[:, 1] + margin, 0, size), -1)
    bad = (np.cumsum(diff[:-1]) > 0) | (genome.records[record] == 4)
    return np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])


def _motif_starts(codes: np.ndarray, word: str) -> np.ndarray:
    hit = np.ones(codes.size - len(word) + 1, dtype=bool)
    for j, ch in enumerate(word):
        hit &= codes[j : codes.size - len(word) + 1 + j] == _CODE[ch]
    return np.flatnonzero(hit)


def _candidates(
    genome: Genome,
    regions: list[Region],
    avoid: dict[str, list[tuple[int, int]]],
    margin: int,
    length: int,
    center_motif: str | None,
    rng: np.random.Generator,
    step: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate windows (record index, start, is_minus, GC count) inside ``regions``: every
    ``step`` bases (default a quarter window), or centred on ``center_motif``."""
    recs, starts, minus, gcs = [], [], [], []
    names = genome.names
    half = length // 2
    for reg in regions:
        blocked = _blocked(genome, reg.record, avoid.get(reg.record, []), margin)
        if center_motif is None:
            s = np.arange(
                reg.start, reg.end - length + 1, step or max(1, length // 4), dtype=np.int64
            )
            m = rng.random(s.size) < 0.5
        else:
            k = len(center_motif)
            rc_word = "".join("ACGT"[3 - _CODE[c]] for c in reversed(center_motif))
            codes = genome.records[reg.record]
            plus = _motif_starts(codes, center_motif) - half
            neg = _motif_starts(codes, rc_word) + k + half - length
            s = np.concatenate([plus, neg]).astype(np.int64)
            m = np.concatenate([np.zeros(plus.size, bool), np.ones(neg.size, bool)])
        ok = (s >= reg.start) & (s + length <= reg.end)
        s, m = s[ok], m[ok]
        ok = blocked[s + length] - blocked[s] == 0
        s, m = s[ok], m[ok]
        recs.append(np.full(s.size, names.index(reg.record)))
        starts.append(s)
        minus.append(m)
        gcs.append(genome.gc_counts(reg.record, s, length))
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
    return cat(recs), cat(starts), cat(minus).astype(bool), cat(gcs)


def _quota(counts: np.ndarray, ratio: float) -> np.ndarray:
    """Per-bin targets ``counts * ratio`` rounded by largest remainder to the rounded total."""
    exact = counts * ratio
    base = np.floor(exact).astype(np.int64)
    short = int(round(exact.sum())) - int(base.sum())
    if short > 0:
        base[np.argsort(-(exact - base), kind="stable")[:short]] += 1
    return base


def gc_matched(
    genome: Genome,
    regions: list[Region],
    positives: list[Row],
    avoid: dict[str, list[tuple[int, int]]],
    length: int,
    margin: int,
    ratio: float,
    gc_bin: float,
    center_motif: str | None,
    rng: np.random.Generator,
    stats: Counter,
) -> list[Row]:
    """GC-matched background rows for one split (see the module docstring)."""
    recs, starts, minus, gcs = _candidates(
        genome, regions, avoid, margin, length, center_motif, rng
    )
    n_bins = int(np.ceil(1 / gc_bin)) + 1
    to_bin = lambda gc: np.minimum((gc / length / gc_bin).astype(np.int64), n_bins - 1)  # noqa: E731
    pos_gc = np.array([int(((r.codes == 1) | (r.codes == 2)).sum()) for r in positives])
    need = _quota(np.bincount(to_bin(pos_gc), minlength=n_bins), ratio)
    cand_bin = to_bin(gcs)
    pools = [list(rng.permutation(np.flatnonzero(cand_bin == b))) for b in range(n_bins)]
    occupied = {
        name: np.zeros(genome.length(name), dtype=bool) for name in {r.record for r in regions}
    }
    names = genome.names
    rows: list[Row] = []

    def take(b: int, n: int) -> int:
        got = 0
        pool = pools[b]
        while got < n and pool:
            i = pool.pop()
            rec, s = names[recs[i]], int(starts[i])
            if occupied[rec][s : s + length].any():
                continue
            occupied[rec][s : s + length] = True
            w = Window(rec, s, s + length, "-" if minus[i] else "+")
            rows.append(Row(w, 0, "gc-matched background", genome.codes(w)))
            got += 1
        return got

    deficit = {b: int(need[b]) - take(b, int(need[b])) for b in range(n_bins) if need[b]}
    for b, short in deficit.items():
        for d in range(1, BORROW_BINS + 1):
            for nb in (b - d, b + d):
                if short and 0 <= nb < n_bins:
                    got = take(nb, short)
                    stats["gc_bin_borrowed"] += got
                    short -= got
        stats["negatives_short"] += short
    return rows


def shuffled(positives: list[Row], core: int | None, rng: np.random.Generator) -> list[Row]:
    """One negative per positive: the whole window (``core`` None) or its central ``core`` bases
    dinucleotide-shuffled."""
    rows = []
    for r in positives:
        codes = r.codes.copy()
        if core is None:
            codes = dinuc_shuffle(codes, rng)
            how = "dinuc-shuffle of the positive"
        else:
            lo = codes.size // 2 - core // 2
            codes[lo : lo + core] = dinuc_shuffle(codes[lo : lo + core], rng)
            how = f"flank-shuffle of the positive (central {core} bases)"
        rows.append(Row(r.window, 0, how, codes))
    return rows


def motif_implant(
    genome: Genome,
    regions: list[Region],
    n: int,
    length: int,
    motif: tuple[str, str, np.ndarray],
    rng: np.random.Generator,
    stats: Counter,
) -> list[Row]:
    """``n`` shuffled backgrounds from ``regions``, each as a negative and, with one sampled
    site of ``motif`` implanted, as a positive."""
    # non-overlapping tiles: no two backgrounds share a base
    recs, starts, minus, _ = _candidates(genome, regions, {}, 0, length, None, rng, step=length)
    pool = np.arange(starts.size)
    if pool.size < n:
        stats["backgrounds_short"] += n - pool.size
    pick = np.sort(rng.choice(pool, size=min(n, pool.size), replace=False))
    acc, name, counts = motif
    width = counts.shape[0]
    rows = []
    for i in pick:
        w = Window(
            genome.names[recs[i]], int(starts[i]), int(starts[i]) + length, "-" if minus[i] else "+"
        )
        bg = dinuc_shuffle(genome.codes(w), rng)
        site = sample_instance(counts, rng)
        reverse = bool(rng.random() < 0.5)
        if reverse:
            site = _RC[site[::-1]]
        at = int(rng.integers(0, length - width + 1))
        implanted = bg.copy()
        implanted[at : at + width] = site
        rows.append(Row(w, 0, "dinuc-shuffled background", bg))
        rows.append(
            Row(w, 1, f"{acc} {name} implanted at {at} ({'-' if reverse else '+'})", implanted)
        )
    return rows
