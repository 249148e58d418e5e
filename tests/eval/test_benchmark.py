"""Benchmark input: malformed files fail with one line naming file and line; policies hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.benchmark import (
    BenchmarkError,
    discover_tasks,
    load_task,
    read_split,
    resolve_benchmark,
    select_tasks,
)
from tests.eval.evalkit import write_split, write_task

GOOD = [("ACGTACGT", 0), ("TTTTGGGG", 1), ("acgtNNAC", 1)]


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (GOOD, ("sequence", "y"), "line 1: missing column 'label'"),
        (
            [("ACGT", 0), ("ACGT", "x")],
            ("sequence", "label"),
            "line 3: label 'x' is not an integer",
        ),
        ([("ACGT", 0), ("AC-T", 1)], ("sequence", "label"), "line 3: character '-' outside ACGTN"),
        ([("ACGT", 0), ("ACRT", 1)], ("sequence", "label"), "line 3: IUPAC code 'R' outside ACGTN"),
        ([], ("sequence", "label"), "empty split"),
        ([("ACGT", 1), ("CCGT", 1)], ("sequence", "label"), "single class"),
        ([("ACGT", 0), ("", 1)], ("sequence", "label"), "line 3: empty sequence"),
    ],
)
def test_malformed_split_one_line_error(tmp_path: Path, rows, header, expected: str) -> None:
    path = write_split(tmp_path / "train.csv.gz", rows, header)
    with pytest.raises(BenchmarkError) as e:
        read_split(path, "train")
    message = str(e.value)
    assert "\n" not in message
    assert str(path) in message and expected in message


def test_case_and_iupac_policy_reported(tmp_path: Path) -> None:
    path = write_split(tmp_path / "test.csv.gz", [("acgt", 0), ("ACRY", 1), ("ACGT", 1)])
    split = read_split(path, "test", iupac="n")
    assert split.sequences == ["ACGT", "ACNN", "ACGT"]
    assert split.iupac_rows == 1 and split.lowercase_rows == 1
    with pytest.raises(BenchmarkError, match="--iupac n"):
        read_split(path, "test", iupac="error")


def test_task_without_train_trains_on_dev(tmp_path: Path) -> None:
    write_task(tmp_path, "src/t", {"dev": GOOD, "test": GOOD})
    task = load_task(tmp_path, "src/t")
    assert task.train_split == "dev" and task.selection_split is None
    assert "no model selection" in task.protocol_note
    write_task(tmp_path, "src/u", {"train": GOOD, "dev": GOOD, "test": GOOD})
    full = load_task(tmp_path, "src/u")
    assert full.train_split == "train" and full.selection_split == "dev" and not full.protocol_note
    assert discover_tasks(tmp_path) == ["src/t", "src/u"]
    dropped = full.with_test_rows_removed(np.array([0]))
    assert dropped.test.sequences == full.test.sequences[1:]


def test_task_needs_test_split(tmp_path: Path) -> None:
    write_task(tmp_path, "src/t", {"train": GOOD})
    with pytest.raises(BenchmarkError, match="no test.csv.gz"):
        load_task(tmp_path, "src/t")


def test_resolve_benchmark_env_and_explicit(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "benchmark").mkdir()
    monkeypatch.setenv("DNAPT_DATA_MIRROR", str(tmp_path))
    assert resolve_benchmark(None) == tmp_path / "benchmark"
    assert resolve_benchmark(str(tmp_path)) == tmp_path  # explicit wins
    monkeypatch.delenv("DNAPT_DATA_MIRROR")
    with pytest.raises(BenchmarkError, match="--benchmark"):
        resolve_benchmark(None)


def test_select_tasks_curated_checks_sha256(tmp_path: Path) -> None:
    write_task(tmp_path, "src/t", {"dev": GOOD, "test": GOOD})
    task = load_task(tmp_path, "src/t")
    curated = {
        "tasks": ["src/t"],
        "sha256": {"src/t": {s: v.sha256 for s, v in task.splits.items()}},
        "exclude_test_rows": {"src/t": [1]},
    }
    path = tmp_path / "curated.json"
    path.write_text(json.dumps(curated))
    sel = select_tasks(f"curated:{path}", tmp_path)
    assert sel.task_ids == ["src/t"] and sel.exclude_test_rows == {"src/t": [1]}
    write_split(tmp_path / "src/t/test.csv.gz", GOOD[:2])
    with pytest.raises(BenchmarkError, match="sha256 differs"):
        select_tasks(f"curated:{path}", tmp_path)
    with pytest.raises(BenchmarkError, match="unknown task"):
        select_tasks("src/nope", tmp_path)


def test_every_sequence_change_is_counted(tmp_path: Path) -> None:
    """Issue case: --iupac n, upper-casing and whitespace stripping must all be reported."""
    path = write_split(tmp_path / "test.csv.gz", [(" ACGT", 0), ("acRY", 1), ("ACGT ", 1)])
    split = read_split(path, "test", iupac="n")
    assert split.sequences == ["ACGT", "ACNN", "ACGT"]
    assert split.changes() == {"iupac_rows": 1, "lowercase_rows": 1, "stripped_rows": 2}


def _curated(tmp_path: Path, **override) -> Path:
    write_task(tmp_path, "src/t", {"dev": GOOD, "test": GOOD})
    task = load_task(tmp_path, "src/t")
    curated = {
        "tasks": ["src/t"],
        "sha256": {"src/t": {s: v.sha256 for s, v in task.splits.items()}},
        "exclude_test_rows": {"src/t": [1]},
    } | override
    path = tmp_path / "curated.json"
    path.write_text(json.dumps(curated))
    return path


@pytest.mark.parametrize(
    "override, match",
    [
        ({"sha256": {"src/t": {}}}, r"records sha256 for splits \[\], but \['dev', 'test'\]"),
        ({"sha256": {"src/t": {"dev": "", "test": ""}}}, "sha256 '' is not 64 hex digits"),
        ({"sha256": {}}, "records sha256 for splits"),
        (
            {"tasks": ["../../etc"], "exclude_test_rows": {}},
            "task '../../etc' is not in the benchmark",
        ),
        ({"exclude_test_rows": {"src/x": [0]}}, "names 'src/x', which is not a listed task"),
        ({"exclude_test_rows": {"src/t": ["0"]}}, "must be a list of row numbers"),
        ({"tasks": "src/t"}, "no 'tasks' list"),
    ],
)
def test_curated_list_is_validated(tmp_path: Path, override: dict, match: str) -> None:
    """Issue case: an empty sha256 entry skipped the digest check."""
    path = _curated(tmp_path, **override)
    with pytest.raises(BenchmarkError, match=match) as e:
        select_tasks(f"curated:{path}", tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "rows, match",
    [([3], "test row 3 to exclude does not exist"), ([-1], "row -1"), ([1, 1], "listed twice")],
)
def test_excluded_rows_must_exist(tmp_path: Path, rows: list[int], match: str) -> None:
    """Issue case: an out-of-range row was counted in test_rows_excluded but never removed."""
    write_task(tmp_path, "src/t", {"dev": GOOD, "test": GOOD})
    task = load_task(tmp_path, "src/t")
    with pytest.raises(BenchmarkError, match=match):
        task.with_test_rows_removed(np.array(rows))
    assert len(task.with_test_rows_removed(np.array([0, 2])).test) == 1
