"""Sample sinks and readers for the two on-disk formats: MDS (default) and webdataset tar.

MDS (mosaicml-streaming) is the format the trainer streams: zstd-compressed shards with sha256
hashes and resumable, rank-disjoint reads. The webdataset variant writes the same samples as tar
shards with zstd-compressed members for pipelines built on webdataset; tar headers carry fixed
metadata (mtime 0, uid 0) so the bytes are deterministic.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

SHARD_BYTES = 64 * 1024 * 1024
WDS_SAMPLES_PER_SHARD = 8192


def columns(dtype: np.dtype) -> dict[str, str]:
    """MDS column encodings; ``input_ids`` is uint16 when the vocabulary fits, else int32."""
    return {
        "input_ids": f"ndarray:{np.dtype(dtype).name}",
        "record": "str",
        "start": "int",
        "repeat_frac": "float32",
    }


class MdsSink:
    """Writes samples to an MDS directory (zstd, sha256 hashes)."""

    def __init__(self, out: Path, dtype: np.dtype) -> None:
        from streaming import MDSWriter

        self.dtype = np.dtype(dtype)
        self._w = MDSWriter(
            out=str(out),
            columns=columns(self.dtype),
            compression="zstd",
            hashes=["sha256"],
            size_limit=SHARD_BYTES,
        )

    def write(self, ids: np.ndarray, record: str, start: int, repeat_frac: float) -> None:
        self._w.write(
            {
                "input_ids": ids.astype(self.dtype, copy=False),
                "record": record,
                "start": int(start),
                "repeat_frac": np.float32(repeat_frac),
            }
        )

    def finish(self) -> None:
        self._w.finish()


class WdsSink:
    """Writes samples as webdataset tar shards: ``KEY.input_ids.npy.zst`` + ``KEY.meta.json.zst``."""

    def __init__(self, out: Path, dtype: np.dtype) -> None:
        self.out, self.dtype = out, np.dtype(dtype)
        out.mkdir(parents=True, exist_ok=True)
        self._zstd = zstandard.ZstdCompressor(level=3)
        self._n = 0
        self._tar: tarfile.TarFile | None = None

    def _member(self, name: str, payload: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(payload), 0, 0o644
        assert self._tar is not None
        self._tar.addfile(info, io.BytesIO(payload))

    def write(self, ids: np.ndarray, record: str, start: int, repeat_frac: float) -> None:
        if self._n % WDS_SAMPLES_PER_SHARD == 0:
            self.finish()
            path = self.out / f"shard-{self._n // WDS_SAMPLES_PER_SHARD:06d}.tar"
            # closed in finish(): one tar stays open across many write() calls
            self._tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        buf = io.BytesIO()
        np.save(buf, ids.astype(self.dtype, copy=False), allow_pickle=False)
        meta = {"record": record, "start": int(start), "repeat_frac": float(repeat_frac)}
        key = f"{self._n:010d}"
        self._member(f"{key}.input_ids.npy.zst", self._zstd.compress(buf.getvalue()))
        self._member(f"{key}.meta.json.zst", self._zstd.compress(json.dumps(meta).encode()))
        self._n += 1

    def finish(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def make_sink(fmt: str, out: Path, dtype: np.dtype) -> MdsSink | WdsSink:
    return MdsSink(out, dtype) if fmt == "mds" else WdsSink(out, dtype)


def _decode_wds(sample: dict[str, Any]) -> dict[str, Any]:
    dz = zstandard.ZstdDecompressor()
    ids = np.load(io.BytesIO(dz.decompress(sample["input_ids.npy.zst"])), allow_pickle=False)
    meta = json.loads(dz.decompress(sample["meta.json.zst"]))
    return {"input_ids": ids, **meta}


def _read_mds(split_dir: Path) -> Iterator[dict[str, Any]]:
    """Decode MDS shards in memory (zstd), with streaming's own sample decoder, no cache dir."""
    from streaming.base.format.mds.reader import MDSReader

    index = json.loads((split_dir / "index.json").read_text())
    dz = zstandard.ZstdDecompressor()
    for obj in index["shards"]:
        reader = MDSReader.from_json(str(split_dir), None, obj)
        zipped = obj.get("zip_data")
        raw_path = split_dir / (zipped or obj["raw_data"])["basename"]
        raw = raw_path.read_bytes()
        if zipped:
            raw = dz.decompress(raw, max_output_size=obj["raw_data"]["bytes"])
        offsets = np.frombuffer(raw, np.uint32, count=obj["samples"] + 1, offset=4)
        for begin, end in zip(offsets[:-1], offsets[1:], strict=True):
            yield reader.decode_sample(raw[begin:end])


def read_split(split_dir: str | Path, fmt: str = "mds") -> Iterator[dict[str, Any]]:
    """Every sample of one vocab/split directory, in write order, for either format."""
    split_dir = Path(split_dir)
    if fmt == "mds":
        yield from _read_mds(split_dir)
        return
    import webdataset as wds

    urls = [str(p) for p in sorted(split_dir.glob("shard-*.tar"))]
    if not urls:
        return
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        yield _decode_wds(sample)
