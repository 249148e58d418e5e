"""``python data_prep/shard.py verify DIR``: prove a shard directory is intact and faithful.

Checks, each failing with a precise message: the manifest's own digest (a hand-edited manifest is
caught), every source FASTA's sha256 against the manifest, every file's sha256 against the
manifest (a flipped byte is caught), sample and token counts per vocabulary and split, identical windows across
vocabularies, train/val disjointness in bases, and a decode of sampled windows of every char and
k-mer vocabulary back to bases compared with the source FASTA.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.fasta import FastaError, read_fasta
from data_prep.manifest import Manifest, ManifestError
from data_prep.paths import UnsafePathError, contained, plain_name
from data_prep.remote import RemoteError, fetch_dir, is_remote
from data_prep.sources import SourceError, resolve
from data_prep.vocab import BASES_ARRAY, load_vocab
from data_prep.windows import SPLITS
from data_prep.writers import ShardFormatError, read_samples
from dnapt.cli import command_parser, from_namespace, option
from dnapt.errors import print_error
from dnapt.hashing import sha256_file


class VerifyError(RuntimeError):
    """The directory does not match its manifest or its sources."""


def _check_files(root: Path, manifest: Manifest) -> None:
    for name, entry in manifest.vocabs.items():
        vroot = root / plain_name(name, "manifest.json: vocabs")
        for rel, digest in entry.files.items():
            path = contained(vroot, rel, f"{root / 'manifest.json'}: vocabs.{name}.files")
            if not path.is_file():
                raise VerifyError(f"{path}: listed in manifest.json but missing")
            if sha256_file(path) != digest:
                raise VerifyError(
                    f"{path}: sha256 differs from manifest.json (corrupt or modified); "
                    "re-run data_prep/shard.py with --overwrite"
                )


def _windows(root: Path, manifest: Manifest) -> dict[str, dict[str, list]]:
    """Per vocab and split: (record, start, ids) of every sample; checks counts on the way."""
    if manifest.params.format != "mds":
        raise VerifyError(
            f"{root / 'manifest.json'}: format {manifest.params.format!r}: dnapt reads MDS "
            "shards only; re-shard"
        )
    out: dict[str, dict[str, list]] = {}
    for name, entry in manifest.vocabs.items():
        out[name] = {}
        for split in SPLITS:
            rows = [
                (s["record"], int(s["start"]), np.asarray(s["input_ids"]))
                for s in read_samples(root / name / split)
            ]
            want = manifest.split_windows(split)
            if len(rows) != want:
                raise VerifyError(f"{name}/{split}: {len(rows)} samples, manifest says {want}")
            ntok = sum(r[2].size for r in rows)
            tokens = entry.splits[split].tokens if split in entry.splits else 0
            if ntok != tokens:
                raise VerifyError(f"{name}/{split}: {ntok} tokens, manifest says {tokens}")
            out[name][split] = rows
    return out


def _check_same_windows(data: dict[str, dict[str, list]]) -> None:
    names = list(data)
    for split in SPLITS:
        ref = [(r, s) for r, s, _ in data[names[0]][split]]
        for other in names[1:]:
            if [(r, s) for r, s, _ in data[other][split]] != ref:
                raise VerifyError(f"{other}/{split}: windows differ from {names[0]}/{split}")


def _check_disjoint(rows: dict[str, list], window: int) -> None:
    spans: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"train": [], "val": []})
    for split in SPLITS:
        for rec, start, _ in rows[split]:
            spans[rec][split].append(start)
    for rec, sp in spans.items():
        if not sp["train"] or not sp["val"]:
            continue
        tr, va = np.sort(sp["train"]), np.sort(sp["val"])
        # any val window [v, v+w) overlapping a train window [t, t+w) <=> |t - v| < w
        pos = np.searchsorted(tr, va)
        for p, v in zip(pos, va, strict=True):
            near = tr[max(0, p - 1) : p + 1]
            if near.size and np.abs(near - v).min() < window:
                raise VerifyError(f"record {rec}: val window at {v} overlaps a train window")


def _check_decode(root: Path, manifest: Manifest, data: dict, samples: int, seed: int) -> int:
    window = manifest.params.window
    wanted: dict[str, list[tuple[str, int, int]]] = defaultdict(
        list
    )  # record -> (split, idx, start)
    rng = np.random.default_rng(seed)
    first = next(iter(data))
    for split in SPLITS:
        rows = data[first][split]
        for i in rng.choice(len(rows), size=min(samples, len(rows)), replace=False):
            wanted[rows[i][0]].append((split, int(i), rows[i][1]))
    vocabs = {n: load_vocab(root / n) for n in data}
    checked = 0
    for src in manifest.sources:
        for rec in read_fasta(resolve(src.input)):
            for split, i, start in wanted.get(rec.name, []):
                truth = BASES_ARRAY[rec.codes[start : start + window]].tobytes().decode()
                for name, v in vocabs.items():
                    got = v.decode_bases(data[name][split][i][2])
                    if v.family == "kmer-overlap":
                        # DNABERT [UNK] hides which base of an N-containing k-mer was N.
                        mask = np.frombuffer(got.encode(), np.uint8) != ord("N")
                        ok = np.array_equal(
                            np.frombuffer(got.encode(), np.uint8)[mask],
                            np.frombuffer(truth.encode(), np.uint8)[mask],
                        )
                    else:
                        ok = got == truth
                    if not ok:
                        raise VerifyError(
                            f"{name}/{split} sample {i} ({rec.name}:{start}) does not decode to "
                            "the FASTA bases"
                        )
                    checked += 1
    return checked


def _check_sources(manifest: Manifest) -> None:
    """Every input the shards were made from must still be the file that was sharded."""
    for src in manifest.sources:
        path = resolve(src.input)
        digest = sha256_file(path)
        if digest != src.sha256:
            raise VerifyError(
                f"{path}: sha256 {digest[:12]}… differs from the {src.sha256[:12]}… recorded "
                "in manifest.json: the FASTA changed since sharding; restore it or re-shard"
            )


def verify(root: Path, samples: int = 64, seed: int = 0) -> dict:
    """Run every check; returns a summary, raises VerifyError on the first mismatch."""
    mpath = root / "manifest.json"
    try:
        manifest = Manifest.read(mpath)
        return _verify(root, manifest, samples, seed)
    except (ManifestError, UnsafePathError, ShardFormatError) as e:
        raise VerifyError(str(e)) from None
    except (KeyError, TypeError) as e:
        raise VerifyError(
            f"{mpath}: malformed ({type(e).__name__}: {e}); not a manifest this dnapt wrote: "
            "re-shard"
        ) from None


def _verify(root: Path, manifest: Manifest, samples: int, seed: int) -> dict:
    if not manifest.vocabs:
        raise VerifyError(f"{root / 'manifest.json'}: lists no vocabularies; re-shard")
    _check_sources(manifest)
    _check_files(root, manifest)
    data = _windows(root, manifest)
    _check_same_windows(data)
    _check_disjoint(next(iter(data.values())), manifest.params.window)
    decoded = _check_decode(root, manifest, data, samples, seed)
    return {
        "vocabs": list(data),
        "windows": {s: manifest.split_windows(s) for s in SPLITS},
        "decoded_checks": decoded,
    }


@dataclass(frozen=True)
class VerifyConfig:
    """``shard.py verify``'s arguments."""

    dir: str = option(
        flags=("dir",),
        help="shard directory written by data_prep/shard.py, or its object-storage URI (s3://, "
        "gs://, file:///abs/dir, ...): then it is downloaded to a temporary directory and checked",
    )
    samples: int = option(64, ge=0, help="windows per split decoded and compared with the FASTA")
    seed: int = option(0, help="seed choosing those windows")


def build_parser() -> argparse.ArgumentParser:
    """The verify CLI, generated from ``VerifyConfig``."""
    return command_parser(
        VerifyConfig,
        prog="python data_prep/shard.py verify",
        description="Verify a shard directory: hashes, counts, identical windows across "
        "vocabularies, train/val disjointness, and decoding of sampled windows against the FASTA.",
    )


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        cfg = from_namespace(VerifyConfig, a)
    except ValueError as e:
        print_error("verify", e)
        return 2
    try:
        if is_remote(cfg.dir):
            with tempfile.TemporaryDirectory(prefix="dnapt-verify-") as tmp:
                summary = verify(fetch_dir(cfg.dir, Path(tmp) / "data"), cfg.samples, cfg.seed)
        else:
            summary = verify(Path(cfg.dir), cfg.samples, cfg.seed)
    except (VerifyError, FastaError, SourceError, RemoteError) as e:
        print_error("verify", e, kind="FAILED")
        return 1
    print(f"verify: OK {cfg.dir}: {json.dumps(summary)}")
    return 0
