"""Exporting a run someone else made: no code from its checkpoint runs, errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from tests.trainer.runs import ROOT, env
from trainer.checkpoint import CheckpointError
from trainer.export import ExportError, export_run


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted_run(run: Path, marker: Path) -> Path:
    """A ZeRO-0 run directory whose model states pickle runs code when loaded unrestricted."""
    (run / "checkpoints" / "step_00000002").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"ds_config": {"zero_optimization": {}}}))
    BertConfig(
        vocab_size=10,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
    ).save_pretrained(run / "model")
    torch.save(
        {"module": _Payload(marker)}, run / "checkpoints/step_00000002/mp_rank_00_model_states.pt"
    )
    (run / "checkpoints" / "latest").write_text("step_00000002")
    return run


def test_crafted_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = _crafted_run(tmp_path / "run", marker)
    with pytest.raises(CheckpointError, match="mp_rank_00_model_states.pt: refused"):
        export_run(run)
    assert not marker.exists() and not (run / "hf").exists()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "trainer" / "export.py"), str(run)],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("export: error: ") and "refused" in line
    assert not marker.exists()


def test_out_that_is_a_file_is_refused_before_loading(tmp_path: Path) -> None:
    run = _crafted_run(tmp_path / "run", tmp_path / "pwned")
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(ExportError, match="taken is an existing file"):
        export_run(run, out=tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "mine"


def test_latest_pointing_outside_the_run_is_refused(tmp_path: Path) -> None:
    run = _crafted_run(tmp_path / "run", tmp_path / "pwned")
    (run / "checkpoints" / "latest").write_text("../../elsewhere")
    with pytest.raises(CheckpointError, match="not a checkpoint tag"):
        export_run(run)
