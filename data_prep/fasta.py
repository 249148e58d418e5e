"""Streaming FASTA reader: plain, gzip or BGZF, one record at a time, strict about bad input.

Why strict: a genome that silently turns ``R`` into ``A`` or drops a truncated tail trains a model
on sequence that does not exist. Every irregularity is either an error naming file, line and
character, or a documented, counted handling:

* lower-case (soft-masked repeats) -> upper-cased; the mask is kept per base (``repeat_frac``).
* IUPAC ambiguity codes (R Y S W K M B D H V, any case) -> N, counted per record.
* CRLF line endings -> accepted, counted (``crlf_lines``); blank lines -> skipped.
* empty records (a header with no sequence) -> skipped, counted (``empty_records``).
* anything else (digits, gaps, ``*``, bytes >= 0x80 in sequence, data before the first header,
  a header with no name, a duplicate record name, a truncated or corrupt gzip stream) -> error.

Memory is bounded by the largest record, not by the genome: records are yielded one by one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# byte -> code: A0 C1 G2 T3 N4; IUPAC ambiguity -> 5 (becomes N, counted); invalid -> 255.
_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(b"ACGTN"):
    _CODE[_b] = _i
    _CODE[_b + 32] = _i
for _b in b"RYSWKMBDHV":
    _CODE[_b] = 5
    _CODE[_b + 32] = 5
_LOWER = np.zeros(256, dtype=bool)
_LOWER[np.frombuffer(b"acgtnryswkmbdhv", np.uint8)] = True
IUPAC_CODE = 5


class FastaError(ValueError):
    """Malformed FASTA input; the message names file, line and what to do."""


@dataclass
class Record:
    """One FASTA record as base codes (A0 C1 G2 T3 N4) plus its soft-mask and counts."""

    name: str
    codes: np.ndarray  # uint8, IUPAC already mapped to N
    lower: np.ndarray  # bool: soft-masked (lower-case) base
    path: str
    header_line: int
    iupac: int = 0

    @property
    def length(self) -> int:
        return int(self.codes.size)


@dataclass
class FileStats:
    """Counts of documented handlings for one input file (go into the manifest)."""

    path: str
    bytes: int = 0
    records: int = 0
    bases: int = 0
    n_bases: int = 0  # after IUPAC -> N
    iupac_bases: int = 0
    lower_bases: int = 0
    record_lengths: dict[str, int] = field(default_factory=dict)
    empty_records: list[str] = field(default_factory=list)
    crlf_lines: int = 0
    blank_lines: int = 0


def _open(path: Path) -> io.BufferedIOBase:
    """Open plain or gzip/BGZF (multi-member gzip) transparently, by magic bytes not by suffix."""
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _lines(path: Path) -> Iterator[bytes]:
    """Lines of the decompressed file; gzip faults become one-line FastaErrors."""
    try:
        with _open(path) as fh:
            yield from fh
    except EOFError as e:
        raise FastaError(
            f"{path}: truncated gzip stream ({e}); the file is incomplete: download it again"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise FastaError(f"{path}: corrupt gzip data ({e}); download the file again") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_fasta(path: str | Path, stats: FileStats | None = None) -> Iterator[Record]:
    """Yield the records of one FASTA file, validating as it streams (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FastaError(f"{path}: no such file")
    st = stats if stats is not None else FileStats(str(path))
    st.bytes = path.stat().st_size
    name: str | None = None
    header_line = 0
    chunks: list[bytes] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(_lines(path), start=1):
        line = raw.rstrip(b"\n")
        if line.endswith(b"\r"):
            st.crlf_lines += 1
            line = line[:-1]
        if line.startswith(b">"):
            if name is not None:
                rec = _finish(name, chunks, path, header_line, st)
                if rec is not None:
                    yield rec
            name = _header_name(line, path, lineno)
            if name in seen:
                raise FastaError(
                    f"{path}:{lineno}: duplicate record name '{name}' (first at line "
                    f"{seen[name]}); record names must be unique: rename one"
                )
            seen[name] = lineno
            header_line, chunks = lineno, []
            continue
        stripped = line.strip(b" \t")
        if not stripped:
            st.blank_lines += 1
            continue
        if name is None:
            raise FastaError(
                f"{path}:{lineno}: sequence before the first '>' header; is this a FASTA file? "
                "Every record must start with a line '>name'"
            )
        codes = _CODE[np.frombuffer(stripped, np.uint8)]
        bad = np.flatnonzero(codes == 255)
        if bad.size:
            col = int(bad[0])
            ch = stripped[col : col + 1]
            shown = repr(ch.decode("latin-1"))
            raise FastaError(
                f"{path}:{lineno}: invalid character {shown} at column {col + 1} in record "
                f"'{name}'; allowed are ACGTN, IUPAC codes RYSWKMBDHV (mapped to N) and their "
                "lower-case forms: fix or remove that line"
            )
        chunks.append(stripped)
    if name is not None:
        rec = _finish(name, chunks, path, header_line, st)
        if rec is not None:
            yield rec
    else:
        raise FastaError(f"{path}: no FASTA record found (empty file?); expected '>name' lines")


def _header_name(line: bytes, path: Path, lineno: int) -> str:
    try:
        text = line[1:].decode("ascii").strip()
    except UnicodeDecodeError:
        raise FastaError(
            f"{path}:{lineno}: header is not ASCII text; record names must be ASCII"
        ) from None
    if not text or not text.split()[0]:
        raise FastaError(f"{path}:{lineno}: header '>' has no record name; write '>name ...'")
    return text.split()[0]


def _finish(
    name: str, chunks: list[bytes], path: Path, header_line: int, st: FileStats
) -> Record | None:
    if not chunks:
        st.empty_records.append(name)
        return None
    raw = np.frombuffer(b"".join(chunks), np.uint8)
    codes = _CODE[raw]
    iupac = codes == IUPAC_CODE
    n_iupac = int(iupac.sum())
    if n_iupac:
        codes[iupac] = 4
    lower = _LOWER[raw]
    st.records += 1
    st.bases += int(codes.size)
    st.n_bases += int((codes == 4).sum())
    st.iupac_bases += n_iupac
    st.lower_bases += int(lower.sum())
    st.record_lengths[name] = int(codes.size)
    return Record(name, codes, lower, str(path), header_line, n_iupac)
