"""eval's configs (one definition per CLI) and its file contracts (report/audit/curated)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dnapt.cli import ConfigError, from_mapping, to_argv
from eval.audit import parse_args as audit_args
from eval.config import AuditConfig, MakeTaskConfig, RunConfig
from eval.contracts import AuditResult, ContractError, CuratedList, Report
from eval.make_task import parse_args as make_args
from eval.probe import ProbeConfig
from eval.run import parse_args as run_args
from eval.verdict import AuditThresholds


def test_run_defaults_are_the_cli_defaults() -> None:
    cfg = run_args(["--checkpoint", "a", "--checkpoint", "b", "--out", "o"])
    assert cfg == RunConfig(checkpoints=("a", "b"), out="o")
    assert (cfg.tasks, cfg.protocol, cfg.seeds, cfg.embed_batch_size, cfg.n_boot) == (
        "all",
        "probe",
        3,
        64,
        1000,
    )
    assert cfg.probe.grid == (0.001, 0.01, 0.1, 1.0, 10.0) and cfg.finetune.epochs == 3
    assert cfg.baselines.cnn and cfg.cache_root is not None
    off = run_args(["--checkpoint", "a", "--out", "o", "--no-cache", "--probe-cs", "0.5,2"])
    assert off.cache_root is None and off.probe.grid == (0.5, 2.0)
    assert off.protocol_settings()["Cs"] == [0.5, 2.0]


def test_run_config_round_trips_through_a_mapping_and_argv() -> None:
    table = {
        "checkpoints": ["r1/hf", "r2/hf"],
        "out": "scores",
        "benchmark": "bench",
        "tasks": "curated:a/curated.json",
        "protocol": "finetune",
        "seeds": 2,
        "max_length": 130,
        "n_boot": 200,
        "cache": False,
        "probe": {"Cs": "0.1,1"},
        "finetune": {"learning_rate": 1e-4, "epochs": 2, "warmup_ratio": 0},
    }
    cfg = from_mapping(RunConfig, table, "eval")
    assert cfg.finetune.warmup_ratio == 0.0 and cfg.checkpoints == ("r1/hf", "r2/hf")
    assert run_args(to_argv(cfg)) == cfg
    with pytest.raises(ConfigError, match="eval.seeds 0: must be >= 1"):
        from_mapping(RunConfig, {**table, "seeds": 0}, "eval")
    with pytest.raises(ConfigError, match="--probe-cs 'x'"):
        from_mapping(RunConfig, {**table, "probe": {"Cs": "x"}}, "eval")


def test_audit_and_make_task_configs_round_trip() -> None:
    audit = from_mapping(
        AuditConfig,
        {
            "out": "a",
            "dedup": True,
            "jobs": 2,
            "near_dup": {"k": 6},
            "thresholds": {"leak_drop": 0.1},
        },
    )
    assert audit_args(to_argv(audit)) == audit
    assert audit.settings()["thresholds"]["leak_drop"] == 0.1
    assert list(audit.settings()) == [
        "iupac",
        "dedup",
        "n_boot",
        "thresholds",
        "near_dup",
        "baselines",
    ]
    make = MakeTaskConfig(out=Path("b"), specs=(Path("x.toml"), Path("y.toml")), overwrite=True)
    assert make_args(to_argv(make)) == make
    assert make_args(["--suite", "core", "--out", "b"]).suite == "core"


def test_make_task_wants_specs_or_a_suite(capsys) -> None:
    for argv in (["--out", "b"], ["x.toml", "--suite", "core", "--out", "b"]):
        with pytest.raises(SystemExit) as e:
            make_args(argv)
        assert e.value.code == 2
        assert capsys.readouterr().err == (
            "eval/make_task.py: error: give spec files or --suite NAME (one of the two)\n"
        )


def test_probe_grid_accepts_numbers_in_code_and_threshold_help_reads_plainly() -> None:
    assert ProbeConfig(Cs=(0.1, 1)).Cs == "0.1,1.0"
    with pytest.raises(ConfigError, match="positive numbers"):
        ProbeConfig(Cs="1,-2")
    assert AuditThresholds.help()["ci_width_flag"].startswith("flag when the 95% bootstrap CI")


CURATED = {
    "tasks": ["s/t"],
    "sha256": {"s/t": {"test": "0" * 64}},
    "exclude_test_rows": {"s/t": [1]},
}


def test_curated_list_reads_old_files_and_refuses_unknown_versions(tmp_path: Path) -> None:
    path = tmp_path / "curated.json"
    path.write_text(json.dumps(CURATED))  # written before schema_version existed
    cur = CuratedList.read(path)
    assert cur.tasks == ("s/t",) and cur.exclude_test_rows == {"s/t": [1]} and cur.verdicts == {}
    cur = replace(cur, verdicts={"s/t": "keep"}, benchmark="b")
    cur.write(path)
    assert CuratedList.read(path) == cur and json.loads(path.read_text())["schema_version"] == 1
    path.write_text(json.dumps({**CURATED, "schema_version": 9}))
    with pytest.raises(ContractError) as e:
        CuratedList.read(path)
    assert str(e.value).startswith(f"{path}: schema_version 9 is not one this dnapt reads")
    assert "re-run eval/audit.py" in str(e.value) and "\n" not in str(e.value)
    path.write_text("{")
    with pytest.raises(ContractError, match="cannot read curated task list"):
        CuratedList.read(path)


def test_audit_result_and_report_refuse_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    AuditResult("b", {"iupac": "error"}, ({"task": "s/t", "verdict": "keep"},)).write(path)
    audit = AuditResult.read(path)
    assert audit.verdicts() == {"s/t": "keep"} and audit.record("s/t")["verdict"] == "keep"
    path.write_text(json.dumps({"tasks": [{"verdict": "keep"}]}))
    with pytest.raises(ContractError, match="'task' and 'verdict'; re-run eval/audit.py"):
        AuditResult.read(path)
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema_version": 1, "protocol": "probe"}))
    with pytest.raises(ContractError, match="missing protocol_config.*re-score"):
        Report.read(path)
