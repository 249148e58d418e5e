"""Shared fixtures: the real-data mirror and small real shard directories built once per session."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from data_prep.shard import ShardConfig, run_shard
from data_prep.sources import MIRROR_ENV, resolve
from data_prep.windows import WindowConfig
from eval.cache import CACHE_ENV

_DEFAULT_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Tests always run against the real data mirror; fail loudly (not skip) when it is missing.
    if not os.environ.get(MIRROR_ENV) and _DEFAULT_MIRROR.is_dir():
        os.environ[MIRROR_ENV] = str(_DEFAULT_MIRROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    root = os.environ.get(MIRROR_ENV)
    if not root or not Path(root, "genomes").is_dir():
        pytest.fail(
            f"real data not found: set {MIRROR_ENV} to the shared data folder (../shared/data)"
        )
    return Path(root)


@pytest.fixture(scope="session")
def ecoli_fasta(data_mirror: Path) -> Path:
    return resolve("ecoli_k12")


@pytest.fixture(scope="session")
def ecoli_slice(tmp_path_factory: pytest.TempPathFactory, ecoli_fasta: Path) -> Path:
    """The first 200 kb of the real E. coli genome as a small FASTA (fast real-data tests)."""
    lines, n = [], 0
    with gzip.open(ecoli_fasta, "rt") as fh:
        header = fh.readline()
        for line in fh:
            lines.append(line)
            n += len(line) - 1
            if n >= 200_000:
                break
    path = tmp_path_factory.mktemp("ecoli") / "ecoli_200kb.fa"
    path.write_text(header + "".join(lines))
    return path


@pytest.fixture(scope="session")
def small_shards(tmp_path_factory: pytest.TempPathFactory, ecoli_slice: Path) -> Path:
    """Real E. coli (200 kb) sharded in all four vocabulary families at 128-base windows.

    Session-wide so the trainer, masking and analysis tests share one shard directory.
    """
    out = tmp_path_factory.mktemp("shards") / "ecoli128"
    run_shard(
        ShardConfig(
            out=out,
            inputs=[str(ecoli_slice)],
            vocabs=["char", "kmer6-overlap", "kmer6-disjoint", "bpe-256"],
            windows=WindowConfig(window=128, stride=128, val_fraction=0.1),
            progress=False,
        )
    )
    return out


@pytest.fixture(autouse=True, scope="session")
def private_eval_cache(tmp_path_factory: pytest.TempPathFactory):
    """No test (eval, testbed) reads or writes the user's embeddings cache (~/.cache/dnapt/eval)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("eval-cache")))
        yield
