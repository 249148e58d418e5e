"""The testbed's Findings: the masking claims, measured on a results folder.

The claims: copy-prone masking collapses the training loss on overlapping k-mers; that gain does
not transfer to predicting hidden bases; the hidden-bases objective lowers BPHB.

Each claim is stated, measured per training seed (runs of two cells are paired by seed), and
given a verdict computed from those numbers with the rules below, never typed in:

* (a) copy-prone masking collapses the training loss: on an overlapping k-mer vocabulary, the
  ``leakfree`` cell's final train loss minus the ``random`` cell's (nats per labelled token).
  Supported when the gap is positive for every seed and its mean is at least ``COLLAPSE_NATS``.
* (b) that gain does not transfer to predicting hidden bases: ``random`` minus ``leakfree`` in
  val loss and val BPHB under the fixed leak-free validation masking. Supported when the
  copy-trained model is not better on either, beyond seed noise: mean difference >=
  ``-NOISE_SD`` x its sd over seeds for both.
* (c) what the hidden-bases objective changes: ``leakfree`` (token loss) minus ``leakfree-hb``
  (``objective = "hidden-bases"``, same masking) in val BPHB. Supported ("it lowers BPHB") when
  the difference is positive for every seed and its mean exceeds ``NOISE_SD`` sds.

With one seed the sd is 0, so only the sign rules decide. A claim whose cells are missing or
failed is "not tested". Alongside, every cell's bits below composition (val BPHB under the
train split's base composition on the same hidden bases) says whether any model learned context.
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnapt.cli import command_parser, option, parse_config
from testbed.fmt import pm

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported at this budget"
NOT_TESTED = "not tested"
COLLAPSE_NATS = 1.0  # (a): a train-loss gap this large is a collapse, not a wobble
NOISE_SD = 2.0  # (b), (c): differences within this many seed sds count as noise

CLAIMS = {
    "a": "Copy-prone masking collapses the training loss on overlapping k-mers "
    "(leakfree minus random final train loss, nats per labelled token).",
    "b": "That gain does not transfer to predicting hidden bases: under the fixed leak-free "
    "validation masking the random-masked model is no better than the leak-free one "
    "(random minus leakfree; val loss in nats, val BPHB in bits).",
    "c": "The hidden-bases objective lowers val BPHB under the same leak-free masking "
    "(leakfree minus leakfree-hb, bits per hidden base).",
}


def _summary(per_seed: dict[int, float]) -> dict[str, Any]:
    vals = list(per_seed.values())
    return {
        "per_seed": {str(k): v for k, v in sorted(per_seed.items())},
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None),
        "n": len(vals),
    }


def _by_seed(runs: list[dict[str, Any]], vocab: str, strategy: str, objective: str, key: str):
    """seed -> metric of the ok runs of one cell (identified by strategy and objective)."""
    out = {}
    for r in runs:
        same = (r["vocab"], r["strategy"], r.get("objective", "tokens")) == (
            vocab,
            strategy,
            objective,
        )
        if same and r["status"] == "ok" and r.get(key) is not None and math.isfinite(r[key]):
            out[int(r["seed"])] = float(r[key])
    return out


def _diff(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """a - b over the seeds both have."""
    return {s: a[s] - b[s] for s in sorted(set(a) & set(b))}


def _not_tested(cid: str, missing: str) -> dict[str, Any]:
    return {"id": cid, "claim": CLAIMS[cid], "figures": {}, "verdict": NOT_TESTED, "why": missing}


def _claim_a(runs: list[dict[str, Any]], vocab: str) -> dict[str, Any]:
    rnd = _by_seed(runs, vocab, "random", "tokens", "final_train_loss")
    lf = _by_seed(runs, vocab, "leakfree", "tokens", "final_train_loss")
    gap = _diff(lf, rnd)
    if not gap:
        return _not_tested("a", f"needs ok {vocab} x random and x leakfree runs of one seed")
    s = _summary(gap)
    figures = {"train_loss_gap": s, "random": _summary(rnd), "leakfree": _summary(lf)}
    nb = _diff(lf, _by_seed(runs, vocab, "neighbor", "tokens", "final_train_loss"))
    if nb:
        figures["neighbor_gap"] = _summary(nb)
    ok = all(v > 0 for v in gap.values()) and s["mean"] >= COLLAPSE_NATS
    why = (
        f"gap {s['mean']:.2f} ± {s['sd']:.2f} nats over {s['n']} seed(s); rule: > 0 for every "
        f"seed and mean >= {COLLAPSE_NATS} nat"
    )
    return {"id": "a", "claim": CLAIMS["a"], "figures": figures, "verdict": _v(ok), "why": why}


def _not_better(d: dict[str, Any]) -> bool:
    return d["mean"] >= -NOISE_SD * d["sd"] and (d["sd"] > 0 or d["mean"] >= 0)


def _claim_b(runs: list[dict[str, Any]], vocab: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for key, name in (("val_loss", "val_loss_diff"), ("val_bphb", "val_bphb_diff")):
        d = _diff(
            _by_seed(runs, vocab, "random", "tokens", key),
            _by_seed(runs, vocab, "leakfree", "tokens", key),
        )
        if d:
            figures[name] = _summary(d)
    if len(figures) < 2:
        return _not_tested("b", f"needs ok {vocab} x random and x leakfree runs with val metrics")
    for strategy in ("random", "leakfree"):
        figures[f"{strategy}_val_loss"] = _summary(
            _by_seed(runs, vocab, strategy, "tokens", "val_loss")
        )
        figures[f"{strategy}_val_bphb"] = _summary(
            _by_seed(runs, vocab, strategy, "tokens", "val_bphb")
        )
    ok = all(_not_better(figures[n]) for n in ("val_loss_diff", "val_bphb_diff"))
    lo, bp = figures["val_loss_diff"], figures["val_bphb_diff"]
    why = (
        f"random - leakfree: val loss {lo['mean']:+.3f} ± {lo['sd']:.3f} nats, val BPHB "
        f"{bp['mean']:+.4f} ± {bp['sd']:.4f} bits; rule: neither below -{NOISE_SD} sd"
    )
    return {"id": "b", "claim": CLAIMS["b"], "figures": figures, "verdict": _v(ok), "why": why}


def _claim_c(runs: list[dict[str, Any]], vocab: str) -> dict[str, Any]:
    lf = _by_seed(runs, vocab, "leakfree", "tokens", "val_bphb")
    hb = _by_seed(runs, vocab, "leakfree", "hidden-bases", "val_bphb")
    d = _diff(lf, hb)
    if not d:
        return _not_tested(
            "c", f"needs ok {vocab} x leakfree runs with objective tokens and hidden-bases"
        )
    s = _summary(d)
    figures = {"val_bphb_diff": s, "leakfree_val_bphb": _summary(lf), "hb_val_bphb": _summary(hb)}
    ok = all(v > 0 for v in d.values()) and s["mean"] > NOISE_SD * s["sd"]
    why = (
        f"leakfree - leakfree-hb val BPHB {s['mean']:+.4f} ± {s['sd']:.4f} bits over {s['n']} "
        f"seed(s); rule: > 0 for every seed and mean > {NOISE_SD} sd"
    )
    return {"id": "c", "claim": CLAIMS["c"], "figures": figures, "verdict": _v(ok), "why": why}


def _v(ok: bool) -> str:
    return SUPPORTED if ok else NOT_SUPPORTED


def _context(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: val BPHB, its composition reference and the bits below it."""
    keys = ("val_bphb", "val_composition_bphb", "val_bits_below_composition", "val_loss")
    return [
        {"vocab": r["vocab"], "masking": r["masking"], **{k: r.get(k) for k in keys}} for r in rows
    ]


def build_findings(runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """testbed.json ``findings``: the claims on the first overlapping k-mer vocabulary of the
    matrix, and every cell's references. ``runs`` are testbed.json run records."""
    vocabs = list(dict.fromkeys(r["vocab"] for r in runs))
    vocab = next((v for v in vocabs if "overlap" in v), None)
    if vocab is None:
        claims = [_not_tested(c, "needs an overlapping k-mer vocabulary") for c in CLAIMS]
    else:
        claims = [_claim_a(runs, vocab), _claim_b(runs, vocab), _claim_c(runs, vocab)]
    learned = [
        f"{r['vocab']} × {r['masking']}"
        for r in rows
        if r.get("val_bits_below_composition") is not None
        and r["val_bits_below_composition"]
        > NOISE_SD * (r.get("val_bits_below_composition_sd") or 0)
        and r["val_bits_below_composition"] > 0
    ]
    return {
        "vocab": vocab,
        "rules": {"collapse_nats": COLLAPSE_NATS, "noise_sd": NOISE_SD},
        "claims": claims,
        "cells": _context(rows),
        "context_learned_by": learned,
    }


def findings_markdown(tb: dict[str, Any]) -> list[str]:
    """The Findings section: each claim, its measured figures and the computed verdict."""
    f = tb.get("findings")
    if not f:
        return []
    out = ["## Findings", ""]
    if f["vocab"]:
        out += [f"Measured on `{f['vocab']}`; seeds paired by training seed (mean ± sd).", ""]
    for c in f["claims"]:
        out.append(f"- **({c['id']}) {c['verdict']}.** {c['claim']}")
        out.append(f"  Basis: {c['why']}.")
        for name, fig in c["figures"].items():
            seeds = ", ".join(f"s{k} {v:.4g}" for k, v in fig["per_seed"].items())
            out.append(f"  - {name}: {pm(fig['mean'], fig['sd'], 4)} ({seeds})")
    learned = f.get("context_learned_by") or []
    out += [
        "",
        "Context beyond base composition (val BPHB below the composition reference by more "
        f"than {f['rules']['noise_sd']:g} seed sds): "
        + (", ".join(learned) if learned else "no cell at this budget")
        + ".",
        "",
    ]
    return out


@dataclass(frozen=True)
class FindingsConfig:
    """``python -m testbed.findings``'s arguments."""

    results: Path = option(help="a testbed results folder (holds testbed.json)", flags=("results",))


def build_parser() -> argparse.ArgumentParser:
    """The findings CLI, generated from ``FindingsConfig``."""
    return command_parser(
        FindingsConfig,
        prog="python -m testbed.findings",
        description="Print the Findings section (claims, measured figures, verdicts) of a "
        "testbed results folder, recomputed from its testbed.json.",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m testbed.findings RESULTS``: print a finished testbed run's Findings section."""
    import json
    import sys

    args = parse_config(FindingsConfig, build_parser(), argv)
    if args is None:
        return 2
    path = args.results / "testbed.json"
    try:
        tb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(
            f"python -m testbed.findings: {path}: cannot read ({e}); run the recipe first",
            file=sys.stderr,
        )
        return 2
    # Recomputed from the rows and runs, so a report from before the Findings section also works.
    tb["findings"] = build_findings(tb.get("runs", []), tb.get("rows", []))
    print("\n".join(findings_markdown(tb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
