"""Exact / reverse-complement duplicates, label conflicts and MinHash near-duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.benchmark import load_task
from eval.dedup import (
    NearDupConfig,
    canonical,
    exact_duplicates,
    label_conflicts,
    leaked_test_rows,
    near_duplicates,
    reverse_complement,
)
from tests.eval.evalkit import random_seqs, write_task


def test_reverse_complement_and_canonical() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert canonical("TTT") == canonical("AAA") == "AAA"


def test_rc_duplicate_within_and_across_splits_and_repair(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b, c, d = random_seqs(rng, 4, 40)
    write_task(
        tmp_path,
        "s/t",
        {
            "train": [(a, 0), (reverse_complement(a), 0), (b, 1)],  # RC repeat inside train
            "dev": [(c, 0), (d, 1)],
            "test": [(reverse_complement(b), 1), (c, 0), (d, 1), (a, 0)],  # 2 leaks, 1 via RC
        },
    )
    task = load_task(tmp_path, "s/t")
    dups = exact_duplicates(task)
    assert dups["within"]["train"] == {"exact": 0, "with_rc": 1}
    assert dups["across"]["train|test"] == {"exact": 1, "with_rc": 2}
    assert dups["across"]["dev|test"] == {"exact": 2, "with_rc": 2}
    assert leaked_test_rows(task).tolist() == [0, 3]
    repaired = task.with_test_rows_removed(leaked_test_rows(task))
    assert repaired.test.sequences == [c, d]


def test_label_conflict_counts_rc(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a, b, c = random_seqs(rng, 3, 30)
    write_task(
        tmp_path,
        "s/t",
        {"train": [(a, 0), (b, 1)], "test": [(reverse_complement(a), 1), (b, 1), (c, 0)]},
    )
    conflicts = label_conflicts(load_task(tmp_path, "s/t"))
    assert conflicts == {"sequences": 1, "rows": 2, "unique_sequences": 3}


def test_near_duplicates_found_and_unrelated_not() -> None:
    rng = np.random.default_rng(2)
    train = random_seqs(rng, 300, 80)
    edited = train[5][:40] + ("A" if train[5][40] != "A" else "C") + train[5][41:]  # 1 SNP
    shifted = reverse_complement(train[7][6:] + "ACGTAC")  # other strand, 6 bp shift
    unrelated = random_seqs(rng, 50, 80)
    out = near_duplicates(train, [edited, shifted, *unrelated], NearDupConfig())
    assert out["test_rows"] == 2
    assert 0.5 <= out["max_jaccard"] < 1.0
    assert near_duplicates(train, unrelated, NearDupConfig())["test_rows"] == 0
