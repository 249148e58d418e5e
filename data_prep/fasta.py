"""Streaming FASTA reader: plain, gzip or BGZF, one record at a time, strict about bad input.

Why strict: a genome that silently turns ``R`` into ``A`` or drops a truncated tail trains a model
on sequence that does not exist. Every irregularity is either an error naming file, line and
character, or a documented, counted handling:

* lower-case (soft-masked repeats) -> upper-cased; the mask is kept per base (``repeat_frac``).
* IUPAC ambiguity codes (R Y S W K M B D H V, any case) -> N, counted per record.
* CRLF line endings -> accepted, counted (``crlf_lines``); blank lines -> skipped.
* old-Mac CR-only line endings -> read as line ends, counted (``cr_lines``).
* bzip2, xz, zstd, zip, UTF-16 or a byte-order mark -> error naming the format.
* empty records (a header with no sequence) -> skipped, counted (``empty_records``).
* anything else (digits, gaps, ``*``, bytes >= 0x80 in sequence, data before the first header,
  a header with no name, a duplicate record name, a truncated or corrupt gzip stream) -> error.

Memory is bounded by the largest record, not by the genome: records are yielded one by one.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from data_prep.vocab_codes import BASES

# byte -> code: A0 C1 G2 T3 N4; IUPAC ambiguity -> 5 (becomes N, counted); invalid -> 255.
_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(BASES.encode()):  # the base order every stage uses
    _CODE[_b] = _i
    _CODE[_b + 32] = _i
for _b in b"RYSWKMBDHV":
    _CODE[_b] = 5
    _CODE[_b + 32] = 5
_LOWER = np.zeros(256, dtype=bool)
_LOWER[np.frombuffer(b"acgtnryswkmbdhv", np.uint8)] = True
IUPAC_CODE = 5
# The same maps as bytes.translate tables: one C pass per block, several times faster than numpy
# fancy indexing, and the newline deletion comes for free.
_CODE_T = _CODE.tobytes()
_LOWER_T = _LOWER.astype(np.uint8).tobytes()


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
    cr_lines: int = 0  # old-Mac lone CR line ends, read as line ends
    blank_lines: int = 0


# Formats a FASTA path may hold that dnapt does not read, by their leading bytes: named in the
# error instead of "sequence before the first '>' header".
_UNSUPPORTED = (
    (b"BZh", "bzip2-compressed", "decompress it (bunzip2) or recompress with gzip/bgzip"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (unxz) or recompress with gzip/bgzip"),
    (
        b"\x28\xb5\x2f\xfd",
        "zstd-compressed",
        "decompress it (unzstd) or recompress with gzip/bgzip",
    ),
    (b"PK\x03\x04", "a zip archive", "extract the FASTA from it"),
    (b"\xef\xbb\xbf", "UTF-8 text with a byte-order mark", "save it without the BOM"),
    (b"\xff\xfe", "UTF-16 (little-endian) text", "convert it to ASCII (iconv -f UTF-16)"),
    (b"\xfe\xff", "UTF-16 (big-endian) text", "convert it to ASCII (iconv -f UTF-16)"),
)


def _open(path: Path) -> io.BufferedIOBase:
    """Open plain or gzip/BGZF (multi-member gzip) transparently, by magic bytes not by suffix."""
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = fh.read(6)
    fh.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    for prefix, what, fix in _UNSUPPORTED:
        if magic.startswith(prefix):
            fh.close()
            raise FastaError(f"{path}: is {what}, not FASTA (plain, gzip or BGZF): {fix}")
    return fh


def _blocks(path: Path, size: int = 1 << 23) -> Iterator[bytes]:
    """Decompressed blocks of the file; gzip faults become one-line FastaErrors."""
    try:
        with _open(path) as fh:
            if isinstance(fh, gzip.GzipFile):
                yield from _gunzip(fh.fileobj, size)  # type: ignore[arg-type]
            else:
                yield from iter(lambda: fh.read(size), b"")
    except EOFError as e:
        raise FastaError(
            f"{path}: truncated gzip stream ({e}); the file is incomplete: download it again"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise FastaError(f"{path}: corrupt gzip data ({e}); download the file again") from None


def _gunzip(raw: io.BufferedIOBase, size: int) -> Iterator[bytes]:
    """Decompress gzip / BGZF (any number of members) with zlib directly, in big blocks.

    GzipFile reads through many small internal buffers; at sharding speeds that Python overhead
    was ~40% of decompression. zlib's gzip mode (wbits 31) checks each member's header, CRC32 and
    length as GzipFile does; zero padding between members is skipped as GzipFile does.
    """
    d, fed = zlib.decompressobj(31), False
    while data := raw.read(1 << 20):
        while data:
            fed = True
            out = d.decompress(data, size)
            data = d.unconsumed_tail
            if out:
                yield out
            if d.eof:  # member done: the rest of the input starts the next one
                data = d.unused_data.lstrip(b"\x00") + data
                d, fed = zlib.decompressobj(31), False
                if data and not data.startswith(b"\x1f\x8b"):
                    raise gzip.BadGzipFile("trailing data after a gzip member")
    if fed and not d.eof:
        tail = d.flush()
        if tail:
            yield tail
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")


_LONE_CR = re.compile(rb"\r(?!\n)")


def _lone_cr_to_lf(blocks: Iterator[bytes], st: FileStats) -> Iterator[bytes]:
    """Old-Mac line ends: a CR not followed by LF ends a line like LF does (counted in
    ``cr_lines``). Without this a CR-only file is one long header line and its bases vanish."""
    pending = b""
    for block in blocks:
        if pending:
            block, pending = pending + block, b""
        if b"\r" not in block:  # the common case: one memchr, no copy
            yield block
            continue
        if block.endswith(b"\r"):  # its LF, if any, starts the next block
            block, pending = block[:-1], b"\r"
        if block.count(b"\r") != block.count(b"\r\n"):
            block, n = _LONE_CR.subn(b"\n", block)
            st.cr_lines += n
        yield block
    if pending:
        st.cr_lines += 1
        yield b"\n"


def _line_chunks(path: Path, st: FileStats) -> Iterator[tuple[bytes, int]]:
    """(chunk of whole lines ending in a newline, line number of its first line)."""
    carry = b""
    line0 = 1
    for block in _lone_cr_to_lf(_blocks(path), st):
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        chunk, carry = data[:cut], data[cut:]
        yield chunk, line0
        line0 += chunk.count(b"\n")
    if carry:
        yield carry + b"\n", line0


def _blank_lines(seg: bytes) -> int:
    """Empty lines in whole LF-terminated lines; a search per blank line, and they are rare."""
    n = 1 if seg[:1] == b"\n" else 0
    i = seg.find(b"\n\n")
    while i >= 0:
        n += 1
        i = seg.find(b"\n\n", i + 1)
    return n


class _Checked:
    """A chunk as a numpy array with its newline positions, built only if the exact path needs it."""

    def __init__(self, chunk: bytes, line0: int) -> None:
        self.chunk, self.line0 = chunk, line0

    @cached_property
    def arr(self) -> np.ndarray:
        return np.frombuffer(self.chunk, np.uint8)

    @cached_property
    def nl(self) -> np.ndarray:
        return np.flatnonzero(self.arr == 10)


class _Reader:
    """Block-wise FASTA state machine: whole chunks of lines are validated with numpy at once,
    which is what makes reading run at tens of megabases per second in pure Python."""

    def __init__(self, path: Path, st: FileStats) -> None:
        self.path, self.st = path, st
        self.name: str | None = None
        self.header_line = 0
        self.parts: list[tuple[bytes, bytes]] = []  # (base codes, soft-mask) per block
        self.seen: dict[str, int] = {}

    def records(self) -> Iterator[Record]:
        """Parse the file chunk by chunk, yielding each record once its next header is seen."""
        for chunk, line0 in _line_chunks(self.path, self.st):
            # Header lines: '>' is rare, so a memchr-speed search for it beats any pass over
            # the lines; a '>' inside a line is left to the validation (invalid character).
            heads = []
            i = chunk.find(b">")
            while i >= 0:
                if i == 0 or chunk[i - 1] == 10:
                    heads.append(i)
                i = chunk.find(b">", i + 1)
            checked = _Checked(chunk, line0)
            # sequence before the first header of this chunk, then one header + body at a time
            self._body(chunk, checked, 0, heads[0] if heads else len(chunk))
            for h, hstart in enumerate(heads):
                hend = chunk.index(b"\n", hstart)
                rec = self._close()
                if rec is not None:
                    yield rec
                self._open(chunk[hstart:hend], line0 + chunk.count(b"\n", 0, hstart))
                nxt = heads[h + 1] if h + 1 < len(heads) else len(chunk)
                self._body(chunk, checked, hend + 1, nxt)
        rec = self._close()
        if rec is not None:
            yield rec
        if not self.seen:
            raise FastaError(f"{self.path}: no FASTA record found (empty file?); expected '>name'")

    def _open(self, header: bytes, lineno: int) -> None:
        if header.endswith(b"\r"):
            self.st.crlf_lines += 1
            header = header[:-1]
        name = _header_name(header, self.path, lineno)
        if name in self.seen:
            raise FastaError(
                f"{self.path}:{lineno}: duplicate record name '{name}' (first at line "
                f"{self.seen[name]}); record names must be unique: rename one"
            )
        self.seen[name] = lineno
        self.name, self.header_line, self.parts = name, lineno, []

    def _body(self, chunk: bytes, checked: _Checked, lo: int, hi: int) -> None:
        """Validate and keep the sequence bytes chunk[lo:hi] (whole lines).

        Fast path for the common case (LF line endings, only valid characters, inside a record):
        two ``bytes.translate`` passes give the base codes and the soft-mask with the newlines
        removed. Anything else takes ``_body_checked``, which counts
        the documented handlings and names the offending line in its error.
        """
        if hi <= lo:
            return
        seg = chunk[lo:hi]
        if self.name is not None and b"\r" not in seg:
            codes = seg.translate(_CODE_T, b"\n")
            if b"\xff" not in codes:
                self.st.blank_lines += _blank_lines(seg)
                if codes:
                    self.parts.append((codes, seg.translate(_LOWER_T, b"\n")))
                return
        self._body_checked(checked.arr, checked.nl, lo, hi, checked.line0)

    def _body_checked(self, arr: np.ndarray, nl: np.ndarray, lo: int, hi: int, line0: int) -> None:
        """The exact numpy path: CRLF and blank-line counts, errors with line and column."""
        seg = arr[lo:hi]
        is_nl = seg == 10
        crlf = np.zeros(seg.size, bool)
        crlf[:-1] = (seg[:-1] == 13) & is_nl[1:]
        self.st.crlf_lines += int(crlf.sum())
        ends = np.flatnonzero(is_nl)
        line_start = np.r_[0, ends[:-1] + 1]
        length = ends - line_start
        self.st.blank_lines += int(((length == 0) | ((length == 1) & crlf[line_start])).sum())
        keep = ~(is_nl | crlf)
        raw = seg[keep]
        if raw.size == 0:
            return
        codes = _CODE[raw]
        bad = np.flatnonzero(codes == 255)
        if bad.size or self.name is None:
            pos = lo + int(np.flatnonzero(keep)[bad[0] if bad.size else 0])
            line_idx = int(np.searchsorted(nl, pos))
            lineno = line0 + line_idx
            col = pos - (int(nl[line_idx - 1]) + 1 if line_idx else 0) + 1
            if self.name is None:
                raise FastaError(
                    f"{self.path}:{lineno}: sequence before the first '>' header; is this a FASTA "
                    "file? Every record must start with a line '>name'"
                )
            shown = repr(bytes([arr[pos]]).decode("latin-1"))
            raise FastaError(
                f"{self.path}:{lineno}: invalid character {shown} at column {col} in record "
                f"'{self.name}'; allowed are ACGTN, IUPAC codes RYSWKMBDHV (mapped to N) and "
                "their lower-case forms: fix or remove that line"
            )
        self.parts.append((_CODE[raw].tobytes(), _LOWER[raw].view(np.uint8).tobytes()))

    def _close(self) -> Record | None:
        if self.name is None:
            return None
        name, parts, self.parts = self.name, self.parts, []
        st = self.st
        if not parts:
            st.empty_records.append(name)
            return None
        joined = b"".join(p[0] for p in parts)
        # `in` is a memchr scan, several times faster than count(): most genomes have no IUPAC
        n_iupac = joined.count(IUPAC_CODE) if bytes([IUPAC_CODE]) in joined else 0
        if n_iupac:
            joined = joined.replace(bytes([IUPAC_CODE]), b"\x04")
        codes = np.frombuffer(joined, np.uint8).copy()  # writable, owned by the Record
        mask = b"".join(p[1] for p in parts)
        lower = np.frombuffer(mask, np.bool_).copy()
        st.records += 1
        st.bases += int(codes.size)
        st.n_bases += joined.count(4) if b"\x04" in joined else 0
        st.iupac_bases += n_iupac
        st.lower_bases += mask.count(1) if b"\x01" in mask else 0
        st.record_lengths[name] = int(codes.size)
        return Record(name, codes, lower, str(self.path), self.header_line, n_iupac)


def read_fasta(path: str | Path, stats: FileStats | None = None) -> Iterator[Record]:
    """Yield the records of one FASTA file, validating as it streams (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FastaError(f"{path}: no such file")
    st = stats if stats is not None else FileStats(str(path))
    st.bytes = path.stat().st_size
    yield from _Reader(path, st).records()


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
