"""verify: a shard directory someone else made must match its sealed manifest and its sources."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.manifest import seal
from data_prep.shard import ShardConfig, run_shard
from data_prep.verify import VerifyError, verify
from data_prep.windows import WindowConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def own_fasta_shards(tmp_path: Path) -> Path:
    """A tiny shard set made from an explicit FASTA file (not a registry name)."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(">r1\n" + "ACGTTGCA" * 200 + "\n>r2\n" + "GGCATTAC" * 200 + "\n")
    out = tmp_path / "shards"
    run_shard(
        ShardConfig(
            out=out,
            inputs=[str(fasta)],
            vocabs=["char"],
            windows=WindowConfig(window=64, stride=64, val_fraction=0.2),
            progress=False,
        )
    )
    return out


def test_changed_fasta_is_caught(own_fasta_shards: Path, tmp_path: Path) -> None:
    assert verify(own_fasta_shards)["decoded_checks"] > 0
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta.read_text().replace("ACGTTGCA", "ACGTTGCC", 1))
    with pytest.raises(VerifyError, match="g.fa: sha256 .* differs .* the FASTA changed"):
        verify(own_fasta_shards)


def test_hand_edited_manifest_is_caught(own_fasta_shards: Path) -> None:
    path = own_fasta_shards / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["splits"]["val"]["windows"] -= 1
    path.write_text(json.dumps(manifest, indent=2))
    with pytest.raises(VerifyError, match="does not match its digest"):
        verify(own_fasta_shards)


@pytest.mark.parametrize("cut", [0, 10, -40])
def test_truncated_manifest_is_one_line(own_fasta_shards: Path, cut: int) -> None:
    path = own_fasta_shards / "manifest.json"
    path.write_text(path.read_text()[:cut])
    r = subprocess.run(
        [sys.executable, str(ROOT / "data_prep" / "shard.py"), "verify", str(own_fasta_shards)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith(f"verify: FAILED: {path}: not valid JSON")


def test_manifest_paths_cannot_leave_the_directory(own_fasta_shards: Path, tmp_path: Path) -> None:
    """A re-sealed (crafted) manifest pointing outside is refused before anything is read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    path = own_fasta_shards / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["vocabs"]["char"]["files"]["../../secret.txt"] = "0" * 64
    path.write_text(json.dumps(seal(manifest)))
    with pytest.raises(VerifyError, match="'../../secret.txt' is not a plain relative path"):
        verify(own_fasta_shards)
    manifest["vocabs"]["char"]["files"].pop("../../secret.txt")
    manifest["vocabs"]["../.."] = manifest["vocabs"].pop("char")
    path.write_text(json.dumps(seal(manifest)))
    with pytest.raises(VerifyError, match="'../..' is not a plain file name"):
        verify(own_fasta_shards)
    assert secret.read_text() == "x"


def test_symlink_out_of_the_directory_is_refused(own_fasta_shards: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(own_fasta_shards / "char" / "tokenizer", outside)
    shutil.rmtree(own_fasta_shards / "char" / "tokenizer")
    (own_fasta_shards / "char" / "tokenizer").symlink_to(outside)
    with pytest.raises(VerifyError, match="resolves outside"):
        verify(own_fasta_shards)
