"""Model presets: architecture from the preset, vocabulary and length from the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer.config import ConfigError
from trainer.models import PRESETS, build_model, model_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_take_vocab_and_length_from_the_data(name: str) -> None:
    cfg = model_config(name, vocab_size=4101, max_len=125)
    assert cfg.vocab_size == 4101 and cfg.max_position_embeddings == 125
    assert cfg.pad_token_id == 0


@pytest.mark.parametrize("name", ["bert-tiny", "modernbert-tiny"])
def test_tiny_presets_run_a_masked_lm_forward(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(model_config(name, vocab_size=10, max_len=34))
    ids = torch.randint(5, 10, (2, 34))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    logits = model(input_ids=ids, attention_mask=mask).logits
    assert logits.shape == (2, 34, 10) and torch.isfinite(logits).all()


def test_bert_tiny_is_ci_sized() -> None:
    cfg = model_config("bert-tiny", 10, 130)
    assert cfg.num_hidden_layers == 2 and cfg.hidden_size == 64


def test_json_config_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            {
                "model_type": "bert",
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 64,
            }
        )
    )
    cfg = model_config(str(path), 10, 130)
    assert cfg.hidden_size == 32 and cfg.vocab_size == 10


def test_json_config_may_not_type_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"model_type": "bert", "vocab_size": 30522}))
    with pytest.raises(ConfigError, match="remove vocab_size=30522"):
        model_config(str(path), 10, 130)


def test_unknown_preset_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset.*bert-tiny"):
        model_config("bert-huge", 10, 130)
    with pytest.raises(ConfigError, match="no such file"):
        model_config(str(tmp_path / "missing.json"), 10, 130)
    (tmp_path / "x.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ConfigError, match="model_type"):
        model_config(str(tmp_path / "x.json"), 10, 130)
    (tmp_path / "y.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ConfigError, match="no masked-LM head"):
        model_config(str(tmp_path / "y.json"), 10, 130)
