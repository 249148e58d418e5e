"""The files the eval stage hands to other code: report.json, audit.json and curated.json.

Each is a frozen dataclass with a ``schema_version``, ``from_json``/``to_json`` and
``read``/``write``; eval/run.py and eval/audit.py write them through these classes and every
reader (eval/benchmark.py's ``curated:`` tasks, the report renderers, the testbed, bench/) reads
them through these classes, so a renamed key is a change in one place. The keys on disk are the
ones documented in docs/evaluation.md; files written before ``schema_version`` existed still read.
Malformed files and unknown versions are one-line errors naming the file and the fix.

The deep parts (an audit record, a model's per-seed scores) stay plain JSON objects: they are
documented in docs/evaluation.md and carry many optional, protocol-specific keys.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_SCHEMA_VERSION = 1
AUDIT_SCHEMA_VERSION = 1


class ContractError(ValueError):
    """A malformed or unknown-version eval file; one line naming the file and the fix."""


def _load(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ContractError(f"{path}: cannot read {what} ({e})") from None


def _dump(path: Path, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def _version(data: dict[str, Any], supported: int, where: str, fix: str) -> int:
    """The file's schema_version (absent: a file from before versions, read as 1)."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= supported:
        raise ContractError(
            f"{where}: schema_version {version!r} is not one this dnapt reads (1..{supported}); "
            f"{fix}"
        )
    return version


def _obj(data: dict[str, Any], key: str, kind: type, bad: Any) -> Any:
    value = data.get(key, kind())
    if not isinstance(value, kind):
        raise bad(f"'{key}' must be {'a list' if kind is list else 'an object'}")
    return value


# --------------------------------------------------------------------------- curated.json


@dataclass(frozen=True)
class CuratedList:
    """``curated.json``: the tasks an audit lets eval/run.py score, and what they are valid for.

    ``tasks`` are scored by default, ``flagged`` only when named; ``sha256[task][split]`` ties
    the verdicts to the data they were made from and ``exclude_test_rows[task]`` are the
    0-based test rows the ``--dedup`` repair removes.
    """

    tasks: tuple[str, ...]
    sha256: dict[str, dict[str, str]] = field(default_factory=dict)
    exclude_test_rows: dict[str, list[int]] = field(default_factory=dict)
    flagged: tuple[str, ...] = ()
    verdicts: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    benchmark: str = ""
    schema_version: int = AUDIT_SCHEMA_VERSION

    FIX = "re-run eval/audit.py to write a fresh curated list"

    @classmethod
    def from_json(cls, data: Any, where: str = "curated.json") -> CuratedList:
        """Check every field the list is trusted for (its digests against the files on disk are
        checked by ``eval.benchmark.select_tasks``, which knows the benchmark)."""

        def bad(msg: str) -> ContractError:
            return ContractError(f"{where}: {msg}; {cls.FIX}")

        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            raise bad("not a curated task list (no 'tasks' list)")
        version = _version(data, AUDIT_SCHEMA_VERSION, where, cls.FIX)
        tasks = data["tasks"]
        if not all(isinstance(t, str) for t in tasks):
            raise bad("'tasks' must be a list of task ids")
        # Missing digests read as none: eval.benchmark then refuses every task they would cover.
        digests = data.get("sha256", {})
        exclude = data.get("exclude_test_rows", {})
        if not isinstance(digests, dict) or not isinstance(exclude, dict):
            raise bad("'sha256' and 'exclude_test_rows' must be objects")
        for task_id, recorded in digests.items():
            if not isinstance(recorded, dict):
                raise bad(f"task {task_id!r}: sha256 must be an object of split: digest")
            for split, digest in recorded.items():
                if not (isinstance(digest, str) and len(digest) == 64):
                    raise bad(
                        f"task {task_id!r} split {split!r}: sha256 {digest!r} is not 64 hex digits"
                    )
        for task_id, rows in exclude.items():
            if task_id not in tasks:
                raise bad(f"exclude_test_rows names {task_id!r}, which is not a listed task")
            if not isinstance(rows, list) or not all(
                isinstance(r, int) and not isinstance(r, bool) for r in rows
            ):
                raise bad(f"exclude_test_rows of {task_id!r} must be a list of row numbers")
        return cls(
            tasks=tuple(tasks),
            sha256=digests,
            exclude_test_rows=exclude,
            flagged=tuple(_obj(data, "flagged", list, bad)),
            verdicts=_obj(data, "verdicts", dict, bad),
            reasons=_obj(data, "reasons", dict, bad),
            config=_obj(data, "config", dict, bad),
            benchmark=str(data.get("benchmark", "")),
            schema_version=version,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "benchmark": self.benchmark,
            "tasks": list(self.tasks),
            "flagged": list(self.flagged),
            "verdicts": self.verdicts,
            "reasons": self.reasons,
            "config": self.config,
            "sha256": self.sha256,
            "exclude_test_rows": self.exclude_test_rows,
        }

    @classmethod
    def read(cls, path: Path) -> CuratedList:
        return cls.from_json(_load(path, "curated task list"), str(path))

    def write(self, path: Path) -> None:
        _dump(path, self.to_json())


# --------------------------------------------------------------------------- audit.json


@dataclass(frozen=True)
class AuditResult:
    """``audit.json``: every task's audit record (keys in docs/evaluation.md, "Outputs") and the
    settings the verdicts were made with (``AuditConfig.settings()``)."""

    benchmark: str
    config: dict[str, Any]
    records: tuple[dict[str, Any], ...]
    schema_version: int = AUDIT_SCHEMA_VERSION

    FIX = "re-run eval/audit.py"

    def record(self, task_id: str) -> dict[str, Any]:
        """One task's record (``task``, ``verdict``, ``reasons``, ``baselines``, ...)."""
        for r in self.records:
            if r["task"] == task_id:
                return r
        raise KeyError(task_id)

    def verdicts(self) -> dict[str, str]:
        return {r["task"]: r["verdict"] for r in self.records}

    @classmethod
    def from_json(cls, data: Any, where: str = "audit.json") -> AuditResult:
        def bad(msg: str) -> ContractError:
            return ContractError(f"{where}: {msg}; {cls.FIX}")

        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            raise bad("not an audit (no 'tasks' list)")
        version = _version(data, AUDIT_SCHEMA_VERSION, where, cls.FIX)
        records = data["tasks"]
        if not all(isinstance(r, dict) and "task" in r and "verdict" in r for r in records):
            raise bad("every record must be an object with 'task' and 'verdict'")
        return cls(
            benchmark=str(data.get("benchmark", "")),
            config=_obj(data, "config", dict, bad),
            records=tuple(records),
            schema_version=version,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "benchmark": self.benchmark,
            "config": self.config,
            "tasks": list(self.records),
        }

    @classmethod
    def read(cls, path: Path) -> AuditResult:
        return cls.from_json(_load(path, "audit"), str(path))

    def write(self, path: Path) -> None:
        _dump(path, self.to_json())


# --------------------------------------------------------------------------- report.json


@dataclass(frozen=True)
class CheckpointEntry:
    """One scored checkpoint: its report name (unique in the report) and what it is."""

    name: str
    path: str
    model_type: str
    vocab: str | None
    max_length: int
    hidden_size: int | None


@dataclass(frozen=True)
class TaskScores:
    """One task of report.json: its protocol facts and every score.

    ``baselines[name]``: mcc, accuracy, macro_f1, auroc, mcc_ci95, params. ``models[name]``:
    ``pretrained``/``scratch`` (per_seed, mean, sd, mcc_ci95) and ``truncated``.
    ``comparisons[name]``: delta_mcc, delta_mcc_ci95, verdict, statement.
    """

    classes: list[int]
    train_split: str
    selection_split: str | None
    note: str
    n: dict[str, int]
    models: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, Any]]
    comparisons: dict[str, dict[str, Any]]
    test_rows_excluded: int = 0
    rows_changed: dict[str, dict[str, int]] = field(default_factory=dict)
    audit_verdict: str = "not audited"

    @property
    def dev_trained(self) -> bool:
        """No train split: trained on dev with no model selection (marked † everywhere)."""
        return self.train_split == "dev"

    def facts(self) -> dict[str, Any]:
        """Everything but the per-model scores (what a task is, not how a model did)."""
        return {k: v for k, v in self.to_json().items() if k not in ("models", "comparisons")}

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Report:
    """``report.json``: a scoring run's settings, checkpoints and every task's scores."""

    protocol: str
    protocol_config: dict[str, Any]
    seeds: list[int]
    n_boot: int
    length_policy: dict[str, str]
    iupac_policy: str
    benchmark: dict[str, str]
    baseline_config: dict[str, Any]
    checkpoints: tuple[CheckpointEntry, ...]
    tasks: dict[str, TaskScores]
    run: dict[str, Any]
    notes: tuple[str, ...] = ()
    schema_version: int = REPORT_SCHEMA_VERSION

    FIX = "re-score with eval/run.py"
    KEYS = (
        "schema_version",
        "protocol",
        "protocol_config",
        "seeds",
        "n_boot",
        "length_policy",
        "iupac_policy",
        "benchmark",
        "baseline_config",
        "checkpoints",
        "tasks",
        "run",
    )

    @classmethod
    def from_json(cls, data: Any, where: str = "report.json") -> Report:
        def bad(msg: str) -> ContractError:
            return ContractError(f"{where}: {msg}; {cls.FIX}")

        if not isinstance(data, dict):
            raise bad("not an eval report (not a JSON object)")
        version = _version(data, REPORT_SCHEMA_VERSION, where, cls.FIX)
        missing = [k for k in cls.KEYS[1:] if k not in data]
        if missing:
            raise bad(f"not an eval report (missing {', '.join(missing)})")
        try:
            checkpoints = tuple(CheckpointEntry(**c) for c in data["checkpoints"])
            tasks = {t: TaskScores(**v) for t, v in data["tasks"].items()}
        except (TypeError, AttributeError) as e:
            raise bad(f"malformed checkpoints or tasks ({e})") from None
        return cls(
            protocol=data["protocol"],
            protocol_config=data["protocol_config"],
            seeds=list(data["seeds"]),
            n_boot=data["n_boot"],
            length_policy=data["length_policy"],
            iupac_policy=data["iupac_policy"],
            benchmark=data["benchmark"],
            baseline_config=data["baseline_config"],
            checkpoints=checkpoints,
            tasks=tasks,
            run=data["run"],
            notes=tuple(data.get("notes", ())),
            schema_version=version,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.KEYS:
            value = getattr(self, key)
            if key == "checkpoints":
                value = [asdict(c) for c in value]
            elif key == "tasks":
                value = {t: s.to_json() for t, s in value.items()}
            out[key] = value
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def read(cls, path: Path) -> Report:
        return cls.from_json(_load(path, "eval report"), str(path))

    def write(self, path: Path) -> None:
        _dump(path, self.to_json())
