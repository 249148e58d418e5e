"""The run record: what a training run leaves for later stages to read.

A run directory holds two files that cross stages: ``RUN/config.json`` (``ResolvedRun``: the
``TrainConfig``, the data identity, the model and the resolved DeepSpeed config; read by resume,
export and the testbed) and ``RUN/metrics.jsonl`` (one ``TrainRecord`` or ``ValRecord`` per line;
read by the testbed report and the benchmarks). Every writer and reader goes through these
classes, so the file formats have one definition. Files written before ``schema_version``
existed read as version 1; a newer version or a malformed file is a one-line ``RunRecordError``
naming the file and the fix.

Stdlib-only (plus ``trainer.config``, itself light), so readers such as the testbed report do not
import torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from dnapt.cli import ConfigError, from_mapping
from trainer.config import TrainConfig

SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


class RunRecordError(ValueError):
    """A run file that cannot be read; one line naming the file and the fix."""


def _check_version(data: Mapping[str, Any], where: str) -> int:
    version = data.get("schema_version", 1)  # files before the field existed are version 1
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunRecordError(f"{where}: schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise RunRecordError(
            f"{where}: schema_version {version} is newer than this dnapt reads "
            f"({SCHEMA_VERSION}): update dnapt to read this run"
        )
    return version


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: they are written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@dataclass(frozen=True)
class RunData:
    """The shards a run trained on: enough to check a resume and to rebuild the tokenizer."""

    vocab: str
    vocab_size: int
    family: str
    k: int
    window: int
    max_tokens: int
    tokenizer_sha256: str
    manifest_sha256: str


@dataclass(frozen=True)
class ResolvedRun:
    """``RUN/config.json``: enough to rebuild, export, resume-check and audit the run."""

    train: TrainConfig
    world_size: int
    max_len: int
    data: RunData
    val_masking: dict[str, Any]
    model: dict[str, Any]  # the Hugging Face model config (``PretrainedConfig.to_dict()``)
    ds_config: dict[str, Any]  # the resolved DeepSpeed config the engine ran with
    schema_version: int = SCHEMA_VERSION

    @property
    def zero_stage(self) -> int:
        return int(self.ds_config.get("zero_optimization", {}).get("stage", 0))

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "train": self.train.to_dict(),
            "world_size": self.world_size,
            "max_len": self.max_len,
            "data": {f.name: getattr(self.data, f.name) for f in fields(RunData)},
            "val_masking": self.val_masking,
            "model": self.model,
            "ds_config": self.ds_config,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = CONFIG_FILE) -> ResolvedRun:
        if not isinstance(data, dict):
            raise RunRecordError(f"{where}: not a JSON object; not a dnapt run config")
        version = _check_version(data, where)
        missing = [f.name for f in fields(cls) if f.name != "schema_version" and f.name not in data]
        if missing:
            raise RunRecordError(
                f"{where}: missing {', '.join(missing)}; not a complete dnapt run config "
                "(rerun the training to rewrite it)"
            )
        try:
            train = from_mapping(TrainConfig, data["train"], "train")
            run_data = from_mapping(RunData, data["data"], "data")
        except (ConfigError, ValueError) as e:
            raise RunRecordError(f"{where}: {e}") from None
        for key in ("val_masking", "model", "ds_config"):
            if not isinstance(data[key], dict):
                raise RunRecordError(f"{where}: {key} must be an object")
        for key in ("world_size", "max_len"):
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise RunRecordError(f"{where}: {key} {data[key]!r} must be an integer")
        return cls(
            train=train,
            world_size=data["world_size"],
            max_len=data["max_len"],
            data=run_data,
            val_masking=data["val_masking"],
            model=data["model"],
            ds_config=data["ds_config"],
            schema_version=version,
        )

    @classmethod
    def read(cls, path: Path) -> ResolvedRun:
        """The config of ``path`` (a run's ``config.json``)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RunRecordError(
                f"{path}: unreadable ({e}); not a complete run directory"
            ) from None
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


@dataclass(frozen=True)
class MetricsRecord:
    """Fields shared by both kinds of metrics line; ``extra`` holds any other logged figure."""

    kind: ClassVar[str]
    step: int
    time: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, step: int, time: float | None, values: Mapping[str, Any]) -> Any:
        """A record from the trainer's logged values (non-finite floats become None)."""
        known = {f.name for f in fields(cls)} - {"step", "time", "extra"}
        clean = {k: _finite(v) for k, v in values.items()}
        return cls(
            step=step,
            time=time,
            **{k: v for k, v in clean.items() if k in known},
            extra={k: v for k, v in clean.items() if k not in known},
        )

    def values(self) -> dict[str, Any]:
        """Every logged figure by name (declared fields, then ``extra``)."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("step", "time", "extra")
        }
        return {**out, **self.extra}

    def to_json(self) -> dict[str, Any]:
        head = {"schema_version": SCHEMA_VERSION, "kind": self.kind, "step": self.step}
        return {**head, "time": self.time, **self.values()}


@dataclass(frozen=True)
class TrainRecord(MetricsRecord):
    """One logged training interval (means over its micro-batches, all ranks)."""

    kind: ClassVar[str] = "train"
    loss: float | None = None
    accuracy: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    samples_per_s: float | None = None
    epoch: int | None = None
    masked_token_frac: float | None = None
    hidden_base_frac: float | None = None
    leak_frac: float | None = None


@dataclass(frozen=True)
class ValRecord(MetricsRecord):
    """One validation pass (fixed leak-free val masking; see trainer/validation.py)."""

    kind: ClassVar[str] = "val"
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_labelled_tokens: int | None = None
    val_bphb: float | None = None
    val_hidden_base_accuracy: float | None = None
    val_hidden_bases: int | None = None
    val_uniform_bphb: float | None = None
    val_composition_bphb: float | None = None
    val_bits_below_composition: float | None = None


RECORDS: dict[str, type[MetricsRecord]] = {"train": TrainRecord, "val": ValRecord}


def record(kind: str, step: int, time: float | None, values: Mapping[str, Any]) -> MetricsRecord:
    """The typed record the trainer writes for ``kind`` ("train" or "val")."""
    return RECORDS[kind].from_values(step, time, values)


def parse_record(line: str, where: str) -> TrainRecord | ValRecord:
    """One metrics.jsonl line; ``json.JSONDecodeError`` for a line cut short."""
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise RunRecordError(f"{where}: not a JSON object")
    _check_version(raw, where)
    kind, step = raw.get("kind"), raw.get("step")
    if kind not in RECORDS:
        raise RunRecordError(f"{where}: kind {kind!r}: must be one of {', '.join(RECORDS)}")
    if not isinstance(step, int) or isinstance(step, bool):
        raise RunRecordError(f"{where}: step {step!r} must be an integer")
    values = {k: v for k, v in raw.items() if k not in ("schema_version", "kind", "step", "time")}
    return RECORDS[kind].from_values(step, raw.get("time"), values)


@dataclass(frozen=True)
class Metrics:
    """A run's metrics.jsonl, split by kind, in file order."""

    train: tuple[TrainRecord, ...] = ()
    val: tuple[ValRecord, ...] = ()


def read_metrics(path: Path) -> Metrics:
    """The records of ``path``; a missing file reads as empty, and a last line cut short by a
    kill is skipped (the run was killed mid-write). Any other bad line is an error."""
    path = Path(path)
    if not path.is_file():
        return Metrics()
    lines = [(i, s) for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip()]
    train: list[TrainRecord] = []
    val: list[ValRecord] = []
    for n, (i, line) in enumerate(lines):
        try:
            rec = parse_record(line, f"{path} line {i}")
        except json.JSONDecodeError as e:
            if n == len(lines) - 1:
                break
            raise RunRecordError(
                f"{path} line {i}: not JSON ({e.msg}); delete the line or rerun the training"
            ) from None
        (train if isinstance(rec, TrainRecord) else val).append(rec)  # type: ignore[arg-type]
    return Metrics(tuple(train), tuple(val))
