"""Cache keys: what each testbed step's output depends on, hashed.

A step is skipped when its output carries the key the recipe yields now, so a key must cover
everything that changes the output and nothing that does not (file paths that differ per
machine, the vocabulary list for other cells). The cell key itself is ``plan.Cell.key``, the
hash of ``data_identity`` + the cell's resolved configuration.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dnapt.cli import to_dict
from testbed.recipe import ANALYZE_OWNED, AUDIT_OWNED, ROOT, RUN_OWNED, Recipe

KEY_CHARS = 10  # hex digits of a key shown in directory names


def canonical_hash(obj: Any) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys, no whitespace): stable across runs,
    key orders and machines."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def shard_params(recipe: Recipe) -> dict[str, Any]:
    """Exactly what ``data_prep/shard.py`` writes as ``manifest.json["params"]``: the params of
    the ``ShardConfig`` the testbed hands it (``Recipe.shard_config``)."""
    return recipe.shard_config(Path("-")).params().to_json()


def source_digests(recipe: Recipe) -> list[str | None]:
    """sha256 of each source: the registry's pinned digest, a FASTA path's content digest, or
    None for a path that is absent (only a dry run gets that far without data)."""
    from data_prep.sources import SOURCES
    from dnapt.hashing import sha256_file

    out: list[str | None] = []
    for s in recipe.corpus.sources:
        if s in SOURCES:
            out.append(SOURCES[s].sha256)
        else:
            out.append(sha256_file(Path(s)) if Path(s).is_file() else None)
    return out


def data_identity(recipe: Recipe, digests: list[str | None]) -> dict[str, Any]:
    """The data part of every cell key: shard parameters (less the vocabulary list, so adding a
    vocabulary to a recipe keeps the other cells' keys) and the sources' content digests."""
    params = shard_params(recipe)
    del params["vocabs"]
    return {"shard_params": params, "sources_sha256": digests}


def model_identity(model: str) -> Any:
    """A preset name, or the content of a model config JSON (its path may differ per machine)."""
    path = Path(model)
    return json.loads(path.read_text()) if path.is_file() else model


def suite_files(recipe: Recipe) -> list[Path]:
    """The spec files of the recipe's suite (eval/suites/NAME/*.toml), sorted."""
    return sorted((ROOT / "eval" / "suites" / str(recipe.eval.suite)).glob("*.toml"))


def suite_key(recipe: Recipe) -> str:
    """The built suite depends on its spec files' content (their genomes and annotations are
    registry names, pinned by sha256). Like the cell keys, it does not cover the code version:
    after changing the builder, use a new ``--out``."""
    return canonical_hash(
        {"suite": recipe.eval.suite, "specs": {p.name: p.read_text() for p in suite_files(recipe)}}
    )


def benchmark_path(recipe: Recipe, suite_dir: Path | None = None) -> Path | None:
    """The built suite (``suite_dir``) when the recipe names one, else the recipe's benchmark,
    else the data mirror's (what eval/audit.py would use)."""
    if recipe.eval.suite is not None:
        return suite_dir
    if recipe.eval.benchmark is not None:
        return recipe.eval.benchmark
    from data_prep.sources import mirror_root

    mirror = mirror_root()
    return mirror / "benchmark" if mirror else None


def settings(config: Any, owned: tuple[str, ...]) -> dict[str, Any]:
    """A stage config's values without the per-call fields the testbed sets (paths, checkpoints):
    what a cached result depends on, the same on every machine."""
    return {k: v for k, v in to_dict(config).items() if k not in owned}


def analysis_key(recipe: Recipe, manifest: bytes) -> str:
    """The vocabulary report depends on the shards (their manifest) and the analysis options."""
    return canonical_hash(
        {
            "manifest": hashlib.sha256(manifest).hexdigest(),
            "sweep": list(recipe.bpe_sweep),
            "options": settings(recipe.vocab_report, ANALYZE_OWNED),
        }
    )


def audit_key(recipe: Recipe) -> str:
    e = recipe.eval
    bench = f"suite:{suite_key(recipe)}" if e.suite else str(benchmark_path(recipe))
    return canonical_hash(
        {
            "benchmark": bench,
            "tasks": list(e.tasks),
            "options": settings(e.audit, AUDIT_OWNED),
        }
    )


def eval_key(recipe: Recipe, curated_sha256: str) -> str:
    """Scores depend on the curated list's content and the protocol, not on file paths."""
    e = recipe.eval
    return canonical_hash(
        {
            "curated": curated_sha256,
            "options": settings(e.run, RUN_OWNED),
        }
    )
