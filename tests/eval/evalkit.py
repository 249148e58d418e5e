"""Helpers for eval tests: small constructed benchmarks and a tiny dnapt-style HF checkpoint.

The checkpoint has the layout of the trainer's export (``RUN/hf``: safetensors + a dnapt
tokenizer saved with ``save_pretrained``), built directly from ``BertConfig`` so eval tests do
not depend on a training run.
"""

from __future__ import annotations

import csv
import gzip
import socket
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForMaskedLM

from data_prep.vocab import build_vocab


def write_split(
    path: Path, rows: list[tuple[str, int | str]], header=("sequence", "label")
) -> Path:
    """A ``.csv.gz`` split with a fixed gzip mtime (byte-reproducible, like the shared data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        text = [",".join(header)] + [f"{s},{y}" for s, y in rows]
        gz.write(("\n".join(text) + "\n").encode())
    return path


def write_task(root: Path, task_id: str, splits: dict[str, list[tuple[str, int]]]) -> Path:
    for name, rows in splits.items():
        write_split(root / task_id / f"{name}.csv.gz", rows)
    return root / task_id


def random_seqs(rng: np.random.Generator, n: int, length: int, gc: float = 0.5) -> list[str]:
    """``n`` random sequences with the given expected GC fraction."""
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    codes = rng.choice(4, size=(n, length), p=p)
    return ["".join("ACGT"[c] for c in row) for row in codes]


def read_rows(path: Path) -> list[tuple[str, int]]:
    with gzip.open(path, "rt", newline="") as f:
        return [(r["sequence"], int(r["label"])) for r in csv.DictReader(f)]


def make_checkpoint(
    out: Path, vocab: str = "kmer6-overlap", window: int = 128, seed: int = 0
) -> Path:
    """A 2-layer, hidden-64 BERT masked LM with a dnapt tokenizer, saved like ``RUN/hf``."""
    v = build_vocab(vocab, window)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=v.size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=v.tokenizer.model_max_length,
        pad_token_id=0,
    )
    BertForMaskedLM(config).save_pretrained(out, safe_serialization=True)
    v.tokenizer.save_pretrained(out)
    return out


def free_port(lo: int = 29600, hi: int = 29700) -> int:
    """A free TCP port in the range reserved for eval's launcher tests."""
    for port in range(lo, hi):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}..{hi - 1}")
