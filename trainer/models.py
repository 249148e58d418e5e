"""Model presets as plain ``transformers`` configs, so every checkpoint is Hugging Face-native.

A preset fixes the architecture only. The vocabulary size, the max length and the special-token
ids always come from the shard directory: two runs over the same windows with two vocabularies
differ only in their vocabulary, and nobody can type a vocabulary size that disagrees with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForMaskedLM, PretrainedConfig, PreTrainedModel

from data_prep.vocab import CLS_ID, PAD_ID, SEP_ID
from trainer.config import ConfigError

# Architecture only; vocab_size / max_position_embeddings / token ids are filled in from the data.
PRESETS: dict[str, dict[str, Any]] = {
    # CI-sized: 2 layers, hidden 64.
    "bert-tiny": {
        "model_type": "bert",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 256,
    },
    # The findings recipe's model: learns the copy shortcut within 2,000 CPU steps.
    "bert-2x128": {
        "model_type": "bert",
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 512,
    },
    "bert-small": {
        "model_type": "bert",
        "hidden_size": 512,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
    },
    # DNABERT scale (BERT-base).
    "bert-base": {
        "model_type": "bert",
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
    # ModernBERT: RoPE (no learned absolute positions), local/global attention, GeGLU.
    "modernbert-tiny": {
        "model_type": "modernbert",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "global_attn_every_n_layers": 2,
        "local_attention": 64,
    },
    "modernbert-small": {
        "model_type": "modernbert",
        "hidden_size": 512,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "intermediate_size": 768,
    },
    "modernbert-base": {
        "model_type": "modernbert",
        "hidden_size": 768,
        "num_hidden_layers": 22,
        "num_attention_heads": 12,
        "intermediate_size": 1152,
    },
}

# Set from the data, so a config file that sets them to something else is an error.
DATA_KEYS = ("vocab_size", "max_position_embeddings")


def _preset_dict(model: str) -> dict[str, Any]:
    if model in PRESETS:
        return dict(PRESETS[model])
    path = Path(model)
    if model.endswith(".json") or path.is_file():
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"--model {model}: no such file") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"--model {model}: not valid JSON ({e})") from None
        if not isinstance(d, dict) or "model_type" not in d:
            raise ConfigError(f"--model {model}: a model config JSON needs a 'model_type' key")
        return d
    raise ConfigError(
        f"--model {model}: unknown preset; use one of {', '.join(PRESETS)} or a config JSON path"
    )


def model_config(model: str, vocab_size: int, max_len: int) -> PretrainedConfig:
    """The ``transformers`` config for ``--model`` on a vocabulary of ``vocab_size`` tokens."""
    d = _preset_dict(model)
    for key, value in (("vocab_size", vocab_size), ("max_position_embeddings", max_len)):
        if key in d and d[key] != value:
            raise ConfigError(
                f"--model {model}: remove {key}={d[key]}: it comes from the shard directory "
                f"({value})"
            )
    model_type = d.pop("model_type")
    d.update(vocab_size=vocab_size, max_position_embeddings=max_len, pad_token_id=PAD_ID)
    if model_type == "modernbert":
        # No torch.compile of the reference path: it is not deterministic and JIT-compiles per run.
        d.update(
            cls_token_id=CLS_ID,
            sep_token_id=SEP_ID,
            bos_token_id=CLS_ID,
            eos_token_id=SEP_ID,
            reference_compile=False,
        )
    try:
        config = AutoConfig.for_model(model_type, **d)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--model {model}: {e}") from None
    if type(config) not in AutoModelForMaskedLM._model_mapping:
        raise ConfigError(f"--model {model}: model_type '{model_type}' has no masked-LM head")
    return config


def build_model(config: PretrainedConfig) -> PreTrainedModel:
    """A freshly initialised masked-LM (seed torch first: init must be identical on all ranks)."""
    return AutoModelForMaskedLM.from_config(config)
