"""Turn gathered test predictions into the report's numbers (rank 0 only).

Per model and task: MCC / accuracy / macro-F1 / AUROC per seed, their mean and sd, and a
bootstrap 95% CI of the seed-mean MCC. Every model of a task is resampled with the same test
rows, so the pretrained-minus-from-scratch difference gets a paired CI: pretraining "beats"
from-scratch on a task only when that whole interval is above 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eval.benchmark import Task
from eval.metrics import bootstrap_indices, bootstrap_mcc, classification_metrics, percentile_ci

METRICS = ("mcc", "accuracy", "macro_f1", "auroc")


@dataclass
class SeedRun:
    """One seed of one model on one task: test predictions as class positions (0..K-1)."""

    seed: int
    pred: np.ndarray
    proba: np.ndarray
    extra: dict


def summarize(task: Task, runs: list[SeedRun], idx: np.ndarray) -> tuple[dict, np.ndarray]:
    """Per-seed metrics, mean ± sd and the MCC CI; also the bootstrap values for pairing."""
    y = task.positions(task.test.labels)
    k = len(task.classes)
    positions = list(range(k))
    per_seed = []
    for run in runs:
        m = classification_metrics(y, run.pred, run.proba, positions)
        per_seed.append({"seed": run.seed, **m, **run.extra})
    boot = bootstrap_mcc(y, np.stack([r.pred for r in runs]), idx, k)
    mean, sd = {}, {}
    for name in METRICS:
        values = [s[name] for s in per_seed if s[name] is not None]
        mean[name] = float(np.mean(values)) if values else None
        sd[name] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0 if values else None
    summary = {"per_seed": per_seed, "mean": mean, "sd": sd, "mcc_ci95": list(percentile_ci(boot))}
    return summary, boot


def compare(pretrained: np.ndarray, scratch: np.ndarray, observed: float) -> dict:
    """Paired bootstrap of pretrained − from-scratch seed-mean MCC and the verdict."""
    lo, hi = percentile_ci(pretrained - scratch)
    if lo > 0:
        verdict = "pretraining beats from-scratch"
    elif hi < 0:
        verdict = "from-scratch beats pretraining"
    else:
        verdict = "no significant difference"
    return {
        "delta_mcc": observed,
        "delta_mcc_ci95": [lo, hi],
        "verdict": verdict,
        "statement": f"{verdict}: ΔMCC {observed:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}]",
    }


def score_task(
    task: Task,
    models: dict[str, dict[str, list[SeedRun]]],
    baselines: dict[str, SeedRun],
    n_boot: int,
) -> dict:
    """All numbers of one task: ``models[name][init]`` seed runs and the shortcut baselines."""
    idx = bootstrap_indices(len(task.test), n_boot)
    out: dict = {"models": {}, "baselines": {}, "comparisons": {}}
    for name, run in baselines.items():
        summary, _ = summarize(task, [run], idx)
        out["baselines"][name] = {
            **{m: summary["mean"][m] for m in METRICS},
            "mcc_ci95": summary["mcc_ci95"],
            "params": run.extra,
        }
    for name, inits in models.items():
        boots = {}
        out["models"][name] = {}
        for init, runs in inits.items():
            out["models"][name][init], boots[init] = summarize(task, runs, idx)
        delta = (
            out["models"][name]["pretrained"]["mean"]["mcc"]
            - out["models"][name]["scratch"]["mean"]["mcc"]
        )
        out["comparisons"][name] = compare(boots["pretrained"], boots["scratch"], delta)
    return out
