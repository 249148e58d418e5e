"""The embeddings cache: content keys (rename hits, retrain misses), round trip, bad entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from eval.cache import EmbeddingCache, checkpoint_digest, sequences_digest


def test_digest_follows_content_not_path(tmp_path: Path) -> None:
    a = tmp_path / "run" / "hf"
    a.mkdir(parents=True)
    (a / "config.json").write_text("{}")
    (a / "model.safetensors").write_bytes(b"\x00" * 64)
    b = tmp_path / "renamed"
    shutil.copytree(a, b)
    assert checkpoint_digest(a) == checkpoint_digest(b)
    (b / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)  # "retrained" in place
    assert checkpoint_digest(a) != checkpoint_digest(b)
    assert sequences_digest(["AC", "GT"]) != sequences_digest(["ACG", "T"])


def test_roundtrip_and_disabled(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key(checkpoint="c", init="pretrained", seed=0, sequences="s")
    assert key != cache.key(checkpoint="c", init="scratch", seed=0, sequences="s")
    assert cache.get(key) is None
    emb = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    cache.put(key, emb, 2)
    got, truncated = cache.get(key)
    assert np.array_equal(got, emb) and got.dtype == np.float32 and truncated == 2
    assert (cache.hits, cache.misses) == (1, 1)
    off = EmbeddingCache(None)
    off.put(key, emb, 0)
    assert off.get(key) is None


def test_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key(x=1)
    cache.put(key, np.zeros((2, 2), np.float32), 0)
    path = next(tmp_path.rglob("*.npz"))
    path.write_bytes(b"not a zip")
    assert cache.get(key) is None
