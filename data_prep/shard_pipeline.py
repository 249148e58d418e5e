"""The sharding pipeline: FASTA records -> base windows -> every vocabulary -> MDS shards.

``run_shard(ShardConfig)`` is the whole job (``data_prep/shard.py`` is its command line). Every
vocabulary gets exactly the same base windows, in the same order. The output is deterministic:
the same inputs and seed give byte-identical shards and manifest (timestamps aside) for any
``workers``. It is crash-safe: everything is written into a hidden sibling ``.DIR.partial`` and
renamed into place at the end, so a killed run leaves no half dataset behind and a rerun starts
clean; a lock file beside ``DIR`` keeps a second sharder off the same directory.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from data_prep import __version__
from data_prep.fasta import FileStats, Record, read_fasta
from data_prep.manifest import Manifest, RunInfo, SourceEntry, SplitEntry, VocabEntry, VocabSplit
from data_prep.remote import remote_has_manifest, upload_dir
from data_prep.shard_checks import check_config, empty_split_error
from data_prep.shard_config import ShardConfig, ShardError
from data_prep.shard_summary import Progress
from data_prep.sources import resolve
from data_prep.vocab import (
    BASES_ARRAY,
    UNK_ID,
    Packed,
    Vocab,
    VocabSpec,
    build_vocab,
    load_encoder,
)
from data_prep.windows import SPLITS, RecordWindows, SplitCounts, record_windows
from data_prep.writers import make_sink
from dnapt.hashing import sha256_file


def _records(paths: list[Path], stats: list[FileStats]) -> Iterator[Record]:
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


def run_shard(cfg: ShardConfig) -> Manifest:
    """Shard ``cfg.inputs`` into ``cfg.out`` (staged locally first when it is remote)."""
    cfg = cfg.staged()
    specs = check_config(cfg)
    # Once, not in _check_config (which runs again under the lock): it is a network round trip.
    if cfg.remote and not cfg.overwrite and remote_has_manifest(cfg.remote):
        raise ShardError(
            f"{cfg.remote} already holds a dataset: pass --overwrite to replace it, or choose "
            "another --out"
        )
    out = cfg.out_dir
    paths = [resolve(i) for i in cfg.inputs]
    with _out_lock(out):
        check_config(cfg)  # --out may have changed while waiting for nothing: check again
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


def _write(cfg: ShardConfig, specs: list[VocabSpec], paths: list[Path], tmp: Path) -> Manifest:
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
    progress = Progress(cfg.progress)

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
    run = RunInfo(
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        elapsed_s=round(time.perf_counter() - t0, 3),
        vocab_build_s=round(vocab_s, 3),
        vocab_build_cpu_s=round(vocab_cpu_s, 3),
        workers=cfg.workers,
    )
    manifest = replace(manifest, run=run).sealed()
    manifest.write(tmp / "manifest.json")
    return manifest


def _manifest(cfg, paths, stats, counts, vocabs, tokens, unk, max_tokens, root: Path) -> Manifest:
    """The typed manifest of the finished ``root``; writes each vocabulary's ``vocab.json``."""
    sources = tuple(
        SourceEntry(
            input=arg,
            file=path.name,
            sha256=sha256_file(path),
            bytes=st.bytes,
            records=st.records,
            bases=st.bases,
            n_bases=st.n_bases,
            iupac_bases=st.iupac_bases,
            lowercase_bases=st.lower_bases,
            record_lengths=dict(st.record_lengths),
            empty_records=tuple(st.empty_records),
            crlf_lines=st.crlf_lines,
            cr_lines=st.cr_lines,
            blank_lines=st.blank_lines,
        )
        for arg, path, st in zip(cfg.inputs, paths, stats, strict=True)
    )
    vocab_entries = {}
    for v in vocabs:
        vroot = root / v.name
        entry = VocabEntry(
            name=v.name,
            family=v.family,
            k=v.k,
            size=v.size,
            dtype=v.dtype.name,
            max_tokens=max_tokens[v.name],
            tokenizer_sha256=v.sha256(),
            splits={s: VocabSplit(tokens[(v.name, s)], unk[(v.name, s)]) for s in SPLITS},
        )
        spec = {k: x for k, x in entry.to_json().items() if k != "files"}
        (vroot / "vocab.json").write_text(json.dumps(spec, indent=2) + "\n")
        vocab_entries[v.name] = replace(entry, files=_file_hashes(vroot))
    split_counts = {}
    for s in SPLITS:
        c = asdict(counts[s])
        c["record_names"] = tuple(sorted(set(c["record_names"])))
        split_counts[s] = SplitEntry(**c)
    return Manifest(
        dnapt_version=__version__,
        params=cfg.params(),
        sources=sources,
        splits=split_counts,
        vocabs=vocab_entries,
    )


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
