"""Task spec: a TOML file that says how to cut a benchmark task out of a genome and annotation.

Every key is validated here and an unknown key is an error, because a typo (``ration = 2``) that
silently falls back to a default would build a different task than the one written down. The
keys, their defaults and their meaning are documented in docs/task-design.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ANCHORS = ("start", "end", "center", "whole")
METHODS = ("gc-matched", "dinuc-shuffle", "flank-shuffle", "motif-implant")
DERIVED = ("introns",)
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*/[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


class SpecError(ValueError):
    """A task spec that cannot be built; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Positives:
    """Which annotated intervals are positives and where on them the window sits."""

    type: tuple[str, ...] = ()  # GFF3 feature types; empty = every interval (BED)
    anchor: str = "center"
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    derive: str | None = None  # "introns": the gaps between a parent's exon parts
    parent_type: str | None = None  # with derive: only parents of this feature type
    motif: str | None = None  # motif-implant: JASPAR accession (MA0363.3) or unique name
    motifs: str = "jaspar2024_core"  # motif file: registry name or TRANSFAC path
    count: int = 0  # motif-implant: backgrounds in all, shared by the splits by their bases


@dataclass(frozen=True)
class Negatives:
    """How the negatives are made (see docs/task-design.md, "Negatives")."""

    method: str = "gc-matched"
    ratio: float = 1.0
    margin: int | None = None  # gc-matched: bases kept clear around positives (default length)
    exclude_types: tuple[str, ...] = ()  # gc-matched: also keep clear of these feature types
    gc_bin: float = 0.01  # gc-matched: width of the GC bins matched
    center_motif: str | None = None  # gc-matched: backgrounds centred on this word (e.g. "GT")
    core: int | None = None  # flank-shuffle: bases shuffled at the centre (default length // 2)


@dataclass(frozen=True)
class Split:
    """Chromosome hold-out (``dev``/``test`` record lists) or contiguous ``blocks``."""

    dev: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    blocks: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A parsed, validated task spec; ``path`` is where it was read from (for messages)."""

    name: str
    genome: str
    annotation: str | None
    length: int
    seed: int
    positives: Positives
    negatives: Negatives
    split: Split
    description: str = ""
    max_n_frac: float = 0.01
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The spec with every default written out (task.json records exactly what was built)."""
        out = asdict(self)
        del out["path"]
        return out


_TOP = {
    "name",
    "description",
    "genome",
    "annotation",
    "length",
    "seed",
    "max_n_frac",
    "positives",
    "negatives",
    "split",
}


def _err(path: str, key: str, msg: str) -> SpecError:
    return SpecError(f"{path}: key '{key}': {msg} (keys are documented in docs/task-design.md)")


def _table(path: str, raw: dict, key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _err(path, key, f"must be a table [{key}]")
    return value


def _check_keys(path: str, table: dict, allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise _err(
                path, f"{prefix}{key}", f"unknown key; allowed here: {', '.join(sorted(allowed))}"
            )


def _typed(path: str, table: dict, key: str, kind: type | tuple, prefix: str = "", default=None):
    if key not in table:
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise _err(path, prefix + key, f"expected {names}, got {type(value).__name__} {value!r}")
    return value


def _str_list(path: str, table: dict, key: str, prefix: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _err(path, prefix + key, f"expected a string or a list of strings, got {value!r}")
    return tuple(value)


def _positives(path: str, raw: dict, method: str) -> Positives:
    t = _table(path, raw, "positives")
    p = "positives."
    allowed = {"type", "anchor", "where", "derive", "parent_type"}
    if method == "motif-implant":
        allowed = {"motif", "motifs", "count"}
    _check_keys(path, t, allowed, p)
    if method == "motif-implant":
        motif = _typed(path, t, "motif", str, p)
        if not motif:
            raise _err(path, p + "motif", "motif-implant needs a JASPAR accession or name")
        count = _typed(path, t, "count", int, p, 0)
        if count < 1:
            raise _err(
                path,
                p + "count",
                "backgrounds in all (shared by the splits by their bases), an integer >= 1",
            )
        return Positives(
            motif=motif, motifs=_typed(path, t, "motifs", str, p, "jaspar2024_core"), count=count
        )
    anchor = _typed(path, t, "anchor", str, p, "center")
    if anchor not in ANCHORS:
        raise _err(path, p + "anchor", f"{anchor!r} is not one of {', '.join(ANCHORS)}")
    where_raw = _typed(path, t, "where", dict, p, {})
    where = {k: _str_list(path, where_raw, k, p + "where.") for k in where_raw}
    derive = _typed(path, t, "derive", str, p)
    if derive is not None and derive not in DERIVED:
        raise _err(path, p + "derive", f"{derive!r} is not one of {', '.join(DERIVED)}")
    parent_type = _typed(path, t, "parent_type", str, p)
    if parent_type is not None and derive is None:
        raise _err(path, p + "parent_type", "only meaningful with derive = 'introns'")
    return Positives(
        type=_str_list(path, t, "type", p),
        anchor=anchor,
        where=where,
        derive=derive,
        parent_type=parent_type,
    )


def _negatives(path: str, raw: dict, length: int) -> Negatives:
    t = _table(path, raw, "negatives")
    p = "negatives."
    method = _typed(path, t, "method", str, p, "gc-matched")
    if method not in METHODS:
        raise _err(path, p + "method", f"{method!r} is not one of {', '.join(METHODS)}")
    allowed = {"method", "ratio"}
    allowed |= {
        "gc-matched": {"margin", "exclude_types", "gc_bin", "center_motif"},
        "flank-shuffle": {"core"},
    }.get(method, set())
    _check_keys(path, t, allowed, p)
    ratio = _typed(path, t, "ratio", float, p, 1.0)
    if not 0 < ratio <= 10:
        raise _err(path, p + "ratio", f"{ratio} must be in (0, 10]")
    if method in ("dinuc-shuffle", "flank-shuffle", "motif-implant") and ratio != 1.0:
        raise _err(path, p + "ratio", f"{method} makes one negative per positive: ratio must be 1")
    margin = _typed(path, t, "margin", int, p)
    if margin is not None and margin < 0:
        raise _err(path, p + "margin", "must be >= 0")
    gc_bin = _typed(path, t, "gc_bin", float, p, 0.01)
    if not 0 < gc_bin <= 0.1:
        raise _err(path, p + "gc_bin", f"{gc_bin} must be in (0, 0.1]")
    center_motif = _typed(path, t, "center_motif", str, p)
    if center_motif is not None and (
        not center_motif or center_motif.strip("ACGT") or len(center_motif) > 12
    ):
        raise _err(path, p + "center_motif", f"{center_motif!r}: 1-12 letters of ACGT")
    core = _typed(path, t, "core", int, p)
    if core is not None and not 2 <= core <= length:
        raise _err(path, p + "core", f"{core} must be in [2, length={length}]")
    return Negatives(
        method=method,
        ratio=ratio,
        margin=margin,
        exclude_types=_str_list(path, t, "exclude_types", p),
        gc_bin=gc_bin,
        center_motif=center_motif,
        core=core,
    )


def _split(path: str, raw: dict) -> Split:
    t = _table(path, raw, "split")
    p = "split."
    _check_keys(path, t, {"dev", "test", "blocks"}, p)
    if "blocks" in t:
        if "dev" in t or "test" in t:
            raise _err(path, p + "blocks", "use either blocks or dev/test record lists, not both")
        blocks = t["blocks"]
        if (
            not isinstance(blocks, list)
            or len(blocks) != 3
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in blocks)
            or min(blocks) <= 0
            or abs(sum(blocks) - 1) > 1e-9
        ):
            raise _err(path, p + "blocks", f"{blocks!r}: three positive fractions summing to 1")
        return Split(blocks=(float(blocks[0]), float(blocks[1]), float(blocks[2])))
    dev, test = _str_list(path, t, "dev", p), _str_list(path, t, "test", p)
    if not test:
        raise _err(path, p + "test", "name the test records (or use blocks = [0.8, 0.1, 0.1])")
    if not dev:
        raise _err(path, p + "dev", "name the dev records (model selection needs a dev split)")
    both = set(dev) & set(test)
    if both:
        raise _err(path, p + "test", f"records {sorted(both)} are also in dev")
    return Split(dev=dev, test=test)


def parse_spec(raw: dict, path: str = "<spec>") -> TaskSpec:
    """A validated ``TaskSpec`` from a TOML table; ``SpecError`` names the offending key."""
    _check_keys(path, raw, _TOP, "")
    name = _typed(path, raw, "name", str)
    if not name or not _NAME.match(name):
        raise _err(
            path, "name", f"{name!r} must be 'group/task' (letters, digits, _ . -; no leading '.')"
        )
    genome = _typed(path, raw, "genome", str)
    if not genome:
        raise _err(path, "genome", "required: a registry name or a FASTA path")
    length = _typed(path, raw, "length", int)
    if length is None or not 20 <= length <= 100_000:
        raise _err(path, "length", "required: bases per sequence, an integer in [20, 100000]")
    seed = _typed(path, raw, "seed", int, "", 0)
    max_n = _typed(path, raw, "max_n_frac", float, "", 0.01)
    if not 0 <= max_n < 1:
        raise _err(path, "max_n_frac", f"{max_n} must be in [0, 1)")
    negatives = _negatives(path, raw, length)
    annotation = _typed(path, raw, "annotation", str)
    if annotation is None and negatives.method != "motif-implant":
        raise _err(path, "annotation", "required: a registry name or a GFF3/BED path")
    if negatives.method == "motif-implant" and annotation is not None:
        raise _err(path, "annotation", "motif-implant builds from the genome alone: remove it")
    return TaskSpec(
        name=name,
        genome=genome,
        annotation=annotation,
        length=length,
        seed=seed,
        positives=_positives(path, raw, negatives.method),
        negatives=negatives,
        split=_split(path, raw),
        description=_typed(path, raw, "description", str, "", ""),
        max_n_frac=max_n,
        path=path,
    )


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a TOML task spec."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    return parse_spec(raw, str(path))
