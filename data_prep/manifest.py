"""A shard directory's ``manifest.json``: sealed with a digest when written, checked when read.

The digest is the sha256 of the manifest's canonical JSON (sorted keys) without the ``digest``
field and without ``run`` (when and how fast it was made), so identical inputs and parameters give
an identical digest, as they give identical shards.
It detects a hand-edited or damaged manifest (a changed file hash, count or source), which would
otherwise make ``verify`` check the shards against the wrong facts. It is not a signature: whoever
can rewrite the whole directory can recompute it, so shards from an untrusted party still need
``verify`` against sources you trust (docs/data.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

DIGEST_KEY = "digest"
UNSEALED = (DIGEST_KEY, "run")  # run: created, elapsed_s, workers; differs between identical runs


class ManifestError(ValueError):
    """A missing, unreadable or edited manifest; the message names the file and the fix."""


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``manifest`` without its digest and run fields."""
    body = {k: v for k, v in manifest.items() if k not in UNSEALED}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its digest added (the last key, so the file reads as before)."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    return {**body, DIGEST_KEY: manifest_digest(body)}


def read_manifest(path: Path, require_digest: bool = True) -> dict[str, Any]:
    """Load ``path`` and check its digest; any problem is a one-line ``ManifestError``.

    ``require_digest=False`` accepts a manifest written before digests existed (it is still
    checked when it has one).
    """
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: missing; is {path.parent} a shard directory written by data_prep/shard.py?"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: unreadable ({e}); re-shard") from None
    except json.JSONDecodeError as e:
        raise ManifestError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}): truncated or "
            "edited; re-shard (or restore the file)"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("vocabs"), dict):
        raise ManifestError(f"{path}: not a dnapt manifest (no 'vocabs' table); re-shard")
    recorded = manifest.get(DIGEST_KEY)
    if recorded is None:
        if require_digest:
            raise ManifestError(f"{path}: has no digest (written by an older dnapt); re-shard")
        return manifest
    if recorded != manifest_digest(manifest):
        raise ManifestError(
            f"{path}: content does not match its digest: the manifest was edited after sharding; "
            "re-shard (or restore the original manifest)"
        )
    return manifest
