"""Linear probe: logistic regression on frozen embeddings, regularization chosen on dev.

A probe asks what a frozen encoder already separates linearly, cheaply and with no training
noise: lbfgs is deterministic, so a pretrained encoder's probe gives the same result for every
seed (the seeds matter for the from-scratch encoders, whose random weights differ per seed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dnapt.cli import ConfigError, option
from eval.metrics import align_proba

if TYPE_CHECKING:
    from eval.benchmark import Task


@dataclass(frozen=True)
class ProbeConfig:
    """``Cs`` is the dev grid (inverse L2 strength on standardized embeddings), written as the
    comma list the CLI takes (``--probe-cs 0.1,1,10``; a tuple of numbers is accepted in code);
    ``grid`` is its numbers. ``default_C`` is used when there is no dev split to choose on."""

    Cs: str = option(
        "0.001,0.01,0.1,1.0,10.0",
        flags=("--probe-cs",),
        help="probe C grid chosen on dev, comma-separated",
    )
    default_C: float = 1.0
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.Cs, str):
            object.__setattr__(self, "Cs", ",".join(str(float(c)) for c in self.Cs))
        self.grid  # noqa: B018 - validates

    @property
    def grid(self) -> tuple[float, ...]:
        try:
            cs = tuple(float(c) for c in self.Cs.split(","))
        except ValueError:
            cs = ()
        if not cs or not all(c > 0 for c in cs):
            raise ConfigError(
                f"--probe-cs {self.Cs!r}: give comma-separated positive numbers, e.g. 0.1,1,10"
            )
        return cs

    def to_dict(self) -> dict[str, Any]:
        """As report.json records it (``Cs`` as a list of numbers)."""
        return {"Cs": list(self.grid), "default_C": self.default_C, "max_iter": self.max_iter}


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
    """Standardize on train, pick C by dev MCC (ties: the stronger regularization), score test.

    The grid is walked from strong to weak regularization with each fit warm-started from the
    previous solution (lbfgs then needs a fraction of the iterations); inputs are standardized
    once. Deterministic: the same embeddings give the same C, predictions and probabilities.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import matthews_corrcoef

    mean = xtr.mean(0)
    sd = xtr.std(0)
    sd[sd == 0] = 1.0
    ztr = (xtr - mean) / sd
    model = LogisticRegression(C=cfg.default_C, max_iter=cfg.max_iter, warm_start=True)

    def fit(c: float) -> LogisticRegression:
        model.set_params(C=c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(ztr, ytr)

    best_c, best_mcc, best_state = cfg.default_C, None, None
    if xdev is not None:
        zdev = (xdev - mean) / sd
        for c in sorted(cfg.grid):
            fit(c)
            mcc = float(matthews_corrcoef(ydev, model.predict(zdev)))
            if best_mcc is None or mcc > best_mcc:
                best_c, best_mcc = c, mcc
                best_state = (model.coef_.copy(), model.intercept_.copy())
    if best_state is None:
        fit(best_c)
    else:
        model.coef_, model.intercept_ = best_state
    proba = align_proba(model.predict_proba((xte - mean) / sd), model.classes_, classes)
    return ProbeResult(np.asarray(classes)[proba.argmax(1)], proba, best_c, best_mcc)


def probe_task(task: Task, emb: dict[str, np.ndarray], cfg: ProbeConfig) -> ProbeResult:
    """``fit_probe`` on one task's embeddings (``emb[split]``): fit on its train split (dev when
    it has none), choose C on its selection split, predict test."""
    y = {s: task.positions(task.splits[s].labels) for s in emb}
    sel = task.selection_split
    return fit_probe(
        emb[task.train_split],
        y[task.train_split],
        emb[sel] if sel else None,
        y[sel] if sel else None,
        emb["test"],
        list(range(len(task.classes))),
        cfg,
    )
