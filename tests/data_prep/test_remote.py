"""Shards straight to object storage, against a file:/// stand-in for a bucket: the upload holds
the same files and manifest as the local copy, verify works on the remote copy, an existing
remote dataset needs --overwrite, and a fetch trusts neither paths nor bytes it downloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.remote import RemoteError, default_local_dir, fetch_dir
from data_prep.shard import main as shard_main
from data_prep.verify import main as verify_main


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def uploaded(ecoli_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    root = tmp_path_factory.mktemp("remote")
    bucket, local = root / "bucket" / "ds", root / "local"
    argv = [
        "--fasta", str(ecoli_slice), "--out", bucket.as_uri(), "--local", str(local),
        "--vocab", "char,kmer3-disjoint", "--window", "128", "--no-progress",
    ]  # fmt: skip
    assert shard_main(argv) == 0
    return bucket.as_uri(), bucket, local


def test_remote_copy_equals_local_copy(uploaded: tuple[str, Path, Path]) -> None:
    _, bucket, local = uploaded
    remote_files, local_files = _tree(bucket), _tree(local)
    assert remote_files == local_files
    assert {
        "manifest.json",
        "char/train/index.json",
        "kmer3-disjoint/tokenizer/tokenizer.json",
    } <= set(remote_files)
    manifest = json.loads(remote_files["manifest.json"])
    for vocab, entry in manifest["vocabs"].items():
        assert {f"{vocab}/{rel}" for rel in entry["files"]} <= set(remote_files)


def test_verify_on_the_remote_copy(
    uploaded: tuple[str, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    uri, bucket, _ = uploaded
    assert verify_main([uri]) == 0
    assert "verify: OK" in capsys.readouterr().out
    shard = next((bucket / "char" / "train").glob("shard.*.mds.zstd"))
    blob = bytearray(shard.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    good = shard.read_bytes()
    shard.write_bytes(bytes(blob))
    try:
        assert verify_main([uri]) == 1
        err = capsys.readouterr().err.strip()
        assert "does not match its manifest sha256" in err and "\n" not in err
    finally:
        shard.write_bytes(good)


def test_existing_remote_needs_overwrite_and_staging_is_removed(
    uploaded: tuple[str, Path, Path],
    ecoli_slice: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, _, _ = uploaded
    base = ["--fasta", str(ecoli_slice), "--vocab", "char", "--window", "128", "--no-progress"]
    assert shard_main([*base, "--out", uri]) == 2
    err = capsys.readouterr().err.strip()
    assert "already holds a dataset: pass --overwrite" in err and "\n" not in err
    import data_prep.shard_config as shard_mod

    staged: list[Path] = []

    def record(remote: str) -> Path:
        staged.append(default_local_dir(remote))
        return staged[-1]

    monkeypatch.setattr(shard_mod, "default_local_dir", record)
    fresh = (tmp_path / "bucket2" / "ds").as_uri()
    assert shard_main([*base, "--out", fresh]) == 0
    assert (tmp_path / "bucket2" / "ds" / "manifest.json").is_file()
    assert len(staged) == 1 and not staged[0].parent.exists()  # the temporary copy is gone


def test_fetch_refuses_paths_outside_its_folder(
    uploaded: tuple[str, Path, Path], tmp_path: Path
) -> None:
    bucket = tmp_path / "evil"
    bucket.mkdir()
    manifest = json.loads((uploaded[2] / "manifest.json").read_text())
    manifest["vocabs"]["char"]["files"] = {"../../outside.txt": "0" * 64}
    (bucket / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RemoteError, match="unsafe path"):
        fetch_dir(bucket.as_uri(), tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()
