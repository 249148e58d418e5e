"""Vocabulary analysis report: what each tokenization of a shard directory costs and how it behaves.

    python data_prep/analyze_vocab.py --data DIR [--benchmark BENCH] [--out REPORT_DIR] \
        [--bpe-sweep 256,1024,4096,16384]

DNA models pick a vocabulary almost without analysis; this report makes the choice measurable on
the user's own data. For every vocabulary in ``DIR`` (and every BPE size of an optional sweep,
trained on the train split) it measures usage, compression, the frequency distribution, entropy,
how stable the segmentation is under a one-base shift and a single-base substitution, the
train-vs-val divergence, and how long benchmark sequences become in tokens. It writes
``vocab_report.json``, ``vocab_report.md`` and PNG plots to ``REPORT_DIR`` and prints a table.
This file is the command line: the options are ``AnalyzeConfig``'s fields; the analysis is
``data_prep/vocab_report.py`` (metrics in ``data_prep/vocab_metrics.py``, benchmark sequences in
``data_prep/vocab_bench.py``), the files and tables ``data_prep/vocab_render.py``. Every number is
defined in docs/vocab-report.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from data_prep.sources import SourceError, benchmark_root
from data_prep.vocab import VocabError, VocabSpec
from data_prep.vocab_bench import AnalyzeError, benchmark_lengths, load_benchmark
from data_prep.vocab_render import print_tables, write_report
from data_prep.vocab_report import AnalyzeConfig, analyze, open_shard_dir
from data_prep.writers import ShardFormatError
from dnapt.cli import ConfigError, command_parser, from_namespace
from dnapt.errors import print_error

__all__ = [
    "AnalyzeConfig",
    "AnalyzeError",
    "analyze",
    "benchmark_lengths",
    "build_parser",
    "config_from_args",
    "load_benchmark",
    "main",
    "open_shard_dir",
    "checked_sizes",
]


def checked_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """``--bpe-sweep 256,1024`` sizes, sorted, checked like vocabulary names."""
    for size in sizes:
        try:
            VocabSpec.parse(f"bpe-{size}")
        except VocabError as e:
            raise AnalyzeError(f"--bpe-sweep: {e}") from None
    if len(set(sizes)) != len(sizes):
        raise AnalyzeError(f"--bpe-sweep lists a size twice: {','.join(map(str, sizes))}")
    return tuple(sorted(sizes))


def build_parser() -> argparse.ArgumentParser:
    """The CLI, generated from ``AnalyzeConfig``."""
    return command_parser(
        AnalyzeConfig,
        prog="python data_prep/analyze_vocab.py",
        description="Measure every vocabulary of a shard directory (usage, compression, Zipf fit, "
        "entropy, segmentation robustness, train-vs-val divergence, benchmark lengths in tokens) "
        "and write vocab_report.json, vocab_report.md and PNG plots. Definitions: "
        "docs/vocab-report.md.",
    )


def config_from_args(a: argparse.Namespace) -> AnalyzeConfig:
    """The resolved config: absolute --data, the report directory, the benchmark folder."""
    cfg = from_namespace(AnalyzeConfig, a)
    if cfg.no_benchmark:
        bench = None
    elif cfg.benchmark is not None:
        bench = benchmark_root(cfg.benchmark)
    else:
        try:
            bench = benchmark_root()
        except SourceError as e:
            print(f"analyze_vocab: note: benchmark lengths skipped ({e})", file=sys.stderr)
            bench = None
    data = cfg.data.resolve()
    return dataclasses.replace(
        cfg,
        data=data,
        out=cfg.out if cfg.out is not None else data.parent / "vocab_report",
        benchmark=bench,
        bpe_sweep=checked_sizes(cfg.bpe_sweep),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = config_from_args(args)
        report, counts = analyze(cfg)
        write_report(report, counts, cfg.report_dir)
    except (AnalyzeError, ConfigError, SourceError, VocabError, ShardFormatError) as e:
        print_error("analyze_vocab", e)
        return 2
    print_tables(report, cfg.report_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
