"""The batched MDS encoder must produce exactly MDSWriter's bytes (guards the pinned internals)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep.writers import MdsSink, read_split


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
    back = list(read_split(tmp_path / "s"))
    assert [s["start"] for s in back] == [5, 9] and back[0]["record"] == "chrII"
    assert np.array_equal(back[1]["input_ids"], ids[: n // 2 + 1]) and back[0]["repeat_frac"] == 0.5
