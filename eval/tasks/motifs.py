"""JASPAR matrices in TRANSFAC format (plain or gzip): find one by accession or unique name."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from eval.tasks.spec import SpecError


def _lines(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: unreadable motif file ({e})") from None


def read_transfac(path: str | Path) -> list[tuple[str, str, np.ndarray]]:
    """(accession, name, ``[width, 4]`` counts in A C G T order) of every matrix."""
    path = Path(path)
    out = []
    acc = name = ""
    rows: list[list[float]] = []
    in_matrix = False
    for lineno, line in enumerate(_lines(path), start=1):
        tag = line[:2]
        if tag == "AC":
            acc = line[2:].strip()
        elif tag == "ID":
            name = line[2:].strip()
        elif tag in ("PO", "P0"):
            cols = line.split()[1:]
            if [c.upper() for c in cols] != ["A", "C", "G", "T"]:
                raise SpecError(f"{path}:{lineno}: matrix columns {cols}, expected A C G T")
            in_matrix, rows = True, []
        elif in_matrix and line[:1].isdigit():
            try:
                rows.append([float(x) for x in line.split()[1:5]])
            except ValueError:
                raise SpecError(f"{path}:{lineno}: matrix row {line!r} is not numeric") from None
            if len(rows[-1]) != 4:
                raise SpecError(f"{path}:{lineno}: matrix row {line!r} needs 4 counts")
        elif in_matrix:
            in_matrix = False
        if tag == "//":
            if rows:
                out.append((acc, name, np.asarray(rows)))
            acc = name = ""
            rows = []
    return out


def find_motif(path: str | Path, key: str) -> tuple[str, str, np.ndarray]:
    """The matrix whose accession is ``key``, else whose name is ``key`` (it must be unique)."""
    motifs = read_transfac(path)
    hits = [m for m in motifs if m[0] == key] or [m for m in motifs if m[1] == key]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise SpecError(f"{path}: no motif with accession or name {key!r}")
    raise SpecError(
        f"{path}: name {key!r} is ambiguous ({', '.join(m[0] for m in hits)}): use an accession"
    )


def sample_instance(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One site drawn from the matrix (column probabilities, pseudocount 0.1 per base), A0..T3."""
    probs = counts + 0.1
    probs = probs / probs.sum(1, keepdims=True)
    u = rng.random(len(probs))
    return (u[:, None] > np.cumsum(probs, 1)).sum(1).clip(0, 3).astype(np.uint8)
