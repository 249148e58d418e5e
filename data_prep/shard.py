"""Shard real genomes into tokenized, zstd-compressed, streamable datasets, one per vocabulary.

    python data_prep/shard.py [--fasta F.fa[.gz] ...] --out DIR [--vocab char,kmer6-overlap,...]
    python data_prep/shard.py verify DIR
    python data_prep/shard.py --out s3://bucket/prefix [--local DIR] ...   (also gs://, oci://, ...)

This is the command line only. The flags come from ``ShardConfig`` (``data_prep/shard_config.py``);
the work is ``run_shard`` (``data_prep/shard_pipeline.py``); the checks and messages before and
after it are in ``data_prep/shard_checks.py``, the progress line and table in
``data_prep/shard_summary.py``.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

from data_prep.fasta import FastaError
from data_prep.remote import RemoteError
from data_prep.shard_config import ShardConfig, ShardError, build_parser, config_from_args
from data_prep.shard_pipeline import run_shard
from data_prep.shard_summary import print_summary
from data_prep.sources import SourceError
from data_prep.vocab import VocabError
from dnapt.errors import print_error

__all__ = ["ShardConfig", "ShardError", "build_parser", "config_from_args", "main", "run_shard"]


def os_error_message(e: OSError, out: str | Path) -> str:
    """A failed read or write as one line that names the file and the likely fix."""
    where = e.filename or out
    if e.errno == errno.ENOSPC:
        return f"{where}: no space left on device while writing --out {out}: free space or choose another --out"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: {e.strerror}: --out {out} is not writable here; choose another --out"
    return f"{where}: {e.strerror or e}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if argv[:1] == ["verify"]:
        from data_prep.verify import main as verify_main

        return verify_main(argv[1:])
    args = build_parser().parse_args(argv)
    cfg = None
    try:
        cfg = config_from_args(args).staged()
        manifest = run_shard(cfg)
        if cfg.progress:
            print_summary(manifest, cfg.out_dir)
            if cfg.remote:
                print(f"uploaded to {cfg.remote}")
    except (ShardError, FastaError, SourceError, VocabError, RemoteError) as e:
        print_error("shard", e)
        return 2
    except OSError as e:
        print_error("shard", os_error_message(e, args.out))
        return 2
    finally:
        if cfg is not None and cfg.remote and args.local is None:
            shutil.rmtree(cfg.out_dir.parent, ignore_errors=True)  # the temporary staging copy
    return 0


if __name__ == "__main__":
    sys.exit(main())
