"""A small constructed genome + annotation where positives sit in GC-rich DNA on purpose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

RECORDS = ("chrA", "chrB", "chrC", "chrD", "chrE")
RECORD_LEN = 60_000


def _segmented(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Codes of one record built from 2 kb segments of GC 0.30 .. 0.60, and each base's GC."""
    codes, gc = [], []
    for _ in range(RECORD_LEN // 2000):
        g = rng.choice([0.3, 0.4, 0.5, 0.6])
        p = [(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]
        codes.append(rng.choice(4, size=2000, p=p))
        gc.append(np.full(2000, g))
    return np.concatenate(codes).astype(np.uint8), np.concatenate(gc)


@pytest.fixture(scope="session")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """toy.fa (5 records) and toy.gff3: 'site' features (30 bp, carrying TATAAA) placed only in
    segments of GC >= 0.5, so positives are GC-biased against a uniform background."""
    root = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(7)
    fasta, gff = [], ["##gff-version 3"]
    for rec in RECORDS:
        codes, gc = _segmented(rng)
        starts = np.arange(500, RECORD_LEN - 500, 700)
        starts = starts[gc[starts] >= 0.5]
        for i, s in enumerate(starts.tolist()):
            codes[s + 10 : s + 16] = [3, 0, 3, 0, 0, 0]  # TATAAA
            strand = "+" if i % 2 else "-"
            gff.append(f"{rec}\ttoy\tsite\t{s + 1}\t{s + 30}\t.\t{strand}\t.\tID={rec}_{i}")
        seq = np.frombuffer(b"ACGT", np.uint8)[codes].tobytes().decode()
        fasta.append(f">{rec}\n" + "\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)))
    (root / "toy.fa").write_text("\n".join(fasta) + "\n")
    (root / "toy.gff3").write_text("\n".join(gff) + "\n")
    return {"fasta": root / "toy.fa", "gff": root / "toy.gff3", "root": root}


def toy_spec(toy: dict[str, Path], **over) -> dict:
    """A raw spec table for the toy genome (override any top-level key or table)."""
    spec = {
        "name": "toy/site",
        "genome": str(toy["fasta"]),
        "annotation": str(toy["gff"]),
        "length": 100,
        "seed": 0,
        "positives": {"type": "site", "anchor": "center"},
        "negatives": {"method": "gc-matched", "ratio": 1.0},
        "split": {"dev": ["chrD"], "test": ["chrE"]},
    }
    spec.update(over)
    return spec
