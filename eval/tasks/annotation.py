"""GFF3 and BED readers (plain or gzip): intervals with record, 0-based half-open coordinates,
strand, type and attributes.

Strict for the same reason as the FASTA reader: a mis-parsed coordinate moves every window of a
task. A malformed line is a one-line ``AnnotationError`` naming file, line and field; comment,
``track`` and ``browser`` lines are skipped, and a GFF3 ``##FASTA`` section ends the features.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

GFF_FIELDS = ("seqid", "source", "type", "start", "end", "score", "strand", "phase", "attributes")
BED_FIELDS = ("chrom", "chromStart", "chromEnd", "name", "score", "strand")


class AnnotationError(ValueError):
    """A malformed annotation line; the message names file, line and field."""


@dataclass(frozen=True)
class Interval:
    """One feature: ``[start, end)`` 0-based on ``record``; strand '+', '-' or '.'."""

    record: str
    start: int
    end: int
    strand: str
    type: str
    attrs: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _text_lines(path: Path):
    """Lines of a plain or gzip file (by magic bytes, not suffix)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - closed below
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", newline=None) as text:
            yield from enumerate(text, start=1)
    except (OSError, EOFError) as e:
        raise AnnotationError(f"{path}: unreadable or truncated file ({e})") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not UTF-8 text ({e.reason})") from None


def _int(path: Path, lineno: int, col: int, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise AnnotationError(
            f"{path}:{lineno}: field {col} ({name}) {value!r} is not an integer"
        ) from None


def _attributes(path: Path, lineno: int, text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if text in (".", ""):
        return attrs
    for part in text.strip(";").split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise AnnotationError(
                f"{path}:{lineno}: field 9 (attributes) {part!r} is not tag=value; "
                "GFF3 attributes are tag=value pairs separated by ';'"
            )
        attrs[unquote(key)] = unquote(value)
    return attrs


def read_gff3(path: str | Path) -> list[Interval]:
    """Every feature line of a GFF3 file (1-based inclusive on disk, 0-based half-open here)."""
    path = Path(path)
    out: list[Interval] = []
    for lineno, line in _text_lines(path):
        line = line.rstrip("\n")
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 9:
            raise AnnotationError(
                f"{path}:{lineno}: {len(cols)} tab-separated fields, GFF3 needs 9 "
                f"({', '.join(GFF_FIELDS)})"
            )
        start = _int(path, lineno, 4, "start", cols[3])
        end = _int(path, lineno, 5, "end", cols[4])
        if start < 1 or end < start:
            raise AnnotationError(
                f"{path}:{lineno}: field 4/5 (start/end) {start}..{end}: need 1 <= start <= end"
            )
        if cols[6] not in ("+", "-", ".", "?"):
            raise AnnotationError(
                f"{path}:{lineno}: field 7 (strand) {cols[6]!r} is not one of + - . ?"
            )
        if not cols[0] or not cols[2]:
            raise AnnotationError(f"{path}:{lineno}: field 1 (seqid) or 3 (type) is empty")
        out.append(
            Interval(
                cols[0],
                start - 1,
                end,
                "." if cols[6] == "?" else cols[6],
                cols[2],
                _attributes(path, lineno, cols[8]),
            )
        )
    return out


def read_bed(path: str | Path) -> list[Interval]:
    """BED3..BED6+ intervals (0-based half-open on disk); the name column becomes ``type``."""
    path = Path(path)
    out: list[Interval] = []
    for lineno, line in _text_lines(path):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise AnnotationError(
                f"{path}:{lineno}: {len(cols)} tab-separated fields, BED needs at least 3 "
                f"({', '.join(BED_FIELDS[:3])})"
            )
        start = _int(path, lineno, 2, "chromStart", cols[1])
        end = _int(path, lineno, 3, "chromEnd", cols[2])
        if start < 0 or end <= start:
            raise AnnotationError(
                f"{path}:{lineno}: field 2/3 (chromStart/chromEnd) {start}..{end}: "
                "need 0 <= chromStart < chromEnd"
            )
        strand = cols[5] if len(cols) > 5 else "."
        if strand not in ("+", "-", "."):
            raise AnnotationError(
                f"{path}:{lineno}: field 6 (strand) {strand!r} is not one of + - ."
            )
        name = cols[3] if len(cols) > 3 and cols[3] not in ("", ".") else "interval"
        out.append(Interval(cols[0], start, end, strand, name))
    return out


def read_annotation(path: str | Path) -> tuple[list[Interval], str]:
    """(intervals, format): BED when the name ends in .bed / .bed.gz, GFF3 otherwise."""
    name = Path(path).name.lower()
    if name.endswith((".bed", ".bed.gz")):
        return read_bed(path), "bed"
    return read_gff3(path), "gff3"
