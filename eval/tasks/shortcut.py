"""The built-in shortcut check: how far GC content + length, or a bag of k-mers, get on test.

The same logistic regressions as the audit's baselines (eval/baselines.py: trained on train, k
chosen on dev), reported as test AUROC. A task whose negatives were GC-matched must leave GC+length
near chance; above ``MAX_GC_AUROC`` the matching failed and the builder refuses the task unless
``--allow-gc-shortcut`` is given.
"""

from __future__ import annotations

from eval.baselines import BaselineConfig, run_baselines
from eval.benchmark import Task

MAX_GC_AUROC = 0.60


def shortcut_check(task: Task) -> dict:
    """GC+length LR and k-mer LR test AUROC (and MCC), with the k the k-mer LR chose on dev."""
    res = run_baselines(task, BaselineConfig())
    gc, kmer = res["gc_length_lr"].metrics, res["kmer_lr"].metrics
    return {
        "gc_length_lr_auroc": round(float(gc["auroc"]), 4),
        "gc_length_lr_mcc": round(float(gc["mcc"]), 4),
        "kmer_lr_auroc": round(float(kmer["auroc"]), 4),
        "kmer_lr_mcc": round(float(kmer["mcc"]), 4),
        "kmer_k": res["kmer_lr"].params["k"],
        "max_gc_length_auroc": MAX_GC_AUROC,
    }
