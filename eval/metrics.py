"""Classification metrics and the bootstrap over test rows.

MCC is the primary metric (as in GUE): it is 0 for any constant or chance predictor whatever the
class balance, where accuracy is not. The bootstrap is vectorized (one ``bincount`` over all
resamples) and seeded, so a CI is a deterministic function of the predictions.
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP_SEED = 20240613


def classification_metrics(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: list[int]
) -> dict[str, float | None]:
    """MCC, accuracy, macro-F1 and AUROC (binary; macro one-vs-rest for 3+ classes).

    ``proba`` columns follow ``classes``; AUROC is None without scores.
    """
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    auroc = None
    if proba is not None:
        if len(classes) == 2:
            auroc = float(roc_auc_score(y, proba[:, 1]))
        else:
            auroc = float(
                roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
            )
    return {
        "mcc": float(matthews_corrcoef(y, pred)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=classes, zero_division=0)),
        "auroc": auroc,
    }


def align_proba(proba: np.ndarray, fitted: np.ndarray, classes: list[int]) -> np.ndarray:
    """Probability columns re-ordered to ``classes`` (0 for a class absent from training)."""
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, [classes.index(int(c)) for c in fitted]] = proba
    return out


def bootstrap_indices(n: int, n_boot: int = 1000, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``[n_boot, n]`` resampled row indices; shared by every model of a task so CIs pair up."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _mcc_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Multi-class MCC (Gorodkin's R_K, as sklearn) of ``[..., K, K]`` confusion matrices."""
    t = cm.sum(-1).astype(np.float64)  # true counts per class
    p = cm.sum(-2).astype(np.float64)  # predicted counts per class
    s = t.sum(-1)
    c = np.trace(cm, axis1=-2, axis2=-1).astype(np.float64)
    cov_ytyp = c * s - (t * p).sum(-1)
    cov_ypyp = s**2 - (p * p).sum(-1)
    cov_ytyt = s**2 - (t * t).sum(-1)
    denom = np.sqrt(cov_ytyt * cov_ypyp)
    return np.divide(cov_ytyp, denom, out=np.zeros_like(cov_ytyp), where=denom > 0)


def bootstrap_mcc(y: np.ndarray, preds: np.ndarray, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """MCC of the seed-mean on each resample: ``preds`` is ``[S, n]`` (seeds × rows) of class
    positions in 0..K-1; returns ``[n_boot]`` values of mean-over-seeds MCC."""
    preds = np.atleast_2d(preds)
    n_boot = idx.shape[0]
    n_seeds = preds.shape[0]
    k = n_classes
    yb = y[idx]  # [B, n]
    out = np.zeros(n_boot)
    for s in range(n_seeds):
        cell = yb * k + preds[s][idx]
        flat = (np.arange(n_boot)[:, None] * k * k + cell).ravel()
        cm = np.bincount(flat, minlength=n_boot * k * k).reshape(n_boot, k, k)
        out += _mcc_from_confusion(cm)
    return out / n_seeds


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values."""
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
