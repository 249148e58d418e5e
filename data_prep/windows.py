"""Fixed-length base windows and the train/val split, computed per record with numpy.

Windows are measured in **bases**, never tokens, so every vocabulary sees exactly the same genomic
windows. The split is by whole records (``val_records``) or by a contiguous tail of each record
(``val_fraction``), never by interleaved windows: train windows are cut from ``[0, cut)`` and val
windows from ``[cut, L)``, so no base of a val window can appear in a train window even when the
stride is smaller than the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_prep.fasta import Record
from dnapt.cli import option

SPLITS = ("train", "val")


@dataclass(frozen=True)
class WindowConfig:
    """How records become windows; all lengths in bases. Its fields are shard.py's flags.

    ``stride`` None means the window length (no overlap). ``val_fraction`` None means 0.05, or 0
    with ``val_records`` (whole records held out, no tail split). ``val_records`` items may be
    comma-separated lists (``--val-records chrI,chrII``).
    """

    window: int = option(1024, help="window length in bases")
    stride: int | None = option(
        None,
        help="distance between window starts in bases (default: the window length, i.e. no "
        "overlap)",
    )
    val_records: tuple[str, ...] = option(
        (),
        help="comma-separated record names held out whole as validation (then no tail split "
        "is made)",
    )
    val_fraction: float | None = option(
        None,
        help="validation = this contiguous tail fraction of every record (default 0.05; not "
        "with --val-records)",
    )
    max_n_frac: float = option(
        0.0,
        help="drop windows with a larger share of N (0.0: no N at all); dropped windows are "
        "counted",
    )

    def __post_init__(self) -> None:
        # Resolve the "same as" defaults once, so every reader sees plain numbers.
        records = tuple(r for item in self.val_records for r in item.split(",") if r)
        object.__setattr__(self, "val_records", records)
        if self.stride is None:
            object.__setattr__(self, "stride", self.window)
        if self.val_fraction is None:
            object.__setattr__(self, "val_fraction", 0.0 if records else 0.05)
        if self.window < 8:
            raise ValueError(f"--window {self.window}: use at least 8 bases")
        if not self.stride >= 1:
            raise ValueError(f"--stride {self.stride}: must be a positive number of bases")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"--val-fraction {self.val_fraction}: must be in [0, 1)")
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise ValueError(f"--max-n-frac {self.max_n_frac}: must be in [0, 1]")


@dataclass
class SplitCounts:
    """Per-split counts that go into the manifest."""

    records: int = 0
    windows: int = 0
    bases: int = 0
    n_bases: int = 0
    dropped_n_windows: int = 0
    uncovered_bases: int = 0
    record_names: list[str] = field(default_factory=list)


@dataclass
class RecordWindows:
    """The kept windows of one record for one split, as arrays (one row per window)."""

    split: str
    record: str
    starts: np.ndarray  # int64
    codes: np.ndarray  # [n, window] uint8
    repeat_frac: np.ndarray  # float32


def _starts(lo: int, hi: int, window: int, stride: int) -> np.ndarray:
    if hi - lo < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(lo, hi - window + 1, stride, dtype=np.int64)


def _count_in(pos: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """How many of the sorted positions ``pos`` fall in each window ``[start, start + window)``."""
    if not pos.size:
        return np.zeros(starts.size, dtype=np.int64)
    return np.searchsorted(pos, starts + window) - np.searchsorted(pos, starts)


def _covered(starts: np.ndarray, window: int, length: int) -> int:
    """Bases of a ``length``-base region covered by at least one window (difference array)."""
    if starts.size < 2 or np.diff(starts).min() >= window:
        return int(starts.size) * window  # no overlap: nothing to merge
    diff = np.zeros(length + 1, dtype=np.int64)
    np.add.at(diff, starts, 1)
    np.add.at(diff, starts + window, -1)
    return int((np.cumsum(diff[:-1]) > 0).sum())


def split_regions(rec: Record, cfg: WindowConfig) -> dict[str, tuple[int, int]]:
    """Base ranges of a record that belong to each split."""
    length = rec.length
    if cfg.val_records:
        return {"val": (0, length)} if rec.name in cfg.val_records else {"train": (0, length)}
    cut = length - int(round(length * cfg.val_fraction))
    regions = {"train": (0, cut)}
    if cut < length:
        regions["val"] = (cut, length)
    return regions


def record_windows(
    rec: Record, cfg: WindowConfig, counts: dict[str, SplitCounts]
) -> list[RecordWindows]:
    """Cut one record into kept windows per split, updating ``counts`` (drops are counted)."""
    # Positions of N and of soft-masked bases; a window's count is a difference of two binary
    # searches. Cheaper than a prefix sum over the whole record (most records have few N).
    n_pos = np.flatnonzero(rec.codes == 4)
    low_pos = np.flatnonzero(rec.lower)
    out = []
    for split, (lo, hi) in split_regions(rec, cfg).items():
        c = counts[split]
        c.records += 1
        c.record_names.append(rec.name)
        starts = _starts(lo, hi, cfg.window, cfg.stride)
        n_in = _count_in(n_pos, starts, cfg.window)
        keep = n_in <= cfg.max_n_frac * cfg.window
        c.dropped_n_windows += int((~keep).sum())
        starts = starts[keep]
        c.uncovered_bases += (hi - lo) - _covered(starts - lo, cfg.window, hi - lo)
        if not starts.size:
            continue
        # rows of a strided view: copies only the kept windows' bytes, no [n, window] index array
        view = np.lib.stride_tricks.sliding_window_view(rec.codes, cfg.window)
        c.windows += int(starts.size)
        c.bases += int(starts.size) * cfg.window
        c.n_bases += int(n_in[keep].sum())
        rep = _count_in(low_pos, starts, cfg.window) / cfg.window
        out.append(RecordWindows(split, rec.name, starts, view[starts], rep.astype(np.float32)))
    return out
