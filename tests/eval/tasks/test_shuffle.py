from __future__ import annotations

import numpy as np
import pytest

from eval.tasks.shuffle import dinuc_counts, dinuc_shuffle


@pytest.mark.parametrize("seed", range(20))
def test_dinucleotide_counts_kept_exactly(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 400))
    seq = rng.choice(5, size=n, p=[0.3, 0.2, 0.2, 0.28, 0.02]).astype(np.uint8)
    out = dinuc_shuffle(seq, rng)
    assert np.array_equal(dinuc_counts(out), dinuc_counts(seq))
    assert out[0] == seq[0] and out[-1] == seq[-1]


def test_shuffle_changes_the_sequence_and_is_seeded():
    seq = np.random.default_rng(0).integers(0, 4, 200).astype(np.uint8)
    a = dinuc_shuffle(seq, np.random.default_rng(1))
    b = dinuc_shuffle(seq, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert (a != seq).mean() > 0.3


def test_uniform_over_the_two_orderings():
    """ACAGA has exactly two sequences with its dinucleotides (ACAGA, AGACA); both must come up
    about equally often: the arborescence is drawn uniformly."""
    seq = np.array([0, 1, 0, 2, 0], np.uint8)
    rng = np.random.default_rng(0)
    outs = [tuple(dinuc_shuffle(seq, rng).tolist()) for _ in range(2000)]
    assert set(outs) == {(0, 1, 0, 2, 0), (0, 2, 0, 1, 0)}
    assert 0.45 < outs.count((0, 1, 0, 2, 0)) / 2000 < 0.55
