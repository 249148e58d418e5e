"""testbed.findings: the Findings claims get verdicts from the numbers, never typed in."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.findings import NOT_SUPPORTED, NOT_TESTED, SUPPORTED, build_findings


def run(masking: str, seed: int, objective: str = "tokens", vocab: str = "kmer6-overlap", **m):
    strategy = "leakfree" if masking.startswith("leakfree") else masking
    return {
        "vocab": vocab,
        "masking": masking,
        "strategy": strategy,
        "objective": objective,
        "seed": seed,
        "status": "ok",
        **m,
    }


def matrix(
    random_loss: tuple[float, float], random_bphb: tuple[float, float], hb_bphb: tuple[float, float]
) -> list[dict[str, Any]]:
    out = []
    for s in (0, 1):
        out.append(
            run(
                "random",
                s,
                final_train_loss=random_loss[s],
                val_loss=8.6 + 0.1 * s,
                val_bphb=random_bphb[s],
            )
        )
        out.append(run("leakfree", s, final_train_loss=8.15, val_loss=8.25, val_bphb=2.010))
        out.append(
            run(
                "leakfree-hb",
                s,
                objective="hidden-bases",
                final_train_loss=1.38,
                val_loss=9.0,
                val_bphb=hb_bphb[s],
            )
        )
    return out


def verdicts(f: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in f["claims"]}


def test_verdicts_follow_the_numbers() -> None:
    f = build_findings(matrix((3.5, 3.4), (2.02, 2.03), (1.99, 1.995)), [])
    assert verdicts(f) == {"a": SUPPORTED, "b": SUPPORTED, "c": SUPPORTED}
    a = f["claims"][0]["figures"]["train_loss_gap"]
    assert a["per_seed"] == {"0": pytest.approx(4.65), "1": pytest.approx(4.75)}
    assert a["mean"] == pytest.approx(4.70) and a["n"] == 2
    # no collapse, random better at hidden bases, hidden-bases objective worse
    f = build_findings(matrix((8.0, 8.1), (1.90, 1.91), (2.05, 2.06)), [])
    assert verdicts(f) == {"a": NOT_SUPPORTED, "b": NOT_SUPPORTED, "c": NOT_SUPPORTED}


def test_missing_or_failed_cells_are_not_tested() -> None:
    runs = [r for r in matrix((3.5, 3.4), (2.02, 2.03), (1.99, 1.995)) if r["masking"] != "random"]
    f = build_findings(runs, [])
    assert verdicts(f) == {"a": NOT_TESTED, "b": NOT_TESTED, "c": SUPPORTED}
    runs = matrix((3.5, 3.4), (2.02, 2.03), (1.99, 1.995))
    for r in runs:
        r["status"] = "failed"
    assert set(verdicts(build_findings(runs, [])).values()) == {NOT_TESTED}
    char_only = [run("random", 0, vocab="char", final_train_loss=1.3, val_bphb=1.98)]
    f = build_findings(char_only, [])
    assert f["vocab"] is None and set(verdicts(f).values()) == {NOT_TESTED}


def test_context_needs_bits_below_composition_beyond_noise() -> None:
    rows = [
        {
            "vocab": "char",
            "masking": "leakfree",
            "val_bits_below_composition": 0.05,
            "val_bits_below_composition_sd": 0.01,
        },
        {
            "vocab": "char",
            "masking": "random",
            "val_bits_below_composition": 0.01,
            "val_bits_below_composition_sd": 0.02,
        },
        {
            "vocab": "kmer6-overlap",
            "masking": "random",
            "val_bits_below_composition": -0.03,
            "val_bits_below_composition_sd": 0.0,
        },
    ]
    f = build_findings([], rows)
    assert f["context_learned_by"] == ["char × leakfree"]
    assert len(f["cells"]) == 3
