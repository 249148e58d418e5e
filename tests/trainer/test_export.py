"""Exporting a run someone else made: no code from its checkpoint runs, errors are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from tests.trainer.runs import ROOT, env
from trainer.checkpoint import CheckpointError
from trainer.config import TrainConfig
from trainer.export import ExportError, export_run
from trainer.run_record import ResolvedRun, RunData


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted_run(run: Path, marker: Path) -> Path:
    """A ZeRO-0 run directory whose model states pickle runs code when loaded unrestricted."""
    (run / "checkpoints" / "step_00000002").mkdir(parents=True)
    ResolvedRun(
        train=TrainConfig(ds_config=ROOT / "ds_configs" / "zero0.json", data="d/char", out=run),
        world_size=1,
        max_len=10,
        data=RunData("char", 10, "char", 1, 8, 8, "0" * 64, "0" * 64),
        val_masking={},
        model={},
        ds_config={"zero_optimization": {}},
    ).write(run / "config.json")
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


def test_model_card_states_the_kmer_overlap_input_format(tmp_path: Path) -> None:
    """The card's own snippet, run against the saved tokenizer, gives dnapt's token ids; raw DNA
    gives the single [UNK] the card warns about."""
    import re

    import numpy as np
    from transformers import AutoTokenizer

    from data_prep.vocab import build_vocab
    from trainer.export import model_card

    vocab = build_vocab("kmer6-overlap", 64)
    vocab.tokenizer.save_pretrained(tmp_path)
    card = model_card("kmer6-overlap", "kmer-overlap", 6, "step_00000002")
    assert "not raw DNA" in card and "single `[UNK]`" in card
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    scope: dict = {"tokenizer": AutoTokenizer.from_pretrained(tmp_path)}
    exec(code.replace('"ACGTACGTAC"', '"ACGTTGCAAGCT"'), scope)
    assert scope["ids"][1:-1] == vocab.encode("ACGTTGCAAGCT").tolist()
    raw = scope["tokenizer"]("ACGTTGCAAGCT")["input_ids"]
    assert raw == [2, 1, 3] and np.all(np.asarray(scope["ids"]) != 1)
    assert "the DNA sequence itself" in model_card("char", "char", 1, "step_00000002")
