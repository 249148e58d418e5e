"""``ShardConfig``: everything that determines a shard directory, and the CLI derived from it.

The fields are declared once with ``dnapt.cli.option``: ``python data_prep/shard.py --help``,
the flags' defaults, ``config_from_args`` and a recipe's or a test's ``ShardConfig(...)`` all come
from here. Kept free of numpy-heavy pipeline imports so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from data_prep.manifest import ShardParams
from data_prep.remote import default_local_dir, is_remote
from data_prep.sources import DEMO_CORPUS
from data_prep.windows import WindowConfig
from dnapt.cli import command_parser, from_namespace, option

DEFAULT_VOCABS = "char,kmer6-overlap,kmer6-disjoint,bpe-4096"
PROG = "python data_prep/shard.py"


class ShardError(RuntimeError):
    """A sharding run that cannot proceed; the message says why and what to do."""


def _split_commas(items: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(x for item in items for x in str(item).split(",") if x)


@dataclass(frozen=True)
class ShardConfig:
    """Everything that determines a shard directory's contents (saved in the manifest).

    ``out`` is a local directory or an object-storage URI; with a URI the directory is staged in
    ``local`` and uploaded at the end (see ``remote`` and ``out_dir``).
    """

    out: str = option(
        help="output directory (must not exist unless --overwrite), or an object-storage URI "
        "(s3://, gs://, oci://, azure://, hf://, file:///abs/dir): written locally, then uploaded "
        "with manifest.json last",
    )
    inputs: tuple[str, ...] = option(
        DEMO_CORPUS,
        flags=("--fasta",),
        help="FASTA files (plain, gzip or BGZF) or registry names",
    )
    local: Path | None = option(
        None,
        help="with a remote --out: keep the local copy here (default: a temporary directory, "
        "removed after the upload)",
    )
    vocabs: tuple[str, ...] = option(
        (DEFAULT_VOCABS,),
        flags=("--vocab",),
        help="comma-separated vocabularies: char, kmer<K>-overlap, kmer<K>-disjoint (K=3..6), "
        "bpe-<size>",
    )
    windows: WindowConfig = dataclasses.field(default_factory=WindowConfig)
    workers: int = option(1, help="tokenizer processes; the output is identical for any value")
    seed: int = option(0, help="seed for the BPE training sample")
    bpe_train_bases: int = option(
        8_000_000,
        help="cap on train bases sampled to learn BPE (HF BPE training time grows with it)",
    )
    overwrite: bool = option(False, help="replace an existing --out directory")
    progress: bool = option(True, help="a progress line and summary table (--no-progress: none)")
    chunk_windows: int = option(512, help="windows per encoding job", cli=False)

    def __post_init__(self) -> None:
        # Tests and recipes may pass lists or a Path; the config holds tuples and a string.
        object.__setattr__(self, "out", str(self.out))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "vocabs", _split_commas(self.vocabs))
        if self.local is not None and self.remote is None:
            raise ShardError("--local only applies to a remote --out (s3://, gs://, file://, ...)")

    @property
    def remote(self) -> str | None:
        """The object-storage URI the finished directory is uploaded to, or None."""
        return self.out if is_remote(self.out) else None

    @property
    def out_dir(self) -> Path:
        """The local directory written: ``out``, or ``local`` for a remote ``out``."""
        if self.remote is None:
            return Path(self.out)
        if self.local is None:
            raise ShardError(f"--out {self.out}: a remote --out needs a local staging directory")
        return self.local

    def staged(self) -> ShardConfig:
        """This config with a temporary staging directory when ``out`` is remote and none is set."""
        if self.remote is None or self.local is not None:
            return self
        return dataclasses.replace(self, local=default_local_dir(self.out))

    def params(self) -> ShardParams:
        """The parameters that define the data (not how fast it was made: workers, progress)."""
        w = self.windows
        return ShardParams(
            inputs=self.inputs,
            vocabs=self.vocabs,
            window=w.window,
            stride=w.stride,
            val_records=w.val_records,
            val_fraction=w.val_fraction,
            max_n_frac=w.max_n_frac,
            seed=self.seed,
            bpe_train_bases=self.bpe_train_bases,
        )


def build_parser() -> argparse.ArgumentParser:
    """The shard CLI, generated from ``ShardConfig``'s fields."""
    return command_parser(
        ShardConfig,
        prog=PROG,
        description="Shard FASTA genomes into tokenized, zstd-compressed MDS datasets, one per "
        "vocabulary, over identical base windows. 'python data_prep/shard.py verify DIR' checks "
        "a finished directory.",
    )


def config_from_args(a: argparse.Namespace) -> ShardConfig:
    """The typed config from parsed flags; a bad combination is a ShardError naming the flags."""
    # --val-fraction 0 with --val-records is consistent (no tail split), and is what to_argv gives
    if _split_commas(a.val_records or ()) and a.val_fraction:
        raise ShardError("--val-records and --val-fraction are exclusive: choose one split")
    try:
        cfg = from_namespace(ShardConfig, a)
    except ValueError as e:  # WindowConfig's range checks and dnapt.cli's ConfigError
        raise ShardError(str(e)) from None
    # Paths are stored absolute so `verify` can find the sources from any directory.
    inputs = tuple(str(Path(f).resolve()) if Path(f).is_file() else f for f in cfg.inputs)
    return dataclasses.replace(cfg, inputs=inputs)
