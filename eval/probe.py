"""Linear probe: logistic regression on frozen embeddings, regularization chosen on dev.

A probe asks what a frozen encoder already separates linearly, cheaply and with no training
noise: lbfgs is deterministic, so a pretrained encoder's probe gives the same result for every
seed (the seeds matter for the from-scratch encoders, whose random weights differ per seed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import matthews_corrcoef

from eval.metrics import align_proba


@dataclass(frozen=True)
class ProbeConfig:
    """``Cs`` is the dev grid (inverse L2 strength on standardized embeddings); ``default_C``
    is used when there is no dev split to choose on."""

    Cs: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
    default_C: float = 1.0
    max_iter: int = 1000


@dataclass
class ProbeResult:
    """Test predictions (labels), class probabilities (columns in task class order), chosen C."""

    pred: np.ndarray
    proba: np.ndarray
    C: float
    dev_mcc: float | None


def fit_probe(
    xtr: np.ndarray,
    ytr: np.ndarray,
    xdev: np.ndarray | None,
    ydev: np.ndarray | None,
    xte: np.ndarray,
    classes: list[int],
    cfg: ProbeConfig,
) -> ProbeResult:
    """Standardize on train, pick C by dev MCC (ties: the stronger regularization), score test."""
    mean = xtr.mean(0)
    sd = xtr.std(0)
    sd[sd == 0] = 1.0

    def fit(c: float) -> LogisticRegression:
        model = LogisticRegression(C=c, max_iter=cfg.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit((xtr - mean) / sd, ytr)

    best_c, best_mcc, best_model = cfg.default_C, None, None
    if xdev is not None:
        for c in sorted(cfg.Cs):
            model = fit(c)
            mcc = float(matthews_corrcoef(ydev, model.predict((xdev - mean) / sd)))
            if best_mcc is None or mcc > best_mcc:
                best_c, best_mcc, best_model = c, mcc, model
    model = best_model or fit(best_c)
    proba = align_proba(model.predict_proba((xte - mean) / sd), model.classes_, classes)
    return ProbeResult(np.asarray(classes)[proba.argmax(1)], proba, best_c, best_mcc)
