"""A shard directory's ``manifest.json``: the typed contract between the sharder and its readers.

``Manifest`` (with ``ShardParams``, ``SourceEntry``, ``SplitEntry``, ``VocabEntry``,
``RunInfo``) is what ``data_prep/shard.py`` writes and what ``verify``, the vocabulary report, the
trainer and the testbed read: fields, not string keys, so a renamed or missing key is one error at
the read, not a ``KeyError`` deep in a stage. ``Manifest.read(path)`` is the one way to read it.

The file is sealed with a digest: the sha256 of its canonical JSON (sorted keys) without the
``digest`` field and without ``run`` (when and how fast it was made), so identical inputs and
parameters give an identical digest, as they give identical shards.
It detects a hand-edited or damaged manifest (a changed file hash, count or source), which would
otherwise make ``verify`` check the shards against the wrong facts. It is not a signature: whoever
can rewrite the whole directory can recompute it, so shards from an untrusted party still need
``verify`` against sources you trust (docs/data.md).

Schema versions: 1 is a manifest without ``schema_version`` (written before it existed; still
read), 2 adds the key. The JSON keys are otherwise unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIGEST_KEY = "digest"
UNSEALED = (DIGEST_KEY, "run")  # run: created, elapsed_s, workers; differs between identical runs
SCHEMA_VERSION = 2
KNOWN_VERSIONS = (1, 2)


class ManifestError(ValueError):
    """A missing, unreadable or edited manifest; the message names the file and the fix."""


@dataclass(frozen=True)
class ShardParams:
    """The parameters that define the data (not how fast it was made)."""

    inputs: tuple[str, ...]
    vocabs: tuple[str, ...]
    window: int
    stride: int
    val_records: tuple[str, ...]
    val_fraction: float
    max_n_frac: float
    seed: int
    format: str = "mds"  # the one shard format (recorded for readers of older manifests)
    bpe_train_bases: int | None = None  # absent from the earliest manifests

    def to_json(self) -> dict[str, Any]:
        """The ``params`` table as written (lists for tuples), e.g. to compare with a recipe's."""
        return _plain(self)


@dataclass(frozen=True)
class SourceEntry:
    """One input FASTA: how it was named, its sha256, and what the reader saw in it."""

    input: str
    file: str
    sha256: str
    bytes: int
    records: int
    bases: int
    n_bases: int = 0
    iupac_bases: int = 0
    lowercase_bases: int = 0
    record_lengths: dict[str, int] = field(default_factory=dict)
    empty_records: tuple[str, ...] = ()
    crlf_lines: int = 0
    cr_lines: int = 0
    blank_lines: int = 0


@dataclass(frozen=True)
class SplitEntry:
    """Windows and bases of one split (the same for every vocabulary)."""

    records: int
    windows: int
    bases: int
    n_bases: int = 0
    dropped_n_windows: int = 0
    uncovered_bases: int = 0
    record_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class VocabSplit:
    """Tokens of one vocabulary in one split."""

    tokens: int
    unk_tokens: int = 0


@dataclass(frozen=True)
class VocabEntry:
    """One vocabulary directory: its spec (as in its ``vocab.json``), counts, and file hashes."""

    name: str
    family: str
    k: int | None
    size: int
    dtype: str
    max_tokens: int
    tokenizer_sha256: str
    splits: dict[str, VocabSplit]
    files: dict[str, str] = field(default_factory=dict)  # path under DIR/<vocab> -> sha256

    def to_json(self) -> dict[str, Any]:
        """The entry as written; without ``files`` it is the vocabulary's ``vocab.json``."""
        return _plain(self)


@dataclass(frozen=True)
class RunInfo:
    """When and how fast the directory was made: outside the digest."""

    created: str
    elapsed_s: float
    vocab_build_s: float | None = None
    vocab_build_cpu_s: float | None = None
    workers: int | None = None


@dataclass(frozen=True)
class Manifest:
    """Everything ``manifest.json`` holds, typed. ``to_json`` gives the file's dict, keys in order."""

    dnapt_version: str
    params: ShardParams
    sources: tuple[SourceEntry, ...]
    splits: dict[str, SplitEntry]
    vocabs: dict[str, VocabEntry]
    run: RunInfo | None = None
    digest: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict (``schema_version`` first, ``run`` and ``digest`` last if set)."""
        out = {"schema_version": self.schema_version, **_plain(self)}
        tail = {k: out.pop(k) for k in ("run", DIGEST_KEY)}
        return {**out, **{k: v for k, v in tail.items() if v is not None}}

    def sealed(self) -> Manifest:
        """This manifest with its digest computed."""
        return dataclasses.replace(self, digest=manifest_digest(self.to_json()))

    def write(self, path: Path) -> None:
        """Write ``path`` deterministically (indent 2, keys in field order)."""
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest.json") -> Manifest:
        """The typed manifest from its dict; a missing key or wrong shape is a ManifestError."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: not a dnapt manifest (not a JSON object); re-shard")
        version = data.get("schema_version", 1)
        if version not in KNOWN_VERSIONS:
            raise ManifestError(
                f"{where}: schema_version {version!r} is not one this dnapt reads "
                f"({', '.join(map(str, KNOWN_VERSIONS))}): written by a newer dnapt; upgrade "
                "dnapt or re-shard"
            )
        return _build(cls, {**data, "schema_version": version}, where)

    @classmethod
    def read(cls, path: Path, require_digest: bool = True) -> Manifest:
        """Load ``path``, check its digest, and type it; any problem is one-line ``ManifestError``.

        ``require_digest=False`` accepts a manifest written before digests existed (it is still
        checked when it has one).
        """
        return cls.from_json(load_sealed(path, require_digest), str(path))

    def split_windows(self, split: str) -> int:
        """Windows in ``split`` (0 when the manifest has no such split)."""
        entry = self.splits.get(split)
        return entry.windows if entry is not None else 0


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_SCALARS = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def _build(cls: type, data: Any, where: str) -> Any:
    """``cls`` from a JSON dict, field by field; errors name the key path in ``where``."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object; not a dnapt manifest: re-shard")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ManifestError(
                    f"{where}: missing key '{f.name}'; not a manifest this dnapt wrote: re-shard"
                )
            continue
        values[f.name] = _value(hints[f.name], data[f.name], f"{where}: {f.name}")
    return cls(**values)


def _value(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (tp,) = [a for a in args if a is not type(None)]
        return _value(tp, value, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ManifestError(f"{where}: expected a JSON object; re-shard")
        return {str(k): _value(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise ManifestError(f"{where}: expected a list; re-shard")
        return tuple(_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    kinds = _SCALARS.get(tp)
    if kinds and (not isinstance(value, kinds) or (tp is not bool and isinstance(value, bool))):
        raise ManifestError(f"{where}: {value!r} is not {tp.__name__}; re-shard")
    return value


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``manifest`` without its digest and run fields."""
    body = {k: v for k, v in manifest.items() if k not in UNSEALED}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its digest added (the last key, so the file reads as before)."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    return {**body, DIGEST_KEY: manifest_digest(body)}


def load_sealed(path: Path, require_digest: bool = True) -> dict[str, Any]:
    """The raw dict of ``path`` after the JSON and digest checks (``Manifest.read`` types it)."""
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: missing; is {path.parent} a shard directory written by data_prep/shard.py?"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: unreadable ({e}); re-shard") from None
    except json.JSONDecodeError as e:
        raise ManifestError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}): truncated or "
            "edited; re-shard (or restore the file)"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("vocabs"), dict):
        raise ManifestError(f"{path}: not a dnapt manifest (no 'vocabs' table); re-shard")
    recorded = manifest.get(DIGEST_KEY)
    if recorded is None:
        if require_digest:
            raise ManifestError(f"{path}: has no digest (written by an older dnapt); re-shard")
        return manifest
    if recorded != manifest_digest(manifest):
        raise ManifestError(
            f"{path}: content does not match its digest: the manifest was edited after sharding; "
            "re-shard (or restore the original manifest)"
        )
    return manifest
