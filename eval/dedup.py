"""Duplicate, reverse-complement, label-conflict and near-duplicate detection between splits.

Double-stranded DNA read on the other strand is the same molecule, so a test sequence whose
reverse complement is in train leaks exactly like an identical one: every exact check here is done
on the canonical form ``min(seq, revcomp(seq))`` and reported beside the strand-exact count.
Near-duplicates (a few substitutions, shifted windows) are found with MinHash over canonical
k-mer sets and confirmed with the exact Jaccard, so the counts do not depend on hash luck.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dnapt.cli import option
from eval.alphabet import BASE_CODE
from eval.benchmark import Task

if TYPE_CHECKING:  # datasketch pulls in scipy (~0.7 s): loaded when near-duplicates are searched
    from datasketch import MinHash

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def canonical(seq: str) -> str:
    """The strand-independent form of a sequence: the smaller of it and its reverse complement."""
    rc = reverse_complement(seq)
    return seq if seq <= rc else rc


def _count_repeats(keys: list[str]) -> int:
    """Rows whose key already occurred earlier in the same list."""
    return len(keys) - len(set(keys))


def _count_in(keys: list[str], reference: set[str]) -> int:
    return sum(k in reference for k in keys)


def exact_duplicates(task: Task) -> dict:
    """Duplicate rows within each split and across split pairs, strand-exact and RC-aware.

    ``within[split]`` counts rows that repeat an earlier row of the same split; ``across["a|b"]``
    counts rows of ``b`` whose sequence occurs in ``a``.
    """
    exact = {name: split.sequences for name, split in task.splits.items()}
    canon = {name: [canonical(s) for s in seqs] for name, seqs in exact.items()}
    within = {
        name: {"exact": _count_repeats(exact[name]), "with_rc": _count_repeats(canon[name])}
        for name in exact
    }
    across = {}
    names = [s for s in ("train", "dev", "test") if s in exact]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            across[f"{a}|{b}"] = {
                "exact": _count_in(exact[b], set(exact[a])),
                "with_rc": _count_in(canon[b], set(canon[a])),
            }
    return {"within": within, "across": across}


def label_conflicts(task: Task) -> dict:
    """Canonical sequences that carry more than one label anywhere in the task.

    Such rows have no correct answer, which caps every model's accuracy and, across splits,
    rewards memorizing the train label.
    """
    labels: dict[str, set[int]] = defaultdict(set)
    rows: dict[str, int] = defaultdict(int)
    for split in task.splits.values():
        for seq, y in zip(split.sequences, split.labels.tolist(), strict=True):
            key = canonical(seq)
            labels[key].add(y)
            rows[key] += 1
    conflicting = [k for k, v in labels.items() if len(v) > 1]
    return {
        "sequences": len(conflicting),
        "rows": sum(rows[k] for k in conflicting),
        "unique_sequences": len(labels),
    }


def leaked_test_rows(task: Task) -> np.ndarray:
    """Indices of test rows whose sequence (or its reverse complement) occurs in train.

    These are the rows ``--dedup`` removes; with no train split the training data is dev.
    """
    reference = {canonical(s) for s in task.train.sequences}
    return np.array(
        [i for i, s in enumerate(task.test.sequences) if canonical(s) in reference], dtype=np.int64
    )


@dataclass(frozen=True)
class NearDupConfig:
    """MinHash near-duplicate search between the training split and test.

    ``k=8`` canonical k-mers: a random pair of 500 bp sequences shares well under 5% of its
    8-mers, while one substitution in a 70 bp sequence keeps a Jaccard of ~0.78 and a 10 bp shift
    ~0.73, so ``threshold=0.5`` separates "the same locus, slightly edited" from "unrelated".
    """

    k: int = option(  # packed canonical k-mers must fit 32 bits: k <= 16
        8, flags=("--near-dup-k",), help="k-mer size of the near-duplicate Jaccard"
    )
    num_perm: int = 64
    threshold: float = option(
        0.5,
        flags=("--near-dup-threshold",),
        help="Jaccard at which a test row near-duplicates train",
    )
    seed: int = 1


def _shingle_sets(seqs: list[str], k: int) -> list[frozenset[int]]:
    """Canonical k-mers of each sequence (2-bit packed, then mixed); N-containing k-mers dropped
    (N carries no sequence identity). Vectorized over equal-length sequences, since this runs on
    every train and test row of the benchmark."""
    out: list[frozenset[int]] = [frozenset()] * len(seqs)
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(seqs):
        by_length[len(s)].append(i)
    for length, rows in by_length.items():
        n = length - k + 1
        if n <= 0:
            continue
        raw = np.frombuffer("".join(seqs[i] for i in rows).encode(), dtype=np.uint8)
        codes = BASE_CODE[raw].reshape(len(rows), length)
        fwd = np.zeros((len(rows), n), dtype=np.int64)
        rev = np.zeros((len(rows), n), dtype=np.int64)
        bad = np.zeros((len(rows), n), dtype=bool)
        for j in range(k):
            c = codes[:, j : j + n]
            bad |= c == 4
            fwd = fwd * 4 + (c & 3)
            rev = rev + ((3 - c) & 3) * 4**j
        canon = np.where(bad, -1, _mix32(np.minimum(fwd, rev)))
        for r, row in zip(rows, canon.tolist(), strict=True):
            out[r] = frozenset(row) - {-1}
    return out


def _mix32(x: np.ndarray) -> np.ndarray:
    """A bijective 32-bit integer mix (murmur3 finalizer): packed k-mers hash uniformly for
    MinHash without collisions, so Jaccard on mixed values equals Jaccard on k-mers."""
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    return x.astype(np.int64)


def _minhashes(sets: list[frozenset[int]], cfg: NearDupConfig) -> list[MinHash]:
    from datasketch import MinHash

    return MinHash.bulk([list(s) for s in sets], num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=int)


def near_duplicates(train: list[str], test: list[str], cfg: NearDupConfig) -> dict:
    """Test rows with a train sequence at canonical k-mer Jaccard >= ``cfg.threshold``.

    LSH proposes candidates, the exact Jaccard decides, so a reported pair is a real near-duplicate.
    ``max_jaccard`` summarizes how close the closest confirmed pair is.
    """
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    train_sets = _shingle_sets(train, cfg.k)
    for i, mh in enumerate(_minhashes(train_sets, cfg)):
        if train_sets[i]:
            lsh.insert(i, mh, check_duplication=False)
    test_sets = _shingle_sets(test, cfg.k)
    hits = 0
    best = 0.0
    for j, mh in enumerate(_minhashes(test_sets, cfg)):
        a = test_sets[j]
        if not a:
            continue
        top = max(
            (len(a & train_sets[i]) / len(a | train_sets[i]) for i in lsh.query(mh)), default=0
        )
        if top >= cfg.threshold:
            hits += 1
            best = max(best, top)
    return {"test_rows": hits, "test_frac": hits / max(len(test), 1), "max_jaccard": best}
