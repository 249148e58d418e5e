"""Shard real genomes into tokenized, zstd-compressed, streamable datasets, one per vocabulary.

    python data_prep/shard.py [--fasta F.fa[.gz] ...] --out DIR [--vocab char,kmer6-overlap,...]
    python data_prep/shard.py verify DIR
    python data_prep/shard.py --out s3://bucket/prefix [--local DIR] ...   (also gs://, oci://, ...)

Every vocabulary gets exactly the same base windows, in the same order. The output is
deterministic: the same inputs and seed give byte-identical shards and manifest (timestamps aside)
for any ``--workers``. It is crash-safe: everything is written into a hidden sibling
``.DIR.partial`` and renamed into place at the end, so a killed run leaves no half dataset behind
and a rerun starts clean.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from data_prep import __version__
from data_prep.errors import print_error
from data_prep.fasta import FastaError, FileStats, read_fasta
from data_prep.manifest import seal
from data_prep.remote import (
    RemoteError,
    default_local_dir,
    is_remote,
    remote_has_manifest,
    upload_dir,
)
from data_prep.sources import DEMO_CORPUS, SourceError, resolve
from data_prep.vocab import (
    BASES_ARRAY,
    UNK_ID,
    Packed,
    Vocab,
    VocabError,
    VocabSpec,
    build_vocab,
    load_encoder,
)
from data_prep.windows import SPLITS, RecordWindows, SplitCounts, WindowConfig, record_windows
from data_prep.writers import make_sink
from dnapt.hashing import sha256_file

DEFAULT_VOCABS = "char,kmer6-overlap,kmer6-disjoint,bpe-4096"


class ShardError(RuntimeError):
    """A sharding run that cannot proceed; the message says why and what to do."""


@dataclass
class ShardConfig:
    """Everything that determines a shard directory's contents (saved in the manifest)."""

    out: Path
    inputs: list[str] = field(default_factory=lambda: list(DEMO_CORPUS))
    vocabs: list[str] = field(default_factory=lambda: DEFAULT_VOCABS.split(","))
    windows: WindowConfig = field(default_factory=WindowConfig)
    seed: int = 0
    workers: int = 1
    overwrite: bool = False
    bpe_train_bases: int = 8_000_000
    chunk_windows: int = 512
    progress: bool = True
    remote: str | None = None  # object-storage URI the finished ``out`` is uploaded to

    def params(self) -> dict:
        """The parameters that define the data (not how fast it was made: workers, progress)."""
        return {
            "inputs": self.inputs,
            "vocabs": self.vocabs,
            **asdict(self.windows),
            "seed": self.seed,
            "format": "mds",  # the one shard format (recorded for readers of older manifests)
            "bpe_train_bases": self.bpe_train_bases,
        }


def _records(paths: list[Path], stats: list[FileStats]) -> Iterator:
    """All records of all inputs, rejecting a record name that occurs in two files."""
    seen: dict[str, str] = {}
    for path, st in zip(paths, stats, strict=True):
        for rec in read_fasta(path, st):
            if rec.name in seen:
                raise ShardError(
                    f"{path}:{rec.header_line}: record '{rec.name}' also occurs in {seen[rec.name]}; "
                    "record names must be unique across inputs: rename one"
                )
            seen[rec.name] = str(path)
            yield rec


def _bpe_texts(paths: list[Path], cfg: ShardConfig) -> list[str]:
    """Train-split windows for BPE training: all, or a seeded reservoir sample of the budget."""
    cap = max(1, cfg.bpe_train_bases // cfg.windows.window)
    rng = np.random.default_rng(cfg.seed)
    sample: list[str] = []
    seen = 0
    counts = {s: SplitCounts() for s in SPLITS}
    stats = [FileStats(str(p)) for p in paths]
    for rec in _records(paths, stats):
        for rw in record_windows(rec, cfg.windows, counts):
            if rw.split != "train":
                continue
            width = rw.codes.shape[1]
            block = BASES_ARRAY[rw.codes].tobytes().decode()  # one decode, sliced per window
            for at in range(0, len(block), width):
                text = block[at : at + width]
                if len(sample) < cap:
                    sample.append(text)
                else:
                    j = int(rng.integers(0, seen + 1))
                    if j < cap:
                        sample[j] = text
                seen += 1
    if not sample:
        raise empty_split_error("train", counts["train"], stats, cfg.windows)
    return sample


def empty_split_error(
    split: str, c: SplitCounts, stats: list[FileStats], w: WindowConfig
) -> ShardError:
    """Say what is actually empty when ``split`` got no window, and the fix for that cause."""
    if sum(st.bases for st in stats) == 0:
        empty = [n for st in stats for n in st.empty_records][:5]
        return ShardError(
            "the inputs hold no sequence: every record is a header with no bases "
            f"({', '.join(empty) or 'no records'}); check the FASTA files"
        )
    if split == "val" and not w.val_records and w.val_fraction == 0:
        return ShardError(
            "--val-fraction 0 leaves no validation split; the trainer validates on it (val loss, "
            "bits per hidden base): use --val-fraction > 0 or --val-records"
        )
    if split == "train" and w.val_records and c.records == 0:
        return ShardError(
            "--val-records names every record, so none is left for training: hold out fewer records"
        )
    if c.dropped_n_windows:
        return ShardError(
            f"all {c.dropped_n_windows:,} {split} windows were dropped for N (more than "
            f"--max-n-frac {w.max_n_frac} of their bases): the {split} sequence is N; raise "
            "--max-n-frac or use other sequence"
        )
    lengths = [n for st in stats for n in st.record_lengths.values()]
    if w.val_records:
        names = {r: n for st in stats for r, n in st.record_lengths.items()}
        region = [n for r, n in names.items() if (r in w.val_records) == (split == "val")]
    else:
        tails = [int(round(n * w.val_fraction)) for n in lengths]
        region = tails if split == "val" else [n - t for n, t in zip(lengths, tails, strict=True)]
    longest = max(region, default=0)
    fix = "lower --window" + (
        " or raise --val-fraction" if split == "val" and not w.val_records else ""
    )
    return ShardError(
        f"no {split} window: the longest {split} region is {longest:,} bases, shorter than "
        f"--window {w.window}: {fix}"
    )


_WORKER_VOCABS: list[Vocab] = []


def _init_worker(vocab_dirs: list[str]) -> None:
    _WORKER_VOCABS[:] = [load_encoder(d) for d in vocab_dirs]


def _encode_job(codes: np.ndarray) -> list[Packed]:
    """Encode one chunk of windows ([n, window] base codes) in every vocabulary."""
    return [v.encode_packed(codes) for v in _WORKER_VOCABS]


def _chunks(paths: list[Path], stats: list[FileStats], cfg: ShardConfig, counts) -> Iterator:
    for rec in _records(paths, stats):
        for rw in record_windows(rec, cfg.windows, counts):
            for i in range(0, rw.starts.size, cfg.chunk_windows):
                sl = slice(i, i + cfg.chunk_windows)
                yield RecordWindows(
                    rw.split, rw.record, rw.starts[sl], rw.codes[sl], rw.repeat_frac[sl]
                )


def _run_jobs(
    jobs: Iterator[RecordWindows], workers: int, vocabs: list[Vocab], vocab_dirs: list[str]
) -> Iterator:
    """(chunk, encodings in vocabulary order) in input order.

    Only BPE goes to the worker processes: char and k-mer encoding is a few array operations,
    cheaper than sending the chunk to another process and its ids back, so those stay here. With
    no BPE vocabulary no pool is started. A bounded number of chunks is in flight.
    """
    pooled = [i for i, v in enumerate(vocabs) if v.family == "bpe"] if workers > 1 else []
    local = [v for i, v in enumerate(vocabs) if i not in pooled]
    if not pooled:
        for rw in jobs:
            yield rw, [v.encode_packed(rw.codes) for v in vocabs]
        return
    dirs = [vocab_dirs[i] for i in pooled]

    def merge(rw: RecordWindows, remote: list[Packed]) -> list[Packed]:
        mine = iter([v.encode_packed(rw.codes) for v in local])
        theirs = iter(remote)
        return [next(theirs) if i in pooled else next(mine) for i in range(len(vocabs))]

    with mp.get_context("spawn").Pool(workers, _init_worker, (dirs,)) as pool:
        inflight: deque = deque()
        for rw in jobs:
            inflight.append((rw, pool.apply_async(_encode_job, (rw.codes,))))
            if len(inflight) >= 3 * workers:
                done, res = inflight.popleft()
                yield done, merge(done, res.get())
        while inflight:
            done, res = inflight.popleft()
            yield done, merge(done, res.get())


def _file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``. MDS shards reuse the sha256 that MDSWriter computed
    over the very bytes it wrote (recorded in index.json), instead of reading them back."""
    known: dict[Path, str] = {}
    for index in root.glob("*/index.json"):
        for shard in json.loads(index.read_text()).get("shards", []):
            zipped = shard.get("zip_data") or {}
            digest = (zipped.get("hashes") or {}).get("sha256")
            if digest and "basename" in zipped:
                known[index.parent / zipped["basename"]] = digest
    return {
        str(p.relative_to(root)): known.get(p) or sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _check_config(cfg: ShardConfig) -> list[VocabSpec]:
    """Every argument problem that needs no input read, as one ShardError."""
    if not cfg.vocabs:
        raise ShardError("--vocab is empty: name at least one vocabulary, e.g. --vocab char")
    specs = [VocabSpec.parse(v) for v in cfg.vocabs]
    if len(set(cfg.vocabs)) != len(cfg.vocabs):
        raise ShardError(f"--vocab lists a vocabulary twice: {','.join(cfg.vocabs)}")
    if cfg.workers < 1:
        raise ShardError(f"--workers {cfg.workers}: use 1 or more tokenizer processes")
    if not 0 <= cfg.seed < 2**63:
        raise ShardError(f"--seed {cfg.seed}: use a non-negative integer below 2**63")
    if cfg.bpe_train_bases < cfg.windows.window:
        raise ShardError(
            f"--bpe-train-bases {cfg.bpe_train_bases}: use at least one window "
            f"({cfg.windows.window} bases)"
        )
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise ShardError(
            f"--out {out} is an existing file, not a shard directory: move it away or choose "
            "another --out (--overwrite only replaces shard directories)"
        )
    if out.is_dir() and not cfg.overwrite:
        raise ShardError(f"{out} exists: pass --overwrite to replace it, or choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ShardError(
            f"--out {out} is a non-empty directory without manifest.json, not a shard directory: "
            "--overwrite only replaces shard directories; choose another --out"
        )
    return specs


@contextmanager
def _out_lock(out: Path) -> Iterator[None]:
    """Hold ``.OUT.lock`` beside ``out`` for the whole run: a second sharder on the same --out
    fails at once instead of deleting the first one's ``.OUT.partial``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}.lock"
    while True:
        fh = open(path, "a+")  # noqa: SIM115 - closed below, after the lock is released
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise ShardError(
                f"--out {out}: another sharder (pid {holder}) is writing it (lock {path}); wait "
                "for it to finish or choose another --out"
            ) from None
        # the file may have been removed by a finishing holder between open and flock: retry
        if path.exists() and os.path.samestat(os.fstat(fh.fileno()), path.stat()):
            break
        fh.close()
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def run_shard(cfg: ShardConfig) -> dict:
    """Shard ``cfg.inputs`` into ``cfg.out``; returns the manifest."""
    specs = _check_config(cfg)
    # Once, not in _check_config (which runs again under the lock): it is a network round trip.
    if cfg.remote and not cfg.overwrite and remote_has_manifest(cfg.remote):
        raise ShardError(
            f"{cfg.remote} already holds a dataset: pass --overwrite to replace it, or choose "
            "another --out"
        )
    out = cfg.out
    paths = [resolve(i) for i in cfg.inputs]
    with _out_lock(out):
        _check_config(cfg)  # --out may have changed while waiting for nothing: check again
        tmp = out.parent / f".{out.name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)  # left by a killed run: restart from scratch
        tmp.mkdir(parents=True)
        try:
            manifest = _write(cfg, specs, paths, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed run leaves nothing behind
            raise
        _commit(tmp, out)
    if cfg.remote:
        upload_dir(out, cfg.remote)  # shards, indexes, tokenizers, then manifest.json last
    return manifest


def _write(cfg: ShardConfig, specs: list[VocabSpec], paths: list[Path], tmp: Path) -> dict:
    """Everything that writes into the temporary directory ``tmp``."""
    t_vocab, c_vocab = time.perf_counter(), time.process_time()
    bpe_texts = _bpe_texts(paths, cfg) if any(s.family == "bpe" for s in specs) else None
    vocabs = [build_vocab(s.name, cfg.windows.window, bpe_texts) for s in specs]
    del bpe_texts
    for spec, v in zip(specs, vocabs, strict=True):
        if spec.family == "bpe" and v.size < spec.bpe_size:
            raise ShardError(
                f"--vocab {spec.name}: the train sample supports only {v.size:,} tokens (merges "
                f"seen at least twice); ask for bpe-{v.size} or fewer, or shard more sequence "
                "(or raise --bpe-train-bases)"
            )
    # BPE training is a fixed cost per dataset, reported apart from the per-base work
    vocab_s, vocab_cpu_s = time.perf_counter() - t_vocab, time.process_time() - c_vocab
    vocab_dirs = []
    for v in vocabs:
        d = tmp / v.name / "tokenizer"
        v.save(d)
        vocab_dirs.append(str(d))

    sinks = {(v.name, s): make_sink(tmp / v.name / s, v.dtype) for v in vocabs for s in SPLITS}
    tokens = {(v.name, s): 0 for v in vocabs for s in SPLITS}
    unk = {(v.name, s): 0 for v in vocabs for s in SPLITS}
    max_tokens = {v.name: 0 for v in vocabs}
    counts = {s: SplitCounts() for s in SPLITS}
    stats = [FileStats(str(p)) for p in paths]
    t0 = time.perf_counter()
    progress = _Progress(cfg.progress)

    jobs = _chunks(paths, stats, cfg, counts)
    try:
        for rw, encoded in _run_jobs(jobs, cfg.workers, vocabs, vocab_dirs):
            for v, packed in zip(vocabs, encoded, strict=True):
                key = (v.name, rw.split)
                sinks[key].write_packed(packed, rw.record, rw.starts, rw.repeat_frac)
                tokens[key] += packed.ids.size
                unk[key] += int(np.count_nonzero(packed.ids == UNK_ID))
                max_tokens[v.name] = max(max_tokens[v.name], int(packed.lengths().max()))
            written = sum(p.ids.nbytes for p in encoded)
            progress.update(
                rw.starts.size,
                rw.starts.size * cfg.windows.window,
                written,
                time.perf_counter() - t0,
            )
    finally:
        progress.close()
    for sink in sinks.values():
        sink.finish()

    missing = set(cfg.windows.val_records) - set(counts["val"].record_names)
    if missing:
        raise ShardError(
            f"--val-records names records not in the inputs: {', '.join(sorted(missing))}"
        )
    for split in SPLITS:
        if counts[split].windows == 0:
            raise empty_split_error(split, counts[split], stats, cfg.windows)

    manifest = _manifest(cfg, paths, stats, counts, vocabs, tokens, unk, max_tokens, tmp)
    manifest["run"] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "vocab_build_s": round(vocab_s, 3),
        "vocab_build_cpu_s": round(vocab_cpu_s, 3),
        "workers": cfg.workers,
    }
    manifest = seal(manifest)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _manifest(cfg, paths, stats, counts, vocabs, tokens, unk, max_tokens, root: Path) -> dict:
    sources = []
    for arg, path, st in zip(cfg.inputs, paths, stats, strict=True):
        sources.append(
            {
                "input": arg,
                "file": path.name,
                "sha256": sha256_file(path),
                "bytes": st.bytes,
                "records": st.records,
                "bases": st.bases,
                "n_bases": st.n_bases,
                "iupac_bases": st.iupac_bases,
                "lowercase_bases": st.lower_bases,
                "record_lengths": st.record_lengths,
                "empty_records": st.empty_records,
                "crlf_lines": st.crlf_lines,
                "cr_lines": st.cr_lines,
                "blank_lines": st.blank_lines,
            }
        )
    vocab_entries = {}
    for v in vocabs:
        vroot = root / v.name
        entry = {
            "name": v.name,
            "family": v.family,
            "k": v.k,
            "size": v.size,
            "dtype": v.dtype.name,
            "max_tokens": max_tokens[v.name],
            "tokenizer_sha256": v.sha256(),
            "splits": {
                s: {"tokens": tokens[(v.name, s)], "unk_tokens": unk[(v.name, s)]} for s in SPLITS
            },
        }
        (vroot / "vocab.json").write_text(json.dumps(entry, indent=2) + "\n")
        entry["files"] = _file_hashes(vroot)
        vocab_entries[v.name] = entry
    split_counts = {}
    for s in SPLITS:
        c = asdict(counts[s])
        c["record_names"] = sorted(set(c["record_names"]))
        split_counts[s] = c
    return {
        "dnapt_version": __version__,
        "params": cfg.params(),
        "sources": sources,
        "splits": split_counts,
        "vocabs": vocab_entries,
    }


def _commit(tmp: Path, out: Path) -> None:
    """Move the finished dataset into place; an old one is replaced only after success."""
    old = out.parent / f".{out.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)


class _Progress:
    """A rich progress line: bases, windows, MB of token ids written, Mb/s (silent if disabled)."""

    def __init__(self, enabled: bool) -> None:
        self._p = None
        if enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._p.start()
            self._task = self._p.add_task("sharding")
        self.windows = 0
        self.bases = 0
        self.token_bytes = 0

    def update(self, windows: int, bases: int, token_bytes: int, elapsed: float) -> None:
        self.windows += windows
        self.bases += bases
        self.token_bytes += token_bytes
        if self._p is not None:
            rate = self.bases / 1e6 / max(elapsed, 1e-9)
            self._p.update(
                self._task,
                description=f"sharding: {self.bases / 1e6:,.1f} Mb, {self.windows:,} windows, "
                f"{self.token_bytes / 1e6:,.1f} MB of tokens written (before zstd), {rate:,.1f} Mb/s",
            )

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


def print_summary(manifest: dict, out: Path) -> None:
    """A rich table of what was written, per vocabulary and split."""
    from rich.console import Console
    from rich.table import Table

    sp = manifest["splits"]
    table = Table(title=f"dnapt shards: {out}")
    for col in (
        "vocab",
        "size",
        "train windows",
        "val windows",
        "train tokens",
        "val tokens",
        "bases/token",
        "max tokens",
        "MB on disk",
    ):
        table.add_column(col, justify="right" if col != "vocab" else "left")
    for name, v in manifest["vocabs"].items():
        mb = sum((out / name / f).stat().st_size for f in v["files"]) / 1e6
        tr = v["splits"]["train"]["tokens"]
        table.add_row(
            name,
            str(v["size"]),
            f"{sp['train']['windows']:,}",
            f"{sp['val']['windows']:,}",
            f"{tr:,}",
            f"{v['splits']['val']['tokens']:,}",
            f"{sp['train']['bases'] / max(tr, 1):.2f}",
            str(v["max_tokens"]),
            f"{mb:.1f}",
        )
    console = Console()
    console.print(table)
    dropped = sp["train"]["dropped_n_windows"] + sp["val"]["dropped_n_windows"]
    iupac = sum(s["iupac_bases"] for s in manifest["sources"])
    console.print(
        f"records train/val: {sp['train']['records']}/{sp['val']['records']}; windows dropped "
        f"for N: {dropped:,}; IUPAC bases mapped to N: {iupac:,}; "
        f"elapsed {manifest['run']['elapsed_s']:.1f} s"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python data_prep/shard.py",
        description="Shard FASTA genomes into tokenized, zstd-compressed MDS datasets, one per "
        "vocabulary, over identical base windows. 'python data_prep/shard.py verify DIR' checks "
        "a finished directory.",
    )
    p.add_argument(
        "--fasta",
        nargs="+",
        action="extend",
        metavar="F",
        help="FASTA files (plain, gzip or BGZF) or registry names; default: the demo "
        f"corpus ({', '.join(DEMO_CORPUS)})",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output directory (must not exist unless --overwrite), or an object-storage URI "
        "(s3://, gs://, oci://, azure://, hf://, file:///abs/dir): written locally, then uploaded "
        "with manifest.json last",
    )
    p.add_argument(
        "--local",
        type=Path,
        default=None,
        help="with a remote --out: keep the local copy here (default: a temporary directory, "
        "removed after the upload)",
    )
    p.add_argument(
        "--vocab",
        default=DEFAULT_VOCABS,
        help="comma-separated vocabularies: char, "
        "kmer<K>-overlap, kmer<K>-disjoint (K=3..6), bpe-<size> (default: %(default)s)",
    )
    p.add_argument(
        "--window", type=int, default=1024, help="window length in bases (default: 1024)"
    )
    p.add_argument(
        "--stride",
        type=int,
        default=None,
        help="distance between window starts in "
        "bases (default: the window length, i.e. no overlap)",
    )
    p.add_argument(
        "--val-records",
        default="",
        help="comma-separated record names held out whole "
        "as validation (then no tail split is made)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="validation = this contiguous "
        "tail fraction of every record (default 0.05; not with --val-records)",
    )
    p.add_argument(
        "--max-n-frac",
        type=float,
        default=0.0,
        help="drop windows with a larger "
        "share of N (default 0.0: no N at all); dropped windows are counted",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="tokenizer processes; the output is identical for any value (default: 1)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed for the BPE training sample (default 0)"
    )
    p.add_argument(
        "--bpe-train-bases",
        type=int,
        default=8_000_000,
        help="cap on train bases sampled to learn BPE (default: 8,000,000; HF BPE training time grows with it)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    p.add_argument("--no-progress", action="store_true", help="no progress line or summary table")
    return p


def config_from_args(a: argparse.Namespace) -> ShardConfig:
    val_records = tuple(r for r in a.val_records.split(",") if r)
    if val_records and a.val_fraction is not None:
        raise ShardError("--val-records and --val-fraction are exclusive: choose one split")
    try:
        windows = WindowConfig(
            window=a.window,
            stride=a.stride if a.stride is not None else a.window,
            val_records=val_records,
            val_fraction=0.0
            if val_records
            else (0.05 if a.val_fraction is None else a.val_fraction),
            max_n_frac=a.max_n_frac,
        )
    except ValueError as e:
        raise ShardError(str(e)) from None
    remote = a.out if is_remote(a.out) else None
    if a.local is not None and remote is None:
        raise ShardError("--local only applies to a remote --out (s3://, gs://, file://, ...)")
    local = (a.local or default_local_dir(a.out)) if remote else Path(a.out)
    return ShardConfig(
        out=local,
        remote=remote,
        # Paths are stored absolute so `verify` can find the sources from any directory.
        inputs=[str(Path(f).resolve()) if Path(f).is_file() else f for f in a.fasta]
        if a.fasta
        else list(DEMO_CORPUS),
        vocabs=[v for v in a.vocab.split(",") if v],
        windows=windows,
        seed=a.seed,
        workers=a.workers,
        overwrite=a.overwrite,
        bpe_train_bases=a.bpe_train_bases,
        progress=not a.no_progress,
    )


def os_error_message(e: OSError, out: Path) -> str:
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
        cfg = config_from_args(args)
        manifest = run_shard(cfg)
        if cfg.progress:
            print_summary(manifest, cfg.out)
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
            shutil.rmtree(cfg.out.parent, ignore_errors=True)  # the temporary staging copy
    return 0


if __name__ == "__main__":
    sys.exit(main())
