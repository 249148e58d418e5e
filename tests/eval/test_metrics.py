"""Metrics and the bootstrap: vectorized MCC equals sklearn's; paired verdicts."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import matthews_corrcoef

from eval.metrics import bootstrap_indices, bootstrap_mcc, classification_metrics, percentile_ci
from eval.scoring import compare


def test_bootstrap_mcc_equals_sklearn_per_resample() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3):
        y = rng.integers(0, k, 300)
        preds = np.where(rng.random((2, 300)) < 0.7, y, rng.integers(0, k, (2, 300)))
        idx = bootstrap_indices(300, 50, seed=1)
        boot = bootstrap_mcc(y, preds, idx, k)
        for b in range(0, 50, 7):
            expected = np.mean([matthews_corrcoef(y[idx[b]], p[idx[b]]) for p in preds])
            assert abs(boot[b] - expected) < 1e-12
    constant = bootstrap_mcc(y, np.zeros((1, 300), int), idx, 3)
    assert (constant == 0).all()


def test_classification_metrics_and_ci() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    m = classification_metrics(y, proba.argmax(1), proba, [0, 1])
    assert m["accuracy"] == 4 / 6 and m["auroc"] == 7 / 9
    lo, hi = percentile_ci(np.linspace(0, 1, 1001))
    assert abs(lo - 0.025) < 1e-9 and abs(hi - 0.975) < 1e-9


def test_paired_comparison_verdicts() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.6, 0.02, 1000)
    assert compare(a, a - 0.1, 0.1)["verdict"] == "pretraining beats from-scratch"
    assert compare(a, a + 0.1, -0.1)["verdict"] == "from-scratch beats pretraining"
    noisy = a + rng.normal(0, 0.05, 1000)
    assert compare(a, noisy, 0.0)["verdict"] == "no significant difference"
