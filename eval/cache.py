"""On-disk cache of probe embeddings, keyed by content, so re-scoring a checkpoint is free.

Embedding extraction is nearly all of a probe's cost and depends only on: the checkpoint's files,
the encoder variant (pretrained, or from scratch with its seed), pooling, the max length, the
sequences of the split, and the library versions and device that computed it. The key is a
sha256 over exactly those, never over names or paths, so a renamed checkpoint still hits and a
retrained one (same path, new weights) misses. Entries are ``<key>.npz`` files holding only
arrays (read with ``allow_pickle=False``), written atomically (temp file + rename), so two
processes can share one cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

CACHE_ENV = "DNAPT_EVAL_CACHE"


def default_cache_dir() -> Path:
    """``$DNAPT_EVAL_CACHE``, else ``~/.cache/dnapt/eval``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "dnapt" / "eval"


def checkpoint_digest(path: Path) -> str:
    """sha256 over every regular file of a checkpoint directory (relative name + content)."""
    h = hashlib.sha256()
    for p in sorted(q for q in Path(path).rglob("*") if q.is_file() and not q.is_symlink()):
        h.update(str(p.relative_to(path)).encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def sequences_digest(seqs: list[str]) -> str:
    h = hashlib.sha256()
    for s in seqs:
        h.update(s.encode() + b"\n")
    return h.hexdigest()


def runtime_tag(device_type: str) -> str:
    """What else changes the floats: library versions and the device kind."""
    import torch
    import transformers

    return f"torch {torch.__version__}; transformers {transformers.__version__}; {device_type}"


def embedding_key(
    checkpoint: str | None,
    init: str,
    seed: int,
    pooling: str,
    max_length: int,
    batch_size: int,
    seqs: list[str],
    device_type: str,
) -> str:
    """The cache key of one split's embeddings: everything that changes their floats."""
    from eval.encoder import LENGTH_POLICY

    return EmbeddingCache.key(
        length_policy=LENGTH_POLICY,
        checkpoint=checkpoint,
        init=init,
        seed=seed,
        pooling=pooling,
        max_length=max_length,
        batch_size=batch_size,
        sequences=sequences_digest(seqs),
        runtime=runtime_tag(device_type),
    )


class EmbeddingCache:
    """``get``/``put`` of one split's embeddings and truncation count; ``root=None`` disables."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(**parts: object) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as z:
                out = z["embeddings"], int(z["truncated"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # absent or unreadable
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, embeddings: np.ndarray, truncated: int) -> None:
        if self.root is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, embeddings=embeddings, truncated=np.int64(truncated))
        os.replace(tmp, path)
