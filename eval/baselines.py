"""Shortcut baselines: what a task rewards without any language model.

If GC content and length, or a bag of k-mers, already score well on a task, a model's score there
mostly measures those shortcuts. Every score dnapt reports is shown beside these baselines:
- ``majority``: the most frequent training class (MCC 0 by construction, AUROC 0.5);
- ``gc_length_lr``: logistic regression on GC fraction (over ACGT) and length;
- ``kmer_lr``: logistic regression on k-mer frequencies, k chosen on dev among 1..6;
- ``cnn`` (when ``BaselineConfig.cnn``; eval/run.py turns it on): the fixed one-hot CNN trained
  from scratch (eval/cnn.py), the supervised model a pretrained encoder must beat.

All fits are deterministic (lbfgs, fixed iteration cap) on standardized features: k-mer features
are sparse counts divided by each sequence's number of k-mers and scaled per column without
centering, so the ~47k-row tasks stay sparse and fit in seconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from eval.alphabet import BASE_CODE
from eval.benchmark import Task, class_positions
from eval.metrics import align_proba, classification_metrics

if TYPE_CHECKING:  # scipy/sklearn load when a baseline is fitted, not at import (CLI start-up)
    import scipy.sparse as sp


@dataclass(frozen=True)
class BaselineConfig:
    """Shortcut-baseline settings.

    ``default_k`` is used where there is no model selection (no train split: fit on dev, so dev
    cannot also choose k); 4 matches the reference table in the data notes.
    """

    kmer_ks: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    default_k: int = 4
    C: float = 1.0
    max_iter: int = 500
    cnn: bool = False


@dataclass
class BaselineResult:
    """One baseline on a task's test split."""

    name: str
    params: dict
    metrics: dict[str, float | None]
    pred: np.ndarray = field(repr=False)
    proba: np.ndarray = field(repr=False)


def encode(seqs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``[n, max_len]`` base codes (A0 C1 G2 T3, 4 for N and padding) and the lengths."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    codes = np.full((len(seqs), int(lengths.max())), 4, dtype=np.int64)
    for i, s in enumerate(seqs):
        codes[i, : len(s)] = BASE_CODE[np.frombuffer(s.encode(), dtype=np.uint8)]
    return codes, lengths


def gc_length_features(seqs: list[str]) -> np.ndarray:
    """``[n, 2]``: GC fraction among A/C/G/T bases, and length in bases."""
    codes, lengths = encode(seqs)
    acgt = (codes < 4).sum(1)
    gc = ((codes == 1) | (codes == 2)).sum(1)
    return np.stack([gc / np.maximum(acgt, 1), lengths.astype(np.float64)], axis=1)


def kmer_features(seqs: list[str], k: int) -> sp.csr_matrix:
    """``[n, 4**k]`` sparse k-mer frequencies (counts / number of N-free k-mers in the row)."""
    import scipy.sparse as sp

    codes, _ = encode(seqs)
    n, width = codes.shape[0], codes.shape[1] - k + 1
    if width <= 0:
        return sp.csr_matrix((n, 4**k), dtype=np.float64)
    idx = np.zeros((n, width), dtype=np.int64)
    bad = np.zeros((n, width), dtype=bool)
    for j in range(k):
        c = codes[:, j : j + width]
        bad |= c == 4
        idx = idx * 4 + (c & 3)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, width))[~bad]
    counts = sp.csr_matrix(
        (np.ones(rows.size), (rows, idx[~bad])), shape=(n, 4**k), dtype=np.float64
    )
    totals = np.asarray(counts.sum(1)).ravel()
    return sp.diags(1.0 / np.maximum(totals, 1)) @ counts


def _column_scale(x: sp.csr_matrix | np.ndarray) -> np.ndarray:
    """Per-column standard deviation on the training rows (1 where constant)."""
    import scipy.sparse as sp

    if sp.issparse(x):
        mean = np.asarray(x.mean(0)).ravel()
        sd = np.sqrt(np.maximum(np.asarray(x.multiply(x).mean(0)).ravel() - mean**2, 0))
    else:
        sd = x.std(0)
    return np.where(sd > 0, sd, 1.0)


def fit_lr(
    xtr, ytr: np.ndarray, xothers: list, classes: list[int], cfg: BaselineConfig
) -> tuple[list, int]:
    """Fit a scaled logistic regression; returns class probabilities for each of ``xothers``
    (columns in ``classes`` order) and the iterations used (== max_iter: not converged)."""
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning  # sklearn: ~1.5 s, only when fitting
    from sklearn.linear_model import LogisticRegression

    if sp.issparse(xtr):
        scale = sp.diags(1.0 / _column_scale(xtr))
        prep = lambda x: x @ scale  # noqa: E731
    else:
        mean, sd = xtr.mean(0), _column_scale(xtr)
        prep = lambda x: (x - mean) / sd  # noqa: E731
    model = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(prep(xtr), ytr)
    probas = [align_proba(model.predict_proba(prep(x)), model.classes_, classes) for x in xothers]
    return probas, int(model.n_iter_.max())


def _result(name: str, params: dict, proba: np.ndarray, y: np.ndarray, classes: list[int]):
    pred = np.asarray(classes)[proba.argmax(1)]
    return BaselineResult(
        name, params, classification_metrics(y, pred, proba, classes), pred, proba
    )


def run_baselines(task: Task, cfg: BaselineConfig) -> dict[str, BaselineResult]:
    """The three shortcut baselines on ``task.test``, trained on the task's training split."""
    from sklearn.metrics import matthews_corrcoef

    classes = task.classes
    train, test = task.train, task.test
    dev = task.splits["dev"] if task.selection_split else None
    results: dict[str, BaselineResult] = {}

    counts = np.array([(train.labels == c).sum() for c in classes])
    prior = np.tile(counts / counts.sum(), (len(test), 1))
    results["majority"] = _result(
        "majority", {"class": classes[int(counts.argmax())]}, prior, test.labels, classes
    )

    (proba,), n_iter = fit_lr(
        gc_length_features(train.sequences),
        train.labels,
        [gc_length_features(test.sequences)],
        classes,
        cfg,
    )
    results["gc_length_lr"] = _result(
        "gc_length_lr", {"n_iter": n_iter}, proba, test.labels, classes
    )

    by_k: dict[int, dict] = {}
    test_proba: dict[int, np.ndarray] = {}
    for k in cfg.kmer_ks if dev is not None else (cfg.default_k,):
        others = [kmer_features(test.sequences, k)]
        if dev is not None:
            others.append(kmer_features(dev.sequences, k))
        probas, n_iter = fit_lr(
            kmer_features(train.sequences, k), train.labels, others, classes, cfg
        )
        test_proba[k] = probas[0]
        by_k[k] = {"n_iter": n_iter}
        if dev is not None:
            dev_pred = np.asarray(classes)[probas[1].argmax(1)]
            by_k[k]["dev_mcc"] = float(matthews_corrcoef(dev.labels, dev_pred))
    best = max(by_k, key=lambda k: (by_k[k].get("dev_mcc", 0.0), -k))
    params = {
        "k": best,
        "selected_on": "dev" if dev is not None else None,
        "by_k": {str(k): v for k, v in by_k.items()},
    }
    results["kmer_lr"] = _result("kmer_lr", params, test_proba[best], test.labels, classes)
    if cfg.cnn:
        from eval.cnn import CNNConfig, train_cnn  # torch: loaded only when the CNN runs

        ytr = class_positions(classes, train.labels)
        ydev = class_positions(classes, dev.labels) if dev is not None else None
        proba, cnn_params = train_cnn(
            encode(train.sequences)[0],
            ytr,
            encode(dev.sequences)[0] if dev is not None else None,
            ydev,
            encode(test.sequences)[0],
            len(classes),
            CNNConfig(),
        )
        results["cnn"] = _result("cnn", cnn_params, proba, test.labels, classes)
    return results
