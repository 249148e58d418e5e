"""Sharding throughput: dnapt's path vs a naive DNABERT-style path (and, optionally, an older
dnapt revision), each in a fresh process on the same machine in the same run.

    python bench/shard_bench.py [--vocab char,kmer6-overlap,kmer6-disjoint,bpe-4096]
        [--naive-mb 2] [--workers 1,2] [--before GIT_REF]

Prints one JSON line per vocabulary and worker count (demo corpus, FASTA.gz -> MDS, end to end):

* ``mb_per_s_per_core``: bases / CPU seconds of the sharding processes (user + system, workers
  included). CPU time, not wall time, is the per-core figure: on a machine shared with other jobs
  wall time also counts the time this process waited for a core.
* ``mb_per_s_wall``: bases / wall seconds (what ``--workers`` scales).
* ``ratio_vs_naive``: per-core rate over the naive baseline's, measured in this run on a prefix
  of the same windows (Python line-by-line gzip text reading, k-mer strings joined by spaces, the
  Hugging Face tokenizer called once per window, MDSWriter.write per sample); it reads only that
  prefix, so its rate is not diluted by reading data it does not process.
* BPE: ``vocab_build_cpu_s`` is the tokenizer training, a fixed cost per dataset;
  ``encode_mb_per_s_per_core`` is the rate of everything else.
* With ``--before REF``, the same measurement of that git revision (``git archive`` into a
  temporary directory) in the same run, and ``speedup_vs_before``.

A last line compares peak RSS of sharding E. coli alone with the whole demo corpus: memory must
not grow with genome size (it is bounded by the largest record). Every measurement runs in its own
subprocess, so peak RSS and CPU time belong to that run alone. Set OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dnapt.cli import command_parser, option, parse_config

ROOT = Path(__file__).resolve().parent.parent
DEMO = ["ecoli_k12", "scerevisiae_s288c", "hg38_chr2_slice"]  # data_prep.sources.DEMO_CORPUS


def _child_fast(inputs: list[str], vocab: str, workers: int) -> dict:
    """One end-to-end sharding run of the dnapt importable here; CPU includes worker processes."""
    import resource
    import time

    import streaming  # noqa: F401 - both paths pay the heavy imports before the clock starts
    import transformers  # noqa: F401

    from data_prep.shard import ShardConfig, run_shard

    with tempfile.TemporaryDirectory() as tmp:
        cfg = ShardConfig(
            out=Path(tmp) / "s", inputs=inputs, vocabs=[vocab], progress=False, workers=workers
        )
        r0, c0 = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        t0 = time.perf_counter()
        m = run_shard(cfg)
        wall = time.perf_counter() - t0
        # The plain JSON form: --before runs revisions whose run_shard returned a dict, before
        # the typed data_prep.manifest.Manifest existed; the on-disk keys are the same in both.
        m = m.to_json() if hasattr(m, "to_json") else m
        r1, c1 = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        floor = _floor_cpu_s(m, Path(tmp) / "s")
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((r0, r1), (c0, c1)))
    return {
        "bases": sum(s["bases"] for s in m["sources"]),
        "wall_s": wall,
        "cpu_s": cpu,
        "vocab_build_cpu_s": m["run"].get("vocab_build_cpu_s"),
        "peak_rss_mb": r1.ru_maxrss / 1024,
        "floor_cpu_s": floor,
    }


def _floor_cpu_s(manifest: dict, out: Path) -> float:
    """CPU seconds of the work no sharder can skip: inflating the FASTA.gz inputs (zlib) and
    zstd level 3 of the shards' bytes (what MDSWriter calls), timed alone on the same data."""
    import time
    import zlib

    import zstd

    from data_prep.sources import resolve

    raws = []
    for vocab in manifest["vocabs"]:
        for index in (out / vocab).glob("*/index.json"):
            for shard in json.loads(index.read_text())["shards"]:
                blob = (index.parent / shard["zip_data"]["basename"]).read_bytes()
                raws.append(zstd.decompress(blob))
    inputs = [resolve(s["input"]).read_bytes() for s in manifest["sources"]]
    c0 = time.process_time()
    for blob in inputs:
        while blob:
            d = zlib.decompressobj(31)
            d.decompress(blob)
            blob = d.unused_data
    for raw in raws:
        zstd.compress(raw, 3)
    return time.process_time() - c0


def _child_naive(inputs: list[str], vocab: str, max_bases: int) -> dict:
    """The common pre-dnapt recipe: strings everywhere, one tokenizer call per window."""
    import gzip
    import time

    import numpy as np
    import streaming  # noqa: F401
    import transformers  # noqa: F401
    from streaming import MDSWriter

    from data_prep.sources import resolve
    from data_prep.vocab import build_vocab
    from data_prep.writers import columns

    t0, c0 = time.perf_counter(), time.process_time()
    windows: list[tuple[str, int, str]] = []
    read = 0  # it reads only as far as the windows it processes: the rate counts what it read
    for path in (resolve(i) for i in inputs):
        records: dict[str, list[str]] = {}
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if line.startswith(">"):
                    records[line[1:].split()[0]] = cur = []
                else:
                    cur.append(line.strip().upper())
                    read += len(cur[-1])
                    if read >= max_bases + 1024:
                        break
        for name, lines in records.items():
            seq = "".join(lines)
            windows += [(name, s, seq[s : s + 1024]) for s in range(0, len(seq) - 1023, 1024)]
        if read >= max_bases + 1024:
            break
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
    return {
        "bases": len(windows) * 1024,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }


def _run(root: Path, kind: str, *args: object) -> dict:
    """Run one measurement in a fresh interpreter with ``root``'s data_prep on the path."""
    env = {**os.environ, "PYTHONPATH": str(root), "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps([kind, *args])]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _checkout(ref: str, dest: Path) -> Path:
    """The tree of git revision ``ref`` in ``dest`` (no .git: just the files)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True)
class ShardBenchConfig:
    """``python bench/shard_bench.py``'s arguments."""

    vocab: str = option(
        "char,kmer6-overlap,kmer6-disjoint,bpe-4096",
        help="vocabularies to measure (comma-separated)",
    )
    naive_mb: float = option(
        2.0, gt=0, help="megabases of the corpus the naive baseline processes (default %(default)s)"
    )
    workers: tuple[int, ...] = option((1, 2), gt=0, help="worker counts to measure")
    before: str | None = option(None, help="also measure this git revision (e.g. a commit hash)")
    no_rss: bool = option(False, help="skip the peak-RSS comparison")
    child: str | None = option(None, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """The shard_bench CLI, generated from ``ShardBenchConfig``."""
    return command_parser(
        ShardBenchConfig, description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )


def main(argv: list[str] | None = None) -> int:
    a = parse_config(ShardBenchConfig, build_parser(), argv)
    if a is None:
        return 2
    if a.child:
        kind, *args = json.loads(a.child)
        fn = _child_fast if kind == "fast" else _child_naive
        print(json.dumps(fn(*args)))
        return 0

    workers = list(a.workers)
    with tempfile.TemporaryDirectory() as tmp:
        before = _checkout(a.before, Path(tmp)) if a.before else None
        for vocab in a.vocab.split(","):
            naive = _run(ROOT, "naive", DEMO, vocab, int(a.naive_mb * 1e6))
            naive_rate = naive["bases"] / 1e6 / naive["cpu_s"]
            old = _run(before, "fast", DEMO, vocab, 1) if before else None
            for w in workers:
                fast = _run(ROOT, "fast", DEMO, vocab, w)
                rate = fast["bases"] / 1e6 / fast["cpu_s"]
                row = {
                    "bench": "shard",
                    "vocab": vocab,
                    "workers": w,
                    "bases": fast["bases"],
                    "wall_s": round(fast["wall_s"], 2),
                    "cpu_s": round(fast["cpu_s"], 2),
                    "mb_per_s_per_core": round(rate, 2),
                    "mb_per_s_wall": round(fast["bases"] / 1e6 / fast["wall_s"], 2),
                    "peak_rss_mb": round(fast["peak_rss_mb"], 1),
                    "naive_mb_per_s_per_core": round(naive_rate, 3),
                    "ratio_vs_naive": round(rate / naive_rate, 1),
                    # gunzip + zstd alone: the per-core rate no implementation can exceed
                    "floor_mb_per_s_per_core": round(fast["bases"] / 1e6 / fast["floor_cpu_s"], 1),
                    "load": _load(),
                }
                if fast["vocab_build_cpu_s"]:
                    row["vocab_build_cpu_s"] = round(fast["vocab_build_cpu_s"], 2)
                    rest = fast["cpu_s"] - fast["vocab_build_cpu_s"]
                    row["encode_mb_per_s_per_core"] = round(fast["bases"] / 1e6 / rest, 2)
                if old is not None and w == 1:
                    old_rate = old["bases"] / 1e6 / old["cpu_s"]
                    row["before"] = a.before
                    row["before_mb_per_s_per_core"] = round(old_rate, 2)
                    row["speedup_vs_before"] = round(rate / old_rate, 2)
                print(json.dumps(row), flush=True)
    if not a.no_rss:
        small = _run(ROOT, "fast", ["ecoli_k12"], "char", 1)
        big = _run(ROOT, "fast", DEMO, "char", 1)
        print(
            json.dumps(
                {
                    "bench": "shard_rss",
                    "vocab": "char",
                    "ecoli_bases": small["bases"],
                    "ecoli_peak_rss_mb": round(small["peak_rss_mb"], 1),
                    "demo_bases": big["bases"],
                    "demo_peak_rss_mb": round(big["peak_rss_mb"], 1),
                    "rss_ratio_demo_over_ecoli": round(
                        big["peak_rss_mb"] / small["peak_rss_mb"], 2
                    ),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
