"""verify: a shard directory someone else made must match its sealed manifest and its sources."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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


class _Payload:
    """Pickles to a call that creates ``marker``: what a crafted ``pkl`` column would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _craft_pickle_split(shards: Path, marker: Path) -> None:
    """Replace char/val with an MDS split whose ``record`` column is ``pkl``, and re-seal the
    manifest with the new file hashes: what a malicious shard provider would ship."""
    from streaming import MDSWriter

    from dnapt.hashing import sha256_file

    val = shards / "char" / "val"
    shutil.rmtree(val)
    cols = {
        "input_ids": "ndarray:uint16",
        "record": "pkl",
        "start": "int",
        "repeat_frac": "float32",
    }
    with MDSWriter(out=str(val), columns=cols, compression="zstd") as w:
        w.write({"input_ids": np.arange(64, dtype=np.uint16) % 5 + 5, "record": _Payload(marker),
                 "start": 0, "repeat_frac": 0.0})  # fmt: skip
    path = shards / "manifest.json"
    manifest = json.loads(path.read_text())
    files = manifest["vocabs"]["char"]["files"]
    for rel in [f for f in files if f.startswith("val/")]:
        files.pop(rel)
    for p in sorted(val.iterdir()):
        files[f"val/{p.name}"] = sha256_file(p)
    path.write_text(json.dumps(seal(manifest)))


def test_pickle_shard_is_refused_by_verify_and_the_report(
    own_fasta_shards: Path, tmp_path: Path
) -> None:
    """Issue case: `shard.py verify` and `analyze_vocab.py` ran code from a crafted pkl column."""
    marker = tmp_path / "pwned"
    _craft_pickle_split(own_fasta_shards, marker)
    with pytest.raises(VerifyError, match="val/index.json: shard 0: columns .* refusing"):
        verify(own_fasta_shards)
    r = subprocess.run(
        [sys.executable, str(ROOT / "data_prep" / "analyze_vocab.py"), "--data",
         str(own_fasta_shards), "--no-benchmark", "--out", str(tmp_path / "rep")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "refusing to decode them" in r.stderr.strip().splitlines()[-1]
    assert not marker.exists()


def test_verify_flags_come_from_its_config(capsys: pytest.CaptureFixture) -> None:
    from data_prep.verify import main

    assert main(["somewhere", "--samples", "-1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == "verify: error: --samples -1: must be >= 0"
