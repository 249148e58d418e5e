"""The batched MDS encoder must produce exactly MDSWriter's bytes (guards the pinned internals)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep.writers import MdsSink, read_samples


@pytest.mark.parametrize("dtype, n", [(np.uint16, 1024), (np.uint16, 7), (np.int32, 300)])
def test_fast_encoding_equals_mdswriter(tmp_path: Path, dtype, n: int) -> None:
    sink = MdsSink(tmp_path / "s", np.dtype(dtype))
    ids = np.random.default_rng(n).integers(0, 5000, n).astype(dtype)
    sample = {
        "input_ids": ids,
        "record": "chrII",
        "start": 123456789012,
        "repeat_frac": np.float32(0.25),
    }
    assert sink.encode(ids, b"chrII", 123456789012, 0.25) == sink._w.encode_sample(sample)
    sink.write_many(
        [ids, ids[: n // 2 + 1]], "chrII", np.array([5, 9]), np.array([0.5, 0.0], np.float32)
    )
    sink.finish()
    back = list(read_samples(tmp_path / "s"))
    assert [s["start"] for s in back] == [5, 9] and back[0]["record"] == "chrII"
    assert np.array_equal(back[1]["input_ids"], ids[: n // 2 + 1]) and back[0]["repeat_frac"] == 0.5


class _Payload:
    """Pickles to a call that creates ``marker``: what a crafted ``pkl`` column would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_columns_are_refused_without_running_them(tmp_path: Path) -> None:
    from streaming import MDSWriter

    from data_prep.writers import ShardFormatError

    marker = tmp_path / "pwned"
    split = tmp_path / "crafted" / "train"
    cols = {
        "input_ids": "ndarray:uint16",
        "record": "pkl",
        "start": "int",
        "repeat_frac": "float32",
    }
    with MDSWriter(out=str(split), columns=cols, compression="zstd") as w:
        ids = np.arange(4, dtype=np.uint16)
        w.write({"input_ids": ids, "record": _Payload(marker), "start": 0, "repeat_frac": 0.0})
    assert not marker.exists()
    with pytest.raises(ShardFormatError, match="index.json: shard 0: columns .* refusing"):
        list(read_samples(split))
    assert not marker.exists()


def test_shard_names_in_the_index_must_be_plain(tmp_path: Path) -> None:
    import json

    from data_prep.writers import ShardFormatError

    sink = MdsSink(tmp_path / "s", np.dtype(np.uint16))
    sink.write_many([np.arange(3)], "r", np.array([0]), np.array([0.0], np.float32))
    sink.finish()
    index_path = tmp_path / "s" / "index.json"
    index = json.loads(index_path.read_text())
    index["shards"][0]["zip_data"]["basename"] = "../../etc/passwd"
    index_path.write_text(json.dumps(index))
    with pytest.raises(ShardFormatError, match="'../../etc/passwd' is not a plain file name"):
        list(read_samples(tmp_path / "s"))


def test_truncated_shard_is_one_error(tmp_path: Path) -> None:
    from data_prep.writers import ShardFormatError

    sink = MdsSink(tmp_path / "s", np.dtype(np.uint16))
    sink.write_many([np.arange(300)] * 50, "r", np.arange(50), np.zeros(50, np.float32))
    sink.finish()
    shard = next((tmp_path / "s").glob("*.zstd"))
    shard.write_bytes(shard.read_bytes()[:20])
    with pytest.raises(ShardFormatError, match="unreadable MDS shard"):
        list(read_samples(tmp_path / "s"))


@pytest.mark.parametrize("width", [64, -1])
def test_packed_writer_equals_mdswriter_write(tmp_path: Path, width: int) -> None:
    """write_packed (array-at-once for equal-length rows, per row otherwise) writes the same
    shard files as MDSWriter.write sample by sample, across several shard boundaries."""
    from streaming import MDSWriter

    from data_prep.vocab import Packed
    from data_prep.writers import columns

    rng = np.random.default_rng(3)
    n = 300
    lengths = np.full(n, 64) if width > 0 else rng.integers(1, 90, n)
    rows = [rng.integers(0, 4101, size).astype(np.uint16) for size in lengths]
    packed = Packed.fixed(np.stack(rows)) if width > 0 else Packed.from_rows(rows, np.uint16)
    starts = rng.integers(0, 10**9, n)
    rep = rng.random(n).astype(np.float32)

    # a small size limit gives many shards: the size bookkeeping must match too
    sink = MdsSink(tmp_path / "fast", np.dtype(np.uint16), size_limit=4096)
    for lo in range(0, n, 128):
        sl = slice(lo, lo + 128)
        part = Packed.from_rows(rows[sl], np.uint16)
        if width > 0:
            part = Packed.fixed(np.stack(rows[sl]))
        sink.write_packed(part, "chrIV", starts[sl], rep[sl])
    sink.finish()
    assert len(packed) == n

    ref = MDSWriter(
        out=str(tmp_path / "ref"),
        columns=columns(np.dtype(np.uint16)),
        compression="zstd",
        hashes=["sha256"],
        size_limit=4096,
    )
    for row, start, r in zip(rows, starts, rep, strict=True):
        ref.write({"input_ids": row, "record": "chrIV", "start": int(start), "repeat_frac": r})
    ref.finish()
    names = sorted(p.name for p in (tmp_path / "ref").iterdir())
    assert len(names) > 3
    assert names == sorted(p.name for p in (tmp_path / "fast").iterdir())
    for name in names:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
