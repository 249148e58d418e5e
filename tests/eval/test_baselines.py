"""Shortcut baselines: a GC-separable task, no signal, and the reference 4-mer table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.baselines import BaselineConfig, gc_length_features, kmer_features, run_baselines
from eval.benchmark import load_task
from tests.eval.evalkit import random_seqs, write_task


def _split(rng, n: int, gc_by_label: tuple[float, float], length: int = 60):
    labels = rng.integers(0, 2, n)
    return [(random_seqs(rng, 1, length, gc_by_label[y])[0], int(y)) for y in labels]


def test_features() -> None:
    x = gc_length_features(["GGCC", "AATN", "ACGTAC"])
    assert x.tolist() == [[1.0, 4.0], [0.0, 4.0], [0.5, 6.0]]
    k2 = kmer_features(["AACN", "CC"], 2).toarray()
    assert k2.shape == (2, 16)
    assert k2[0, 0] == k2[0, 1] == 0.5  # AA, AC; CN dropped
    assert k2[1, 5] == 1.0


def test_gc_separable_task_is_caught(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gc = (0.3, 0.7)
    write_task(
        tmp_path,
        "s/gc",
        {"train": _split(rng, 300, gc), "dev": _split(rng, 100, gc), "test": _split(rng, 200, gc)},
    )
    res = run_baselines(load_task(tmp_path, "s/gc"), BaselineConfig(kmer_ks=(1, 2)))
    assert res["majority"].metrics["mcc"] == 0.0
    assert res["gc_length_lr"].metrics["mcc"] > 0.9
    assert res["kmer_lr"].metrics["mcc"] > 0.9
    assert res["kmer_lr"].params["selected_on"] == "dev"


def test_no_signal_task_scores_near_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    same = (0.5, 0.5)
    write_task(tmp_path, "s/none", {"dev": _split(rng, 400, same), "test": _split(rng, 400, same)})
    res = run_baselines(load_task(tmp_path, "s/none"), BaselineConfig())
    assert abs(res["gc_length_lr"].metrics["mcc"]) < 0.2
    assert abs(res["kmer_lr"].metrics["mcc"]) < 0.2
    assert res["kmer_lr"].params == {
        "k": 4,
        "selected_on": None,
        "by_k": {"4": res["kmer_lr"].params["by_k"]["4"]},
    }


# 4-mer LR accuracy from ../shared/data/SOURCES.md ("Difficulty sanity check").
REFERENCE_4MER_ACC = {
    "GUE/EMP_H3": 0.772,
    "GUE/prom_core_tata": 0.755,
    "iPromoter2L/ecoli_promoter": 0.813,
}


@pytest.mark.parametrize("task_id", sorted(REFERENCE_4MER_ACC))
def test_kmer_baseline_matches_reference_table(benchmark_dir: Path, task_id: str) -> None:
    task = load_task(benchmark_dir, task_id)
    res = run_baselines(task, BaselineConfig(kmer_ks=(4,)))
    assert res["kmer_lr"].params["k"] == 4
    assert abs(res["kmer_lr"].metrics["accuracy"] - REFERENCE_4MER_ACC[task_id]) < 0.03
