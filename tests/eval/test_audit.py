"""The audit: each verdict rule, the CLI outputs on a constructed benchmark, real verdicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from eval.audit import main as audit_main
from eval.dedup import reverse_complement
from eval.verdict import AuditThresholds, in_default_list, judge
from tests.eval.evalkit import random_seqs, write_task

CLEAN = {
    "test_size": 1000,
    "mcc_ci95_width": 0.1,
    "baselines": {"kmer_lr": {"mcc": 0.6}, "gc_length_lr": {"mcc": 0.1}},
    "leak": {"test_rows": 0, "frac": 0.0},
    "repair": {"applied": False, "removed_test_rows": 0},
    "near_duplicates": {"test_rows": 0, "test_frac": 0.0},
    "label_conflicts": {"sequences": 0, "rows": 0},
    "total_rows": 5000,
    "class_balance": {"test_minority_frac": 0.5},
    "duplicates": {"within": {"train": {"with_rc": 0}}},
    "splits": {"train": {"n": 3000}},
    "train_split": "train",
    "protocol_note": "",
}


def _with(**changes) -> dict:
    record = copy.deepcopy(CLEAN)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = record
        for p in parents:
            node = node[p]
        node[leaf] = value
    return record


@pytest.mark.parametrize(
    ("changes", "verdict", "check"),
    [
        ({}, "keep", None),
        ({"baselines__kmer_lr__mcc": 0.93}, "drop", "saturation"),
        ({"test_size": 50}, "drop", "test_size"),
        ({"mcc_ci95_width": 0.2}, "flag", "ci_width"),
        ({"mcc_ci95_width": 0.4}, "drop", "ci_width"),
        ({"leak__test_rows": 3, "leak__frac": 0.003}, "flag", "leak"),
        ({"leak__test_rows": 90, "leak__frac": 0.09}, "drop", "leak"),
        ({"leak__frac": 0.09, "repair__applied": True}, "keep", "leak"),
        ({"near_duplicates__test_frac": 0.08}, "flag", "near_duplicates"),
        ({"label_conflicts__rows": 80}, "flag", "label_conflicts"),
        ({"baselines__gc_length_lr__mcc": 0.5}, "flag", "gc_shortcut"),
        ({"baselines__gc_length_lr__mcc": 0.2, "baselines__kmer_lr__mcc": 0.2}, "keep", None),
        ({"class_balance__test_minority_frac": 0.05}, "flag", "class_balance"),
        ({"duplicates__within__train__with_rc": 600}, "flag", "train_duplicates"),
        ({"protocol_note": "no train split: trained on dev"}, "flag", "protocol"),
    ],
)
def test_verdict_rules(changes: dict, verdict: str, check: str | None) -> None:
    got, reasons = judge(_with(**changes), AuditThresholds())
    assert got == verdict
    assert [r["check"] for r in reasons] == ([check] if check else [])


def test_thresholds_are_configurable() -> None:
    record = _with(mcc_ci95_width=0.2)
    assert judge(record, AuditThresholds(ci_width_flag=0.25))[0] == "keep"


def _labelled(rng, n: int, gc: tuple[float, float], length: int = 50) -> list[tuple[str, int]]:
    y = rng.integers(0, 2, n)
    return [(random_seqs(rng, 1, length, gc[v])[0], int(v)) for v in y]


@pytest.fixture(scope="module")
def constructed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tasks: one GC-separable (saturated), one whose test leaks train via RC copies."""
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    sep = (0.2, 0.8)
    write_task(
        root,
        "syn/gc",
        {
            "train": _labelled(rng, 300, sep),
            "dev": _labelled(rng, 100, sep),
            "test": _labelled(rng, 300, sep),
        },
    )
    weak = (0.45, 0.55)
    train = _labelled(rng, 400, weak)
    test = _labelled(rng, 300, weak)
    test[:12] = [(reverse_complement(s), y) for s, y in train[:12]]
    write_task(root, "syn/leaky", {"train": train, "dev": _labelled(rng, 100, weak), "test": test})
    return root


def test_audit_cli_outputs_and_dedup_repair(constructed: Path, tmp_path: Path) -> None:
    plain, repaired = tmp_path / "plain", tmp_path / "repaired"
    assert (
        audit_main(["--benchmark", str(constructed), "--out", str(plain), "--n-boot", "200"]) == 0
    )
    audit = json.loads((plain / "audit.json").read_text())
    records = {r["task"]: r for r in audit["tasks"]}
    gc = records["syn/gc"]
    assert gc["saturated"] and gc["verdict"] == "drop"
    assert gc["baselines"]["gc_length_lr"]["mcc"] > 0.9
    assert {"saturation", "gc_shortcut"} <= {r["check"] for r in gc["reasons"]}
    leaky = records["syn/leaky"]
    assert leaky["duplicates"]["across"]["train|test"] == {"exact": 0, "with_rc": 12}
    assert leaky["leak"]["test_rows"] == 12 and leaky["verdict"] == "flag"
    assert leaky["near_duplicates"]["test_rows"] >= 12
    curated = json.loads((plain / "curated.json").read_text())
    # flagged for a leak: out of the default list, scored only when named explicitly
    assert curated["tasks"] == [] and curated["flagged"] == ["syn/leaky"]
    assert curated["exclude_test_rows"] == {} and curated["verdicts"]["syn/leaky"] == "flag"
    assert set(curated["sha256"]["syn/gc"]) == {"train", "dev", "test"}
    assert curated["config"]["thresholds"]["saturation_mcc"] == 0.9
    assert "| syn/leaky |" in (plain / "audit.md").read_text()

    assert (
        audit_main(
            ["--benchmark", str(constructed), "--out", str(repaired), "--dedup", "--n-boot", "200"]
        )
        == 0
    )
    records = {r["task"]: r for r in json.loads((repaired / "audit.json").read_text())["tasks"]}
    leaky = records["syn/leaky"]
    assert leaky["repair"] == {"applied": True, "removed_test_rows": 12}
    assert leaky["test_size"] == 288
    assert any(r["check"] == "leak" and r["severity"] == "info" for r in leaky["reasons"])
    assert leaky["near_duplicates"]["test_rows"] < 12
    curated = json.loads((repaired / "curated.json").read_text())
    assert curated["exclude_test_rows"] == {"syn/leaky": list(range(12))}


def test_audit_cli_reports_malformed_input(tmp_path: Path, capsys) -> None:
    write_task(
        tmp_path, "s/bad", {"train": [("ACGT", 0), ("ACXT", 1)], "test": [("ACGT", 0), ("ACGA", 1)]}
    )
    assert audit_main(["--benchmark", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    # one unwrapped line, however long tmp_path is (rich would wrap it at 80 columns)
    [line] = [x for x in err.splitlines() if "outside ACGTN" in x]
    assert line.startswith("eval/audit.py: error: ")
    assert f"{tmp_path / 's' / 'bad' / 'train.csv.gz'}: line 3: character 'X' outside ACGTN" in line


REAL = ["UCI/ecoli_promoters", "iPromoter2L/ecoli_promoter", "GUE/EMP_H3", "GUE/prom_core_tata"]


@pytest.mark.slow
def test_real_task_verdicts(benchmark_dir: Path, tmp_path: Path) -> None:
    """Sensible verdicts on shared tasks (the reasons are in docs/evaluation.md's verdict table)."""
    out = tmp_path / "audit"
    argv = [
        "--benchmark",
        str(benchmark_dir),
        "--out",
        str(out),
        "--tasks",
        ",".join(REAL),
        "--dedup",
    ]
    assert audit_main(argv) == 0
    records = {r["task"]: r for r in json.loads((out / "audit.json").read_text())["tasks"]}
    checks = {t: {x["check"] for x in r["reasons"]} for t, r in records.items()}
    assert records["UCI/ecoli_promoters"]["verdict"] == "drop"
    assert {"test_size", "ci_width"} <= checks["UCI/ecoli_promoters"]
    assert records["iPromoter2L/ecoli_promoter"]["verdict"] == "flag"
    assert {"gc_shortcut", "near_duplicates"} <= checks["iPromoter2L/ecoli_promoter"]
    assert records["GUE/EMP_H3"]["verdict"] == "flag"
    assert {"protocol", "gc_shortcut"} <= checks["GUE/EMP_H3"]
    tata = records["GUE/prom_core_tata"]
    assert tata["leak"]["test_rows"] == 16 and tata["repair"]["removed_test_rows"] == 16
    curated = json.loads((out / "curated.json").read_text())
    assert "UCI/ecoli_promoters" not in curated["tasks"]
    assert len(curated["exclude_test_rows"]["GUE/prom_core_tata"]) == 16


def test_default_list_keeps_precision_flags_only() -> None:
    ci = {"check": "ci_width", "severity": "flag", "message": ""}
    gc = {"check": "gc_shortcut", "severity": "flag", "message": ""}
    info = {"check": "leak", "severity": "info", "message": ""}
    assert in_default_list("keep", [info])
    assert in_default_list("flag", [ci, info])
    assert not in_default_list("flag", [ci, gc])
    assert not in_default_list("drop", [ci])


@pytest.mark.parametrize("flag", ["--n-boot", "--jobs"])
def test_audit_rejects_zero_counts(flag: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        audit_main(["--out", str(tmp_path / "o"), flag, "0"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == f"eval/audit.py: error: {flag} 0: must be >= 1\n"
