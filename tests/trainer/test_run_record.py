"""RUN/config.json and RUN/metrics.jsonl through their contract: round trips, files from before
schema_version, and one-line errors naming the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.config import parse_args
from trainer.run_record import (
    SCHEMA_VERSION,
    ResolvedRun,
    RunData,
    RunRecordError,
    TrainRecord,
    ValRecord,
    read_metrics,
    record,
)


def config(tmp_path: Path) -> ResolvedRun:
    train = parse_args(["--ds_config", "ds.json", "--data", "d/char", "--out", str(tmp_path)])
    return ResolvedRun(
        train=train,
        world_size=2,
        max_len=130,
        data=RunData("char", 10, "char", 1, 128, 128, "a" * 64, "b" * 64),
        val_masking={"strategy": "leakfree"},
        model={"model_type": "bert"},
        ds_config={"zero_optimization": {"stage": 2}},
    )


def test_config_round_trip_and_old_files(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = tmp_path / "config.json"
    cfg.write(path)
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert ResolvedRun.read(path) == cfg and cfg.zero_stage == 2
    old = cfg.to_json()
    del old["schema_version"]  # written before the field existed
    path.write_text(json.dumps(old))
    assert ResolvedRun.read(path).train == cfg.train


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.update(schema_version=9), "schema_version 9 is newer than this dnapt reads"),
        (lambda d: d.pop("model"), "missing model; not a complete dnapt run config"),
        (lambda d: d["train"].update(max_steps=0), "train.max_steps 0: must be > 0"),
        (lambda d: d.update(world_size="2"), "world_size '2' must be an integer"),
    ],
)
def test_config_errors_name_the_file(tmp_path: Path, edit, fragment: str) -> None:
    data = config(tmp_path).to_json()
    edit(data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RunRecordError) as e:
        ResolvedRun.read(path)
    assert str(e.value).startswith(f"{path}: ") and fragment in str(e.value)
    path.write_text("{")
    with pytest.raises(RunRecordError, match="unreadable"):
        ResolvedRun.read(path)


def test_records_keep_unknown_figures_and_null_non_finite(tmp_path: Path) -> None:
    rec = record("train", 3, 1.0, {"loss": float("nan"), "new_stat": 0.5, "epoch": 1})
    assert isinstance(rec, TrainRecord) and rec.loss is None and rec.extra == {"new_stat": 0.5}
    path = tmp_path / "metrics.jsonl"
    val = record("val", 3, 2.0, {"val_bphb": 1.9})
    path.write_text(json.dumps(rec.to_json()) + "\n" + json.dumps(val.to_json()) + "\n")
    m = read_metrics(path)
    assert m.train == (rec,) and m.val == (val,) and isinstance(m.val[0], ValRecord)
