"""The manifest contract: typed round trip, schema versions, the digest sealed at write and any
later edit detected, bad files named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.manifest import Manifest, ManifestError, load_sealed, manifest_digest, seal


def _write(path: Path, manifest: dict) -> Path:
    path.write_text(json.dumps(manifest, indent=2))
    return path


def test_sealed_manifest_reads_back(tmp_path: Path) -> None:
    m = seal({"vocabs": {"char": {"size": 10}}, "splits": {"val": {"windows": 3}}})
    assert m["digest"] == manifest_digest(m) and m["digest"].startswith("sha256:")
    assert load_sealed(_write(tmp_path / "manifest.json", m)) == m


def test_any_edit_is_detected(tmp_path: Path) -> None:
    m = seal({"vocabs": {"char": {"size": 10}}, "splits": {"val": {"windows": 3}}})
    m["splits"]["val"]["windows"] = 4
    with pytest.raises(ManifestError, match="does not match its digest"):
        load_sealed(_write(tmp_path / "manifest.json", m))


def test_unsealed_manifest(tmp_path: Path) -> None:
    path = _write(tmp_path / "manifest.json", {"vocabs": {}})
    with pytest.raises(ManifestError, match="has no digest"):
        load_sealed(path)
    assert load_sealed(path, require_digest=False) == {"vocabs": {}}


@pytest.mark.parametrize(
    "text, match",
    [("", "not valid JSON"), ('{"vocabs": {', "not valid JSON"), ("[1]", "not a dnapt manifest")],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=match):
        load_sealed(path)
    with pytest.raises(ManifestError, match="missing"):
        load_sealed(tmp_path / "nope.json")


def test_digest_ignores_only_the_run_timing() -> None:
    a = seal({"vocabs": {}, "params": {"seed": 0}, "run": {"created": "t1", "workers": 1}})
    b = seal({"vocabs": {}, "params": {"seed": 0}, "run": {"created": "t2", "workers": 4}})
    c = seal({"vocabs": {}, "params": {"seed": 1}, "run": {"created": "t1", "workers": 1}})
    assert a["digest"] == b["digest"] != c["digest"]


def _minimal() -> dict:
    """A version-1 manifest (no schema_version), as dnapt wrote before the typed contract."""
    return {
        "dnapt_version": "0.1.0",
        "params": {
            "inputs": ["ecoli_k12"], "vocabs": ["char"], "window": 64, "stride": 64,
            "val_records": [], "val_fraction": 0.1, "max_n_frac": 0.0, "seed": 0,
            "format": "mds", "bpe_train_bases": 8000000,
        },
        "sources": [{"input": "ecoli_k12", "file": "e.fa.gz", "sha256": "ab", "bytes": 10,
                     "records": 1, "bases": 640, "record_lengths": {"a": 640}}],
        "splits": {s: {"records": 1, "windows": 5, "bases": 320} for s in ("train", "val")},
        "vocabs": {"char": {"name": "char", "family": "char", "k": None, "size": 10,
                            "dtype": "uint16", "max_tokens": 64, "tokenizer_sha256": "cd",
                            "splits": {"train": {"tokens": 320, "unk_tokens": 0},
                                       "val": {"tokens": 320, "unk_tokens": 0}},
                            "files": {"vocab.json": "ef"}}},
        "run": {"created": "t", "elapsed_s": 1.0, "workers": 1},
    }  # fmt: skip


def test_typed_manifest_reads_version_1_and_writes_version_2(tmp_path: Path) -> None:
    m = Manifest.read(_write(tmp_path / "manifest.json", seal(_minimal())))
    assert m.schema_version == 1 and m.params.window == 64 and m.vocabs["char"].size == 10
    assert m.split_windows("val") == 5 and m.sources[0].record_lengths == {"a": 640}
    v2 = Manifest.from_json({**m.to_json(), "schema_version": 2}).sealed()
    v2.write(tmp_path / "m2.json")
    back = Manifest.read(tmp_path / "m2.json")
    assert (
        back == v2 and list(json.loads((tmp_path / "m2.json").read_text()))[0] == "schema_version"
    )
    assert back.to_json()["params"] == _minimal()["params"]


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(schema_version=99), "schema_version 99 is not one this dnapt reads"),
        (lambda m: m.pop("params"), "missing key 'params'"),
        (lambda m: m["splits"]["val"].update(windows="5"), "splits.val: windows: '5' is not int"),
    ],
)
def test_malformed_typed_manifest_is_one_line(tmp_path: Path, edit, match: str) -> None:
    m = _minimal()
    edit(m)
    with pytest.raises(ManifestError, match=match) as err:
        Manifest.read(_write(tmp_path / "manifest.json", seal(m)))
    assert str(tmp_path / "manifest.json") in str(err.value) and "\n" not in str(err.value)
