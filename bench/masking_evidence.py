"""Masking benchmarks: masker throughput, and the evidence runs (neighbor vs leakfree).

    python bench/masking_evidence.py throughput [--window 512 --batch 32]
    python bench/masking_evidence.py evidence --shards DIR --out RUNS [--steps 300]

``throughput`` times every strategy on every vocabulary family over real E. coli windows (one
thread, as in a loader worker); ``bench/train_bench.py`` imports ``masking_tokens_per_s`` to set
masking against a training step. ``evidence`` trains ``bert-tiny`` three times on the same shards
and the same windows (so the same base budget): ``kmer6-overlap`` with ``neighbor`` and with
``leakfree``, and ``char`` with ``random``, then prints final training loss, the masking stats and
validation BPHB side by side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_prep.fasta import read_fasta
from data_prep.sources import resolve
from data_prep.vocab import BASES_ARRAY, Vocab, build_vocab
from dnapt.cli import ConfigError, add_options, from_namespace, option
from dnapt.errors import print_error
from trainer.data import encode_windows
from trainer.masking import STRATEGIES, Masker, MaskingConfig, build_masker
from trainer.run_record import METRICS_FILE, ValRecord, read_metrics

ROOT = Path(__file__).resolve().parents[1]

THROUGHPUT_VOCABS = ("char", "kmer6-overlap", "kmer6-disjoint", "bpe-1024")
EVIDENCE_RUNS = (
    ("kmer6-overlap", "neighbor"),
    ("kmer6-overlap", "leakfree"),
    ("char", "random"),
)
TAIL = 5  # train records averaged for the "final" training figures


def masking_tokens_per_s(
    masker: Masker,
    input_ids: torch.Tensor,
    spans: torch.Tensor,
    special_mask: torch.Tensor,
    repeats: int = 20,
) -> float:
    """Tokens per second through ``masker`` on one batch (one warm-up call, then ``repeats``)."""
    gen = torch.Generator().manual_seed(0)
    masker(input_ids, spans, special_mask, gen, 0)
    t0 = time.perf_counter()
    for step in range(repeats):
        masker(input_ids, spans, special_mask, gen, step)
    return input_ids.numel() * repeats / (time.perf_counter() - t0)


def ecoli_windows(n: int, window: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    codes = next(iter(read_fasta(resolve("ecoli_k12")))).codes
    starts = rng.integers(0, codes.size - window, n)
    return [BASES_ARRAY[codes[s : s + window]].tobytes().decode() for s in starts]


def pack(vocab: Vocab, seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[CLS] ids [SEP] [PAD]... and base spans, framed by the trainer's own collator code."""
    ids = [vocab.encode(s) for s in seqs]
    w = encode_windows(ids, vocab, max(len(x) for x in ids) + 2)
    return w.input_ids, w.spans, w.special_mask


def throughput(window: int, batch: int) -> None:
    torch.set_num_threads(1)
    seqs = ecoli_windows(batch, window)
    train = ecoli_windows(2000, window, seed=1)
    print(f"masking throughput, 1 thread, batch {batch} x {window}-base E. coli windows")
    print(f"{'vocab':16} {'strategy':11} {'Mtok/s':>7} {'masked':>7} {'hidden':>7} {'leak':>6}")
    for name in THROUGHPUT_VOCABS:
        vocab = build_vocab(name, window, train if name.startswith("bpe") else None)
        ids, spans, special = pack(vocab, seqs)
        for strategy in STRATEGIES:
            if strategy == "neighbor" and vocab.family != "kmer-overlap":
                continue
            masker = build_masker(MaskingConfig(strategy), vocab)
            rate = masking_tokens_per_s(masker, ids, spans, special)
            s = masker(ids, spans, special, torch.Generator().manual_seed(0), 0).stats
            print(
                f"{name:16} {strategy:11} {rate / 1e6:7.2f} {s['masked_token_frac']:7.3f} "
                f"{s['hidden_base_frac']:7.3f} {s['leak_frac']:6.3f}"
            )


def tail_metrics(metrics: Path) -> tuple[dict[str, float], ValRecord]:
    """(train, val): the mean of the last ``TAIL`` train records, and the last val record."""
    recs = read_metrics(metrics)
    train, val = recs.train[-TAIL:], recs.val[-1]
    keys = ("loss", "masked_token_frac", "leak_frac", "hidden_base_frac")
    return {k: sum(getattr(r, k) for r in train) / len(train) for k in keys}, val


def evidence(shards: Path, out: Path, steps: int, ds_config: Path, extra: list[str]) -> None:
    rows = []
    for vocab, strategy in EVIDENCE_RUNS:
        run = out / f"{vocab}-{strategy}"
        cmd = [
            sys.executable,
            str(ROOT / "trainer" / "run.py"),
            "--ds_config",
            str(ds_config),
            "--data",
            str(shards / vocab),
            "--model",
            "bert-tiny",
            "--masking",
            strategy,
            "--max-steps",
            str(steps),
            "--eval-every",
            str(steps),
            "--save-every",
            str(steps),
            "--out",
            str(run),
            *extra,
        ]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
        rows.append((vocab, strategy, *tail_metrics(run / METRICS_FILE)))
    print(
        f"\n{steps} steps each; train figures: mean of the last {TAIL} logged intervals\n"
        f"{'vocab':14} {'masking':9} {'train loss':>10} {'masked':>7} {'leak':>6} {'hidden':>7} "
        f"{'val loss':>8} {'val BPHB':>8} {'val acc':>7}"
    )
    for vocab, strategy, train, val in rows:
        print(
            f"{vocab:14} {strategy:9} {train['loss']:10.4f} {train['masked_token_frac']:7.3f} "
            f"{train['leak_frac']:6.3f} {train['hidden_base_frac']:7.3f} {val.val_loss:8.4f} "
            f"{val.val_bphb:8.4f} {val.val_hidden_base_accuracy:7.3f}"
        )


@dataclass(frozen=True)
class ThroughputConfig:
    """``python bench/masking_evidence.py throughput``'s arguments."""

    window: int = option(512, help="window length in bases")
    batch: int = option(32, help="windows per batch")


@dataclass(frozen=True)
class EvidenceConfig:
    """``python bench/masking_evidence.py evidence``'s arguments (the rest goes to the trainer)."""

    shards: Path = option(help="shard root holding the vocabs")
    out: Path = option(help="folder for the three run dirs")
    steps: int = option(300, help="training steps per run")
    ds_config: Path = option(ROOT / "ds_configs" / "zero0.json", help="DeepSpeed JSON of the runs")


def build_parser() -> argparse.ArgumentParser:
    """The two subcommands, generated from ``ThroughputConfig`` and ``EvidenceConfig``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput", help="masker tokens/s per vocabulary and strategy")
    add_options(t, ThroughputConfig)
    e = sub.add_parser("evidence", help="neighbor vs leakfree vs char/random training runs")
    add_options(e, EvidenceConfig)
    return p


def main(argv: list[str] | None = None) -> None:
    a, extra = build_parser().parse_known_args(argv)
    try:
        cfg = from_namespace(ThroughputConfig if a.cmd == "throughput" else EvidenceConfig, a)
    except ConfigError as e:
        print_error("bench/masking_evidence.py", e)
        raise SystemExit(2) from None
    if isinstance(cfg, ThroughputConfig):
        throughput(cfg.window, cfg.batch)
    else:
        evidence(cfg.shards, cfg.out, cfg.steps, cfg.ds_config, extra)


if __name__ == "__main__":
    main()
