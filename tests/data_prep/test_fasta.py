"""FASTA reading: formats, documented handlings, and a clean error for every malformed input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_prep import fasta as fasta_mod
from data_prep.fasta import FastaError, FileStats, read_fasta
from data_prep.sources import resolve


def _write(tmp_path: Path, data: bytes, name: str = "x.fa") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _read(path: Path) -> tuple[list, FileStats]:
    st = FileStats(str(path))
    return list(read_fasta(path, st)), st


def test_plain_gzip_lowercase_iupac_crlf(tmp_path: Path) -> None:
    text = b">r1 desc\r\nACgtN\r\n\r\nRYac\r\n>r2\nTTTT\n"
    recs, st = _read(_write(tmp_path, text))
    gz, st_gz = _read(_write(tmp_path, gzip.compress(text), "x.fa.gz"))
    assert [r.name for r in recs] == ["r1", "r2"]
    r1 = recs[0]
    # IUPAC R, Y -> N (code 4), counted; never turned into a base.
    assert r1.codes.tolist() == [0, 1, 2, 3, 4, 4, 4, 0, 1]
    assert r1.lower.tolist() == [False, False, True, True, False, False, False, True, True]
    assert r1.iupac == 2 and st.iupac_bases == 2 and st.n_bases == 3
    assert st.crlf_lines == 4 and st.blank_lines == 1
    assert [r.codes.tolist() for r in gz] == [r.codes.tolist() for r in recs]


def test_bgzf_real_human_slice() -> None:
    recs = list(read_fasta(resolve("hg38_chr2_slice")))
    assert len(recs) == 1 and recs[0].length == 2_333_275
    assert (recs[0].codes[:10_000] == 4).all()  # the N run at the chromosome start stays N
    assert 0.3 < recs[0].lower.mean() < 0.4  # soft-masked repeats kept as a mask


def test_empty_record_is_skipped_and_counted(tmp_path: Path) -> None:
    recs, st = _read(_write(tmp_path, b">a\n>b\nACGT\n>c\n"))
    assert [r.name for r in recs] == ["b"]
    assert st.empty_records == ["a", "c"]


@pytest.mark.parametrize(
    "data, needle",
    [
        (b">a\nACGU\n", "x.fa:2: invalid character 'U' at column 4"),
        (b">a\nAC-GT\n", "invalid character '-'"),
        (b">a\nAC GT\n", "invalid character ' '"),
        (b"ACGT\n>a\nAC\n", "x.fa:1: sequence before the first '>' header"),
        (b">a\nAC\n>a\nGT\n", "x.fa:3: duplicate record name 'a' (first at line 1)"),
        (b">\nAC\n", "x.fa:1: header '>' has no record name"),
        (b"", "no FASTA record found"),
        (b">a\nAC\xff\n", "invalid character"),
        (b">\xe9\nAC\n", "header is not ASCII"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path: Path, data: bytes, needle: str) -> None:
    with pytest.raises(FastaError) as e:
        _read(_write(tmp_path, data))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    blob = gzip.compress(b">a\n" + b"ACGT" * 50_000 + b"\n")
    with pytest.raises(FastaError, match="truncated gzip stream"):
        _read(_write(tmp_path, blob[: len(blob) // 2], "t.fa.gz"))


def test_corrupt_gzip(tmp_path: Path) -> None:
    blob = bytearray(
        gzip.compress(b">a\n" + bytes(np.random.default_rng(0).choice(list(b"ACGT"), 50_000)))
    )
    blob[40:60] = b"\x00" * 20
    with pytest.raises(FastaError, match="gzip"):
        _read(_write(tmp_path, bytes(blob), "c.fa.gz"))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([b">r1", b">r2 x", b">", b"ACGT", b"acgtn", b"RYKM", b"", b"\r", b" "]),
            st.binary(max_size=12),
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_fuzz_never_a_traceback(tmp_path: Path, parts: list[bytes], gz: bool) -> None:
    """Any byte soup either parses into valid records or raises FastaError: nothing else."""
    data = b"\n".join(parts)
    if gz:
        data = gzip.compress(data)
        if parts and parts[-1][:1] == b"A":
            data = data[:-3]  # sometimes truncate the stream too
    path = _write(tmp_path, data, "f.fa.gz" if gz else "f.fa")
    try:
        recs, st = _read(path)
    except FastaError as e:
        assert "\n" not in str(e)
        return
    for r in recs:
        assert r.codes.size > 0 and r.codes.max() <= 4
        assert r.lower.size == r.codes.size
    assert st.records == len(recs)


def test_cr_only_line_ends_keep_every_base(tmp_path: Path) -> None:
    """Issue case: old-Mac CR line ends read as one header line and the bases were dropped."""
    recs, st = _read(_write(tmp_path, b">r1 d\rACGT\rAC\r>r2\rTTTT\r"))
    assert [(r.name, r.codes.tolist()) for r in recs] == [
        ("r1", [0, 1, 2, 3, 0, 1]),
        ("r2", [3, 3, 3, 3]),
    ]
    assert st.cr_lines == 5 and st.bases == 10 and st.empty_records == []
    # the same text with LF, CRLF or mixed ends gives the same records
    for text in (b">r1 d\nACGT\nAC\n>r2\nTTTT\n", b">r1 d\r\nACGT\rAC\r\n>r2\rTTTT"):
        other, _ = _read(_write(tmp_path, text, "y.fa"))
        assert [r.codes.tolist() for r in other] == [r.codes.tolist() for r in recs]


def test_cr_split_across_blocks() -> None:
    from data_prep.fasta import _lone_cr_to_lf

    st = FileStats("x")
    blocks = [b">a\r", b"\nAC\r", b"GT\r", b"\n", b"A\r"]
    assert b"".join(_lone_cr_to_lf(iter(blocks), st)) == b">a\r\nAC\nGT\r\nA\n"
    assert st.cr_lines == 2


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"BZh91AY&SY\x00\x00", "is bzip2-compressed, not FASTA"),
        (b"\xfd7zXZ\x00\x00\x04", "is xz-compressed, not FASTA"),
        (b"\x28\xb5\x2f\xfd\x04\x00", "is zstd-compressed, not FASTA"),
        (b"PK\x03\x04\x14\x00", "is a zip archive"),
        (">r\nACGT\n".encode("utf-16"), "is UTF-16 (little-endian) text"),
        (">r\nACGT\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "UTF-16 (big-endian)"),
        (b"\xef\xbb\xbf>r\nACGT\n", "byte-order mark, not FASTA"),
    ],
)
def test_other_formats_are_named(tmp_path: Path, data: bytes, needle: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(FastaError, match=re.escape(needle)) as e:
        list(read_fasta(path))
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def _exact_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every byte look invalid to the translate fast path, so each block takes the exact
    numpy path (which then accepts the valid ones): the reference the fast path must equal."""
    monkeypatch.setattr(fasta_mod, "_CODE_T", bytes([255]) * 256)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from([b">r1", b">r2 x", b">r3", b"ACGT", b"acgtn", b"RYKMnN", b"", b"GATTACA"]),
        max_size=14,
    ),
)
def test_fast_path_equals_exact_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: list[bytes]
) -> None:
    """Records, soft-mask, IUPAC/N/blank-line counts and errors are the same on both paths."""
    path = _write(tmp_path, b"\n".join(parts) + b"\n", "f.fa")

    def outcome() -> object:
        try:
            recs, stats = _read(path)
        except FastaError as e:
            return str(e)
        rows = [(r.name, r.codes.tolist(), r.lower.tolist(), r.iupac, r.header_line) for r in recs]
        return rows, vars(stats)

    fast = outcome()
    with monkeypatch.context() as m:
        _exact_path_only(m)
        exact = outcome()
    assert fast == exact


def test_fast_path_equals_exact_path_on_real_genomes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The soft-masked, N-rich, BGZF human slice (with its trailing blank line) on both paths."""
    path = resolve("hg38_chr2_slice")
    fast_st, exact_st = FileStats(str(path)), FileStats(str(path))
    fast = list(read_fasta(path, fast_st))
    _exact_path_only(monkeypatch)
    exact = list(read_fasta(path, exact_st))
    assert vars(fast_st) == vars(exact_st) and fast_st.blank_lines == 1
    for a, b in zip(fast, exact, strict=True):
        assert np.array_equal(a.codes, b.codes) and np.array_equal(a.lower, b.lower)
        assert a.codes.flags.writeable


_BODY = b">a\n" + b"ACGT" * 30_000 + b"\n"


@pytest.mark.parametrize(
    "blob, outcome",
    [
        (gzip.compress(_BODY[:50_000]) + gzip.compress(_BODY[50_000:]), 120_000),  # BGZF-like
        (gzip.compress(_BODY) + b"\x00" * 100, 120_000),  # zero padding, as GzipFile allows
        (gzip.compress(_BODY) + gzip.compress(b""), 120_000),  # BGZF's empty EOF member
        (gzip.compress(_BODY) + b"XYZ", "corrupt gzip data"),
        (gzip.compress(_BODY) + gzip.compress(b">b\nAC\n")[:5], "truncated gzip stream"),
        (gzip.compress(_BODY)[:-8] + b"\0\0\0\0" + gzip.compress(_BODY)[-4:], "corrupt gzip"),
    ],
    ids=["multi-member", "zero-padding", "empty-member", "garbage", "truncated-2nd", "bad-crc"],
)
def test_gzip_members_padding_and_damage(tmp_path: Path, blob: bytes, outcome) -> None:
    """The direct zlib reader accepts and rejects exactly what GzipFile does."""
    path = _write(tmp_path, blob, "m.fa.gz")
    if isinstance(outcome, int):
        assert [r.length for r in _read(path)[0]] == [outcome]
        return
    with pytest.raises(FastaError, match=outcome):
        _read(path)
    with pytest.raises((EOFError, gzip.BadGzipFile)), gzip.open(path) as fh:
        fh.read()
