"""Windows and the train/val split: base-exact, disjoint, N-filtered, counted."""

from __future__ import annotations

import numpy as np
import pytest

from data_prep.fasta import Record
from data_prep.windows import SPLITS, SplitCounts, WindowConfig, record_windows


def _rec(codes: np.ndarray, name: str = "r", lower: np.ndarray | None = None) -> Record:
    lower = np.zeros(codes.size, bool) if lower is None else lower
    return Record(name, codes.astype(np.uint8), lower, "mem", 1)


def _cut(rec: Record, cfg: WindowConfig):
    counts = {s: SplitCounts() for s in SPLITS}
    return record_windows(rec, cfg, counts), counts


@pytest.mark.parametrize("stride", [7, 50, 100, 130])
def test_tail_split_never_shares_a_base(stride: int) -> None:
    rng = np.random.default_rng(stride)
    rec = _rec(rng.integers(0, 4, 5_000))
    out, counts = _cut(rec, WindowConfig(window=100, stride=stride, val_fraction=0.2))
    train = [s for rw in out if rw.split == "train" for s in rw.starts]
    val = [s for rw in out if rw.split == "val" for s in rw.starts]
    assert train and val
    assert max(train) + 100 <= 4_000 <= min(val)
    train_bases = {b for s in train for b in range(s, s + 100)}
    assert not train_bases & {b for s in val for b in range(s, s + 100)}
    for rw in out:  # the window content is the record's bases at its start
        assert np.array_equal(rw.codes[0], rec.codes[rw.starts[0] : rw.starts[0] + 100])
    total = sum(c.bases for c in counts.values())
    assert total == 100 * (len(train) + len(val))


def test_val_records_split_whole_records() -> None:
    cfg = WindowConfig(window=10, stride=10, val_records=("chrII",))
    out, counts = _cut(_rec(np.zeros(100), "chrII"), cfg)
    assert {rw.split for rw in out} == {"val"} and counts["val"].windows == 10
    out, counts = _cut(_rec(np.zeros(100), "chrI"), cfg)
    assert {rw.split for rw in out} == {"train"} and counts["train"].windows == 10


def test_n_windows_dropped_and_counted_and_repeat_frac() -> None:
    codes = np.zeros(40, dtype=np.uint8)
    codes[12] = 4  # one N in the second window
    lower = np.zeros(40, bool)
    lower[:5] = True
    cfg = WindowConfig(window=10, stride=10, val_fraction=0.0)
    out, counts = _cut(_rec(codes, lower=lower), cfg)
    assert out[0].starts.tolist() == [0, 20, 30]
    assert counts["train"].dropped_n_windows == 1
    assert out[0].repeat_frac.tolist() == [0.5, 0.0, 0.0]
    out, counts = _cut(
        _rec(codes), WindowConfig(window=10, stride=10, val_fraction=0.0, max_n_frac=0.1)
    )
    assert out[0].starts.tolist() == [0, 10, 20, 30] and counts["train"].n_bases == 1


def test_uncovered_tail_counted() -> None:
    _, counts = _cut(_rec(np.zeros(105)), WindowConfig(window=10, stride=10, val_fraction=0.0))
    assert counts["train"].uncovered_bases == 5


@pytest.mark.parametrize(
    "kw", [{"window": 4}, {"stride": 0}, {"val_fraction": 1.0}, {"max_n_frac": -0.1}]
)
def test_bad_window_config(kw: dict) -> None:
    with pytest.raises(ValueError):
        WindowConfig(**kw)
