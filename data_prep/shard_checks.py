"""What the sharder checks before it reads anything, and what it says when a split comes out empty.

Both name the flag to change: ``check_config`` runs before any input is read (and again under the
``--out`` lock); ``empty_split_error`` explains an empty split by its actual cause.
"""

from __future__ import annotations

from data_prep.fasta import FileStats
from data_prep.shard_config import ShardConfig, ShardError
from data_prep.vocab import VocabSpec
from data_prep.windows import SplitCounts, WindowConfig


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


def check_config(cfg: ShardConfig) -> list[VocabSpec]:
    """Every argument problem that needs no input read, as one ShardError; the parsed vocabs."""
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
    out = cfg.out_dir
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
