from __future__ import annotations

import json

import pytest

from eval.audit import audit_task
from eval.config import AuditConfig
from eval.make_task import main, suite_specs


def test_bad_spec_is_one_line_error(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "a/b"\ngenome = "x.fa"\nlength = 100\nmystery = 1\n')
    assert main([str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {spec}: key 'mystery': unknown key") and "\n" not in err


def test_core_suite_has_the_promised_tasks():
    names = {p.stem for p in suite_specs("core")}
    assert len(names) >= 6
    assert {"yeast_gene_start", "yeast_ars", "yeast_splice_donor", "ecoli_gene_start"} <= names
    assert any("implant" in n for n in names)


@pytest.mark.slow
def test_real_yeast_suite_task_builds_and_passes_the_audit(data_mirror, tmp_path):
    """One suite task from the shared yeast genome + GFF3, then eval/audit.py's checks on it."""
    spec = [p for p in suite_specs("core") if p.stem == "yeast_splice_donor"][0]
    assert main([str(spec), "--out", str(tmp_path)]) == 0
    task = json.loads((tmp_path / "yeast/splice_donor/task.json").read_text())
    assert task["inputs"]["annotation"]["sha256"].startswith("1cbd57bc")
    assert task["shortcut"]["gc_check"] == "passed"
    assert task["shortcut"]["gc_length_lr_auroc"] <= 0.6 < task["shortcut"]["kmer_lr_auroc"]
    assert set(task["records"]["test"]).isdisjoint(task["records"]["train"])
    record, _ = audit_task(
        tmp_path, "yeast/splice_donor", AuditConfig(out=str(tmp_path / "audit"), n_boot=200)
    )
    checks = {r["check"] for r in record["reasons"]}
    assert record["verdict"] != "drop"
    assert not checks & {"leak", "gc_shortcut", "near_duplicates", "label_conflicts"}
    assert record["leak"]["test_rows"] == 0
