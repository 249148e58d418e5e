"""Data registry: mirror first, then cache, then download; sha256 always checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_prep import sources
from data_prep.sources import SourceError, resolve


def test_mirror_resolves_and_is_verified(data_mirror: Path) -> None:
    assert resolve("ecoli_k12") == data_mirror / sources.SOURCES["ecoli_k12"].relpath


def test_cache_used_when_no_mirror(tmp_path: Path, monkeypatch, data_mirror: Path) -> None:
    src = sources.SOURCES["hg38_chr2_slice"]
    cached = tmp_path / src.relpath
    cached.parent.mkdir(parents=True)
    shutil.copy(data_mirror / src.relpath, cached)
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path))
    assert resolve("hg38_chr2_slice") == cached


def test_checksum_mismatch_is_an_error(tmp_path: Path, monkeypatch) -> None:
    src = sources.SOURCES["ecoli_k12"]
    bad = tmp_path / src.relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the genome")
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path))
    with pytest.raises(SourceError, match="does not match the registry"):
        resolve("ecoli_k12")


def test_offline_and_missing_names_the_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / "m"))
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "c"))
    with pytest.raises(SourceError) as e:
        resolve("scerevisiae_s288c")
    msg = str(e.value)
    assert "genomes/scerevisiae_S288C_R64_nuclear.fa.gz" in msg and str(tmp_path / "c") in msg


def test_failed_download_names_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / "m"))
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "c"))

    def refuse(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(sources.urllib.request, "urlopen", refuse)
    with pytest.raises(SourceError, match="download .* failed .*offline, copy"):
        resolve("ecoli_k12")


def test_unknown_name() -> None:
    with pytest.raises(SourceError, match="neither an existing file nor a registry name"):
        resolve("mouse_chr1")
