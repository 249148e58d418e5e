"""Probe throughput: a bert-tiny checkpoint over every task of the shared benchmark.

    python bench/eval_bench.py [--vocab kmer6-disjoint] [--window 512] [--batch-size 64]
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no bench/eval_bench.py

The checkpoint is the trainer's ``bert-tiny`` preset (2 layers, hidden 64) with a dnapt
tokenizer, randomly initialized (throughput does not depend on the weights). Every task runs the
real probe path of eval/run.py on its full train set: tokenization, embedding extraction of the
training, dev and test splits, and the logistic-regression fits over the dev grid. Tasks are split
over the launched processes like eval/run.py's jobs. Prints one JSON line per task (rank 0) and a
last line with the totals: wall time of the whole probe and embedding sequences/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForMaskedLM

from data_prep.vocab import PAD_ID, build_vocab
from dnapt.cli import command_parser, option, parse_config
from eval.benchmark import discover_tasks, load_task, resolve_benchmark
from eval.cache import EmbeddingCache, checkpoint_digest, embedding_key
from eval.encoder import build_encoder, embed, load_checkpoint, tokenize
from eval.jobs import Workers
from eval.probe import ProbeConfig, probe_task
from trainer.models import PRESETS


def make_checkpoint(out: Path, vocab: str, window: int) -> Path:
    """The trainer's bert-tiny preset with a dnapt tokenizer, saved like ``RUN/hf``."""
    v = build_vocab(vocab, window)
    preset = dict(PRESETS["bert-tiny"])
    model_type = preset.pop("model_type")
    config = AutoConfig.for_model(
        model_type,
        **preset,
        vocab_size=v.size,
        max_position_embeddings=v.tokenizer.model_max_length,
        pad_token_id=PAD_ID,
    )
    torch.manual_seed(0)
    AutoModelForMaskedLM.from_config(config).save_pretrained(out)
    v.tokenizer.save_pretrained(out)
    return out


def timed_probe(
    ckpt, model, task, batch_size: int, cfg: ProbeConfig, cache: EmbeddingCache, digest: str
) -> dict:
    """The probe of one task, timed by stage; embeddings through the cache when it is on."""
    splits = task.used_splits
    t0, c0 = time.perf_counter(), time.process_time()
    keys = {
        s: embedding_key(
            digest, "pretrained", 0, "mean", ckpt.max_length, batch_size,
            task.splits[s].sequences, model.device.type,
        )
        for s in splits
    }  # fmt: skip
    emb = {s: hit[0] for s in splits if (hit := cache.get(keys[s])) is not None}
    todo = [s for s in splits if s not in emb]
    tokens = {s: tokenize(ckpt, task.splits[s].sequences) for s in todo}
    t1 = time.perf_counter()
    for s in todo:
        emb[s] = embed(model, ckpt, tokens[s], batch_size, "mean")
        cache.put(keys[s], emb[s], tokens[s].truncated)
    t2 = time.perf_counter()
    probe_task(task, emb, cfg)
    t3 = time.perf_counter()
    n = sum(len(task.splits[s]) for s in splits)
    return {
        "task": task.id,
        "sequences": n,
        "cached_splits": len(splits) - len(todo),
        "tokens": int(sum(tokens[s].lengths.sum() for s in todo)),
        "truncated": sum(tokens[s].truncated for s in todo),
        "tokenize_s": round(t1 - t0, 2),
        "embed_s": round(t2 - t1, 2),
        "embedded": (m := sum(len(task.splits[s]) for s in todo)),
        "embed_seqs_per_s": round(m / (t2 - t1), 1) if todo else None,
        "probe_fit_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
    }


@dataclass(frozen=True)
class EvalBenchConfig:
    """``python bench/eval_bench.py``'s arguments."""

    benchmark: str | None = option(
        None, help="benchmark dir (default: $DNAPT_DATA_MIRROR/benchmark)"
    )
    vocab: str = option("kmer6-disjoint", help="dnapt vocabulary (default %(default)s)")
    window: int = option(
        512, help="pretraining window in bases: sets the max length (default %(default)s)"
    )
    batch_size: int = option(64, help="embedding batch size (default %(default)s)")
    tasks: str | None = option(None, help="comma-separated task ids (default: all)")
    cache_dir: str | None = option(
        None,
        help="embeddings cache as in eval/run.py (default: none, every run extracts); run "
        "twice with the same dir to time a re-score",
    )


def build_parser() -> argparse.ArgumentParser:
    """The eval_bench CLI, generated from ``EvalBenchConfig``."""
    return command_parser(
        EvalBenchConfig,
        prog="bench/eval_bench.py",
        description="Probe time of a bert-tiny checkpoint over every task of the benchmark "
        "(full train sets) and embedding sequences/s; JSON lines on stdout.",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_config(EvalBenchConfig, build_parser(), argv)
    if args is None:
        return 2

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # Each process builds the same seeded checkpoint locally: no shared path to agree on.
        # Before the process group exists: transformers 5 saves only on rank 0 inside one.
        ckpt = load_checkpoint(make_checkpoint(Path(tmp) / "hf", args.vocab, args.window))
        workers = Workers()
        root = resolve_benchmark(args.benchmark)
        ids = args.tasks.split(",") if args.tasks else discover_tasks(root)
        tasks = [load_task(root, t) for t in ids]
        model = build_encoder(ckpt, "pretrained", 0).to(workers.device)
        cache = EmbeddingCache(Path(args.cache_dir) if args.cache_dir else None)
        digest = checkpoint_digest(ckpt.path)
        costs = [sum(len(s) for split in t.splits.values() for s in split.sequences) for t in tasks]
        results = {
            i: timed_probe(ckpt, model, tasks[i], args.batch_size, ProbeConfig(), cache, digest)
            for i in workers.my_jobs(costs)
        }
    gathered = workers.gather(results)
    if workers.is_main:
        rows = [gathered[i] for i in range(len(tasks))]
        for row in rows:
            print(json.dumps(row), flush=True)
        embed_s = sum(r["embed_s"] for r in rows)
        print(
            json.dumps(
                {
                    "total": True,
                    "model": "bert-tiny (2 layers, hidden 64)",
                    "vocab": args.vocab,
                    "max_length": ckpt.max_length,
                    "processes": workers.world,
                    "threads_per_process": torch.get_num_threads(),
                    "device": workers.device.type,
                    "tasks": len(rows),
                    "sequences": sum(r["sequences"] for r in rows),
                    "tokens": sum(r["tokens"] for r in rows),
                    "truncated": sum(r["truncated"] for r in rows),
                    "cached_splits": sum(r["cached_splits"] for r in rows),
                    "embed_seqs_per_s_per_process": round(
                        sum(r["embedded"] for r in rows) / max(embed_s, 1e-9), 1
                    ),
                    "probe_fit_s": round(sum(r["probe_fit_s"] for r in rows), 1),
                    "wall_s": round(time.perf_counter() - t_start, 1),
                    # CPU seconds of the probes, all processes: on a shared machine the wall
                    # time also counts waiting for a core; cpu_s / processes is the wall time
                    # on idle cores
                    "cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
                    "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                }
            )
        )
    workers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
