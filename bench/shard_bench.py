"""Sharding throughput: dnapt's vectorized path vs a naive DNABERT-style path, in one process.

    python bench/shard_bench.py [--vocab char,kmer6-overlap,kmer6-disjoint,bpe-4096] [--naive-mb 2]

Prints one JSON line per vocabulary: end-to-end megabases per second per core (FASTA.gz -> MDS,
``--workers 1``, so one core does all the work), the peak RSS of that run, and the ratio against
the naive baseline measured in the same process on a prefix of the same windows (Python k-mer
strings joined by spaces, the Hugging Face tokenizer called once per window, MDSWriter.write per
sample). A last line compares peak RSS of sharding E. coli alone with the whole demo corpus:
memory must not grow with genome size (it is bounded by the largest record).
Each measurement runs in a fresh subprocess so peak RSS belongs to that run alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

from data_prep.shard import ShardConfig, run_shard
from data_prep.sources import DEMO_CORPUS


def _warm_imports() -> None:
    """Import the heavy libraries before the clock starts: both paths pay them once per process."""
    import streaming  # noqa: F401
    import transformers  # noqa: F401


def _fast(inputs: list[str], vocab: str, q: mp.Queue) -> None:
    _warm_imports()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        m = run_shard(
            ShardConfig(out=Path(tmp) / "s", inputs=inputs, vocabs=[vocab], progress=False)
        )
        dt = time.perf_counter() - t0
    bases = sum(s["bases"] for s in m["sources"])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put({"bases": bases, "seconds": dt, "peak_rss_mb": rss})


def _naive(inputs: list[str], vocab: str, max_bases: int, q: mp.Queue) -> None:
    """The common pre-dnapt recipe: strings everywhere, one tokenizer call per window."""
    _warm_imports()
    import numpy as np
    from streaming import MDSWriter

    from data_prep.sources import resolve
    from data_prep.vocab import build_vocab
    from data_prep.writers import columns

    t0 = time.perf_counter()
    windows: list[tuple[str, int, str]] = []
    for path in (resolve(i) for i in inputs):
        records: dict[str, list[str]] = {}
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if line.startswith(">"):
                    records[line[1:].split()[0]] = cur = []
                else:
                    cur.append(line.strip().upper())
        for name, lines in records.items():
            seq = "".join(lines)
            windows += [(name, s, seq[s : s + 1024]) for s in range(0, len(seq) - 1023, 1024)]
    windows = windows[: max_bases // 1024]
    spec_k = int(vocab[4]) if vocab.startswith("kmer") else 1
    v = build_vocab(vocab, 1024, [w for _, _, w in windows] if vocab.startswith("bpe") else None)
    tok = v.tokenizer
    with tempfile.TemporaryDirectory() as tmp:
        w = MDSWriter(out=tmp, columns=columns(v.dtype), compression="zstd", hashes=["sha256"])
        for name, start, seq in windows:
            if vocab.endswith("overlap"):
                text = " ".join(seq[i : i + spec_k] for i in range(len(seq) - spec_k + 1))
            elif vocab.endswith("disjoint"):
                text = " ".join(seq[i : i + spec_k] for i in range(0, len(seq), spec_k))
            else:
                text = seq
            ids = tok(text, add_special_tokens=False)["input_ids"]
            w.write(
                {
                    "input_ids": np.asarray(ids, dtype=v.dtype),
                    "record": name,
                    "start": start,
                    "repeat_frac": np.float32(0),
                }
            )
        w.finish()
    q.put({"bases": len(windows) * 1024, "seconds": time.perf_counter() - t0})


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--vocab",
        default="char,kmer6-overlap,kmer6-disjoint,bpe-4096",
        help="vocabularies to measure (comma-separated)",
    )
    p.add_argument(
        "--naive-mb",
        type=float,
        default=2.0,
        help="megabases of the corpus the naive baseline processes (default 2)",
    )
    a = p.parse_args(argv)
    inputs = list(DEMO_CORPUS)
    for vocab in a.vocab.split(","):
        fast = _run(_fast, inputs, vocab)
        naive = _run(_naive, inputs, vocab, int(a.naive_mb * 1e6))
        fast_rate = fast["bases"] / 1e6 / fast["seconds"]
        naive_rate = naive["bases"] / 1e6 / naive["seconds"]
        print(
            json.dumps(
                {
                    "bench": "shard",
                    "vocab": vocab,
                    "corpus": "demo",
                    "bases": fast["bases"],
                    "seconds": round(fast["seconds"], 2),
                    "mb_per_s_per_core": round(fast_rate, 2),
                    "peak_rss_mb": round(fast["peak_rss_mb"], 1),
                    "naive_mb_per_s": round(naive_rate, 3),
                    "ratio_vs_naive": round(fast_rate / naive_rate, 1),
                }
            ),
            flush=True,
        )
    small = _run(_fast, ["ecoli_k12"], "char")
    big = _run(_fast, inputs, "char")
    print(
        json.dumps(
            {
                "bench": "shard_rss",
                "vocab": "char",
                "ecoli_bases": small["bases"],
                "ecoli_peak_rss_mb": round(small["peak_rss_mb"], 1),
                "demo_bases": big["bases"],
                "demo_peak_rss_mb": round(big["peak_rss_mb"], 1),
                "rss_ratio_demo_over_ecoli": round(big["peak_rss_mb"] / small["peak_rss_mb"], 2),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
