"""The shard format: MDS (mosaicml-streaming) sinks and a checked reader.

MDS is what the trainer streams: zstd-compressed shards with sha256 hashes and resumable,
rank-disjoint reads. It is the only format: a webdataset writer existed, but nothing in the
pipeline read it, and webdataset cannot resume mid-epoch exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from data_prep.paths import UnsafePathError, plain_name
from data_prep.vocab import Packed

SHARD_BYTES = 64 * 1024 * 1024


def columns(dtype: np.dtype) -> dict[str, str]:
    """MDS column encodings; ``input_ids`` is uint16 when the vocabulary fits, else int32."""
    return {
        "input_ids": f"ndarray:{np.dtype(dtype).name}",
        "record": "str",
        "start": "int",
        "repeat_frac": "float32",
    }


class MdsSink:
    """Writes samples to an MDS directory (zstd, sha256 hashes) with mosaicml-streaming's writer.

    ``write_packed`` encodes a batch of samples of one record without MDSWriter's generic
    per-column encoder (the sharder's hot spot): it builds the same bytes from cached
    array-header prefixes, a whole batch of equal-length samples at once.
    ``tests/data_prep/test_writers.py`` checks the bytes equal ``MDSWriter.encode_sample`` and the
    shard files equal ``MDSWriter.write``'s; the pinned streaming version keeps the private fields
    stable.
    """

    def __init__(self, out: Path, dtype: np.dtype, size_limit: int = SHARD_BYTES) -> None:
        from streaming import MDSWriter

        self.dtype = np.dtype(dtype)
        self._enc = f"ndarray:{self.dtype.name}"
        self._prefix: dict[int, bytes] = {}
        self._w = MDSWriter(
            out=str(out),
            columns=columns(self.dtype),
            compression="zstd",
            hashes=["sha256"],
            size_limit=size_limit,
        )

    def encode(self, ids: np.ndarray, record: bytes, start: int, repeat_frac: float) -> bytes:
        """One sample's MDS bytes: column sizes, then input_ids, record, repeat_frac, start."""
        arr = ids.astype(self.dtype, copy=False)
        prefix = self._prefix_for(arr.size)
        head = np.array([len(prefix) + arr.nbytes, len(record)], np.uint32).tobytes()
        tail = np.float32(repeat_frac).tobytes() + np.int64(start).tobytes()
        return b"".join((head, prefix, arr.tobytes(), record, tail))

    def write_many(
        self, ids: list[np.ndarray], record: str, starts: np.ndarray, repeat_frac: np.ndarray
    ) -> None:
        self.write_packed(Packed.from_rows(ids, self.dtype), record, starts, repeat_frac)

    def write_packed(
        self, packed: Packed, record: str, starts: np.ndarray, repeat_frac: np.ndarray
    ) -> None:
        """Write one record's batch of samples; equal-length rows are encoded as one array.

        The bytes of every sample are laid out side by side in an ``[n, sample_bytes]`` buffer
        (constant header, id bytes, record name, float32, int64) with a few column assignments,
        then cut into per-sample ``bytes``: the same bytes as ``encode``, without per-sample
        numpy calls.
        """
        rec = record.encode()
        n = len(packed)
        if packed.width < 0 or n == 0:
            rows = zip(packed.rows(), starts, repeat_frac, strict=True)
            self._append([self.encode(r, rec, s, f) for r, s, f in rows])
            return
        ids = packed.ids.astype(self.dtype, copy=False).reshape(n, packed.width)
        prefix = self._prefix_for(packed.width)
        id_bytes = ids.nbytes // n
        head = np.array([len(prefix) + id_bytes, len(rec)], "<u4").tobytes() + prefix
        cols = [head, id_bytes, rec, 4, 8]
        size = sum(c if isinstance(c, int) else len(c) for c in cols)
        buf = np.empty((n, size), np.uint8)
        at = 0
        for col, val in zip(
            cols, [None, ids, None, repeat_frac.astype("<f4"), starts.astype("<i8")], strict=True
        ):
            width = col if isinstance(col, int) else len(col)
            if val is None:
                buf[:, at : at + width] = np.frombuffer(col, np.uint8)
            else:
                buf[:, at : at + width] = val.reshape(n, -1).view(np.uint8)
            at += width
        # memoryview slices, no copies: MDSWriter only takes len() and b"".join() of a sample
        flat = memoryview(buf.reshape(-1))
        self._append([flat[i : i + size] for i in range(0, n * size, size)])

    def _prefix_for(self, size: int) -> bytes:
        """MDS's ndarray header for ``size`` ids (cached: it depends only on the length)."""
        from streaming.base.format.mds.encodings import mds_encode

        prefix = self._prefix.get(size)
        if prefix is None:
            empty = np.zeros(size, self.dtype)
            prefix = mds_encode(self._enc, empty)[: -empty.nbytes]
            self._prefix[size] = prefix
        return prefix

    def _append(self, samples: list[bytes] | list[memoryview]) -> None:
        """MDSWriter.write's shard-size bookkeeping for already-encoded samples."""
        w = self._w
        for sample in samples:
            size = len(sample) + w.extra_bytes_per_sample
            if w.size_limit and w.size_limit < w.new_shard_size + size:
                w.flush_shard()
                w._reset_cache()
            w.new_samples.append(sample)
            w.new_shard_size += size

    def finish(self) -> None:
        self._w.finish()


def make_sink(out: Path, dtype: np.dtype) -> MdsSink:
    return MdsSink(out, dtype)


class ShardFormatError(ValueError):
    """An MDS index dnapt did not write (or that was edited); the message names the file."""


# What dnapt writes, and so all it reads: streaming decodes columns as the index declares them,
# and its ``pkl`` (and ``json``-to-object) encodings would run code from a crafted shard.
_INPUT_IDS_ENCODINGS = ("ndarray:uint16", "ndarray:int32")


def load_mds_index(path: Path) -> dict[str, Any]:
    """Read and check one split's ``index.json``: dnapt's columns only, plain shard file names.

    Every reader of dnapt shards (verify, the vocabulary report, the trainer) goes through this
    before streaming sees the index, so no column type or shard path from the file is trusted.
    """
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise ShardFormatError(f"{path}: missing; the shard directory is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ShardFormatError(f"{path}: not a readable MDS index ({e}); re-shard") from None
    shards = index.get("shards") if isinstance(index, dict) else None
    if not isinstance(shards, list):
        raise ShardFormatError(f"{path}: not an MDS index (no 'shards' list); re-shard")
    for i, obj in enumerate(shards):
        where = f"{path}: shard {i}"
        if not isinstance(obj, dict) or obj.get("format") != "mds":
            raise ShardFormatError(f"{where}: not an MDS shard entry; re-shard")
        enc = dict(zip(obj.get("column_names", []), obj.get("column_encodings", []), strict=False))
        want = {"record": "str", "start": "int", "repeat_frac": "float32"}
        ok = enc.get("input_ids") in _INPUT_IDS_ENCODINGS and len(enc) == len(want) + 1
        if not ok or any(enc.get(k) != v for k, v in want.items()):
            raise ShardFormatError(
                f"{where}: columns {enc} are not the ones dnapt writes (input_ids as "
                f"{' or '.join(_INPUT_IDS_ENCODINGS)}, record str, start int, repeat_frac "
                "float32); refusing to decode them (another column type could run code)"
            )
        if obj.get("compression") not in (None, "zstd"):
            raise ShardFormatError(f"{where}: compression {obj.get('compression')!r} is not zstd")
        for part in ("raw_data", "zip_data"):
            if part == "raw_data" or obj.get(part) is not None:
                entry = obj.get(part)
                try:
                    plain_name(entry.get("basename") if isinstance(entry, dict) else None, where)
                except UnsafePathError as e:
                    raise ShardFormatError(str(e)) from None
    return index


def _read_mds(split_dir: Path) -> Iterator[dict[str, Any]]:
    """Decode MDS shards in memory (zstd), with streaming's own sample decoder, no cache dir."""
    from streaming.base.format.mds.reader import MDSReader

    index = load_mds_index(split_dir / "index.json")
    dz = zstandard.ZstdDecompressor()
    for obj in index["shards"]:
        reader = MDSReader.from_json(str(split_dir), None, obj)
        zipped = obj.get("zip_data")
        raw_path = split_dir / (zipped or obj["raw_data"])["basename"]
        try:
            raw = raw_path.read_bytes()
            if zipped:
                raw = dz.decompress(raw, max_output_size=obj["raw_data"]["bytes"])
            offsets = np.frombuffer(raw, np.uint32, count=obj["samples"] + 1, offset=4)
        except (OSError, zstandard.ZstdError, ValueError, KeyError, TypeError) as e:
            raise ShardFormatError(f"{raw_path}: unreadable MDS shard ({e}); re-shard") from None
        for begin, end in zip(offsets[:-1], offsets[1:], strict=True):
            yield reader.decode_sample(raw[begin:end])


def read_samples(split_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every sample of one vocab/split directory, in write order."""
    yield from _read_mds(Path(split_dir))
