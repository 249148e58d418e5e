"""The manifest digest: sealed at write, any later edit detected, bad files named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.manifest import ManifestError, manifest_digest, read_manifest, seal


def _write(path: Path, manifest: dict) -> Path:
    path.write_text(json.dumps(manifest, indent=2))
    return path


def test_sealed_manifest_reads_back(tmp_path: Path) -> None:
    m = seal({"vocabs": {"char": {"size": 10}}, "splits": {"val": {"windows": 3}}})
    assert m["digest"] == manifest_digest(m) and m["digest"].startswith("sha256:")
    assert read_manifest(_write(tmp_path / "manifest.json", m)) == m


def test_any_edit_is_detected(tmp_path: Path) -> None:
    m = seal({"vocabs": {"char": {"size": 10}}, "splits": {"val": {"windows": 3}}})
    m["splits"]["val"]["windows"] = 4
    with pytest.raises(ManifestError, match="does not match its digest"):
        read_manifest(_write(tmp_path / "manifest.json", m))


def test_unsealed_manifest(tmp_path: Path) -> None:
    path = _write(tmp_path / "manifest.json", {"vocabs": {}})
    with pytest.raises(ManifestError, match="has no digest"):
        read_manifest(path)
    assert read_manifest(path, require_digest=False) == {"vocabs": {}}


@pytest.mark.parametrize(
    "text, match",
    [("", "not valid JSON"), ('{"vocabs": {', "not valid JSON"), ("[1]", "not a dnapt manifest")],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=match):
        read_manifest(path)
    with pytest.raises(ManifestError, match="missing"):
        read_manifest(tmp_path / "nope.json")


def test_digest_ignores_only_the_run_timing() -> None:
    a = seal({"vocabs": {}, "params": {"seed": 0}, "run": {"created": "t1", "workers": 1}})
    b = seal({"vocabs": {}, "params": {"seed": 0}, "run": {"created": "t2", "workers": 4}})
    c = seal({"vocabs": {}, "params": {"seed": 1}, "run": {"created": "t1", "workers": 1}})
    assert a["digest"] == b["digest"] != c["digest"]
