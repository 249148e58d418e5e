"""End to end on real data: recipes/findings.toml shortened to CI size runs through every stage
and its report carries a Findings section of the documented schema (its verdicts at 10 steps say
nothing, so they are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.findings import CLAIMS, NOT_SUPPORTED, NOT_TESTED, SUPPORTED
from testbed.recipe import ROOT

# The shipped recipe, shortened: E. coli only, every 16th window, overlapping 6-mers only,
# 10 steps of 16 windows on one rank, a small val subset, one curated task scored once.
SHORTEN = [
    ('sources = ["ecoli_k12", "scerevisiae_s288c"]', 'sources = ["ecoli_k12"]'),
    ("stride = 32 ", "stride = 512 "),
    ('names = ["kmer6-overlap", "char"]', 'names = ["kmer6-overlap"]'),
    ("bases = 2_048_000 ", "bases = 5_120 "),
    ("eval_samples = 4096 ", "eval_samples = 64 "),
    ("evals = 4", "evals = 1"),
    ("nproc = 2                   # two ranks", "nproc = 1                   # one rank"),
    ("master_port = 29830", "master_port = 29850"),
    (  # no suite build in CI (tests/eval/tasks builds and audits a suite task on its own)
        'suite = "core"\ntasks = ["yeast/splice_donor", "yeast/ars"]',
        'tasks = ["UCI/splice_junction"]',
    ),
    ("seeds = 2\n", "seeds = 1\n"),
]


def short_recipe(tmp_path: Path) -> Path:
    text = (ROOT / "recipes" / "findings.toml").read_text()
    for old, new in SHORTEN:
        assert old in text, old  # the shipped recipe changed: update SHORTEN
        text = text.replace(old, new)
    path = tmp_path / "findings-ci.toml"
    path.write_text(text.replace('name = "findings"', 'name = "findings-ci"'))
    return path


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_findings_recipe_end_to_end(tmp_path: Path, data_mirror: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "testbed", str(short_recipe(tmp_path)), "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    tb = json.loads((out / "testbed.json").read_text())

    rows = {(r["vocab"], r["masking"]): r for r in tb["rows"]}
    assert set(rows) == {
        ("kmer6-overlap", m) for m in ("random", "neighbor", "leakfree", "leakfree-hb")
    }
    assert rows[("kmer6-overlap", "leakfree-hb")]["objective"] == "hidden-bases"
    assert all(r["status"] == "ok" for r in tb["rows"])
    assert tb["budget"]["steps"] == 10 and len(tb["runs"]) == 8  # 4 maskings x 2 seeds
    for r in tb["runs"]:
        # the val references are logged beside BPHB
        assert r["val_composition_bphb"] is not None and 1.5 < r["val_composition_bphb"] <= 2.1
        assert r["val_bits_below_composition"] == pytest.approx(
            r["val_composition_bphb"] - r["val_bphb"], abs=1e-9
        )

    f = tb["findings"]
    assert f["vocab"] == "kmer6-overlap"
    assert set(f["rules"]) == {"collapse_nats", "noise_sd"}
    assert [c["id"] for c in f["claims"]] == list(CLAIMS)
    for c in f["claims"]:
        assert set(c) == {"id", "claim", "figures", "verdict", "why"}
        assert c["verdict"] in (SUPPORTED, NOT_SUPPORTED)  # every cell ran: all are tested
        assert c["verdict"] != NOT_TESTED and c["figures"]
        for fig in c["figures"].values():
            assert set(fig) == {"per_seed", "mean", "sd", "n"}
            assert set(fig["per_seed"]) == {"0", "1"} and fig["n"] == 2
    assert len(f["cells"]) == 4 and isinstance(f["context_learned_by"], list)

    md = (out / "testbed.md").read_text()
    section = md[md.index("## Findings") :]
    for cid in CLAIMS:
        assert f"**({cid}) " in section
    assert "## Findings" in done.stdout  # printed on the console too
    printed = subprocess.run(
        [sys.executable, "-m", "testbed.findings", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.startswith("## Findings") and "**(a) " in printed
