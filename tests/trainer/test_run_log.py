"""metrics.jsonl: records after a resumed checkpoint are dropped, non-finite values are null."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.run_log import MetricsWriter, truncate_after


def test_truncate_after_drops_later_steps_and_cut_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"kind": "train", "step": s}) for s in (1, 2, 3, 4)]
    path.write_text("\n".join(lines) + '\n{"kind": "tr')
    truncate_after(path, 2)
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1, 2]


def test_writer_appends_jsonl_and_tensorboard(tmp_path: Path) -> None:
    w = MetricsWriter(tmp_path, max_steps=10, start_step=0)
    w.write(
        "train",
        1,
        {"loss": 2.0, "accuracy": 0.5, "lr": 1e-3, "tokens_per_s": 10.0, "grad_norm": None},
    )
    w.write("val", 1, {"val_loss": float("nan"), "val_labelled_tokens": 3})
    w.close()
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert recs[0]["kind"] == "train" and recs[0]["loss"] == 2.0 and recs[0]["grad_norm"] is None
    assert (
        recs[0]["schema_version"] == 1 and recs[0]["samples_per_s"] is None
    )  # every field, null if unset
    assert recs[1]["val_loss"] is None and recs[1]["val_labelled_tokens"] == 3
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
