"""End to end on real data: the smoke recipe through every stage, the report's schema, every
expected cell, then a rerun that skips everything."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.recipe import ROOT

EXPECTED = [("char", "leakfree"), ("kmer6-overlap", "neighbor"), ("kmer6-overlap", "leakfree")]
ROW_NUMBERS = (
    "final_train_loss",
    "val_bphb",
    "leak_frac",
    "hidden_base_frac",
    "mcc_mean",
    "mcc_sd",
    "scratch_mcc_mean",
    "tokens_per_s",
    "wall_s",
)


def run_smoke(out: Path) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "testbed", "recipes/smoke.toml", "--out", str(out)]
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1400)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_smoke_recipe_end_to_end(tmp_path: Path, data_mirror: Path) -> None:
    out = tmp_path / "smoke"
    run_smoke(out)
    tb = json.loads((out / "testbed.json").read_text())

    assert [(r["vocab"], r["masking"]) for r in tb["rows"]] == EXPECTED
    for row in tb["rows"]:
        assert row["status"] == "ok" and row["scored"], row
        for key in ROW_NUMBERS:
            assert isinstance(row[key], float), (row["vocab"], row["masking"], key)
        assert set(row["tasks"]) == {"UCI/splice_junction"}
    assert [(s["vocab"], s["masking"]) for s in tb["skipped"]] == [("char", "neighbor")]
    rows = {(r["vocab"], r["masking"]): r for r in tb["rows"]}
    assert rows[("char", "leakfree")]["leak_frac"] == 0.0  # the masking audit reaches the table
    assert rows[("kmer6-overlap", "neighbor")]["leak_frac"] > 0.5

    assert tb["eval"]["dropped"] == ["UCI/ecoli_promoters"]
    assert tb["eval"]["curated_tasks"] == ["UCI/splice_junction"]
    task = tb["tasks"]["UCI/splice_junction"]
    assert {"kmer_lr", "gc_length_lr", "majority"} <= set(task["baselines"])
    assert tb["budget"]["steps"] == 20 and tb["budget"]["bases_seen"] == 40_960
    assert {r["steps"] for r in tb["runs"]} == {20}
    rep = tb["reproducibility"]
    assert rep["git"]["commit"] and rep["packages"]["torch"] and rep["hardware"]["cpu_count"]
    assert len(rep["data"]["manifest_sha256"]) == 64
    assert set(tb["resolved_ds_configs"]) == {r["id"] for r in tb["runs"]}
    for name in ("testbed.md", "loss_curves.png", "bphb_vs_mcc.png"):
        assert (out / name).stat().st_size > 0
    assert "| char | leakfree |" in (out / "testbed.md").read_text()

    # A second run finds everything done: no stage runs, and it takes well under a minute.
    again, seconds = run_smoke(out)
    assert again.stdout.count("done before, skipped") == len(EXPECTED)
    steps = json.loads((out / "testbed.json").read_text())["timing"]["steps"]
    assert all(steps[s]["skipped"] for s in ("shard", "analysis", "audit", "eval"))
    assert seconds < 60
