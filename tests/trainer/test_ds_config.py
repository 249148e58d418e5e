"""DeepSpeed JSON resolution: 'auto' values filled from the run, anything else rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer.config import ConfigError
from trainer.ds_config import MIN_WARMUP, load_ds_config, resolve_ds_config

CONFIGS = Path(__file__).resolve().parents[2] / "ds_configs"


@pytest.mark.parametrize("name", ["zero0", "zero1", "zero2", "zero3", "zero3-offload"])
def test_shipped_configs_resolve(name: str) -> None:
    path = CONFIGS / f"{name}.json"
    cfg = resolve_ds_config(load_ds_config(path), path, max_steps=1000)
    assert cfg["scheduler"]["params"]["total_num_steps"] == 1000
    assert cfg["scheduler"]["params"]["warmup_num_steps"] == 60
    assert isinstance(cfg["bf16"]["enabled"], bool)
    assert cfg["gradient_clipping"] > 0 and cfg["gradient_accumulation_steps"] >= 1
    stage = cfg["zero_optimization"]["stage"]
    assert stage == (3 if name.startswith("zero3") else int(name[-1]))
    if name == "zero3-offload":
        assert cfg["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    else:  # CPU: torch's AdamW, never a FusedAdam JIT build
        assert cfg["optimizer"]["params"]["torch_adam"] is True
    if stage >= 2:  # overlap needs GPU streams; on CPU it only costs
        assert cfg["zero_optimization"]["overlap_comm"] is torch.cuda.is_available()


def test_bf16_auto_is_off_on_a_cpu_without_native_bf16() -> None:
    path = CONFIGS / "zero2.json"
    cfg = resolve_ds_config(load_ds_config(path), path, max_steps=10)
    if not torch.cuda.is_available() and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert cfg["bf16"]["enabled"] is False


def test_short_runs_get_deepspeeds_minimum_warmup() -> None:
    path = CONFIGS / "zero2.json"
    cfg = resolve_ds_config(load_ds_config(path), path, max_steps=5)
    assert cfg["scheduler"]["params"]["warmup_num_steps"] == MIN_WARMUP


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(cfg))
    return path


def test_errors_name_the_key(tmp_path: Path) -> None:
    base = json.loads((CONFIGS / "zero2.json").read_text())
    bad = dict(base, train_batch_size=64)
    with pytest.raises(ConfigError, match="train_batch_size"):
        resolve_ds_config(bad, _write(tmp_path, bad), 10)
    bad = dict(base, gradient_clipping="auto")
    with pytest.raises(ConfigError, match="gradient_clipping"):
        resolve_ds_config(bad, _write(tmp_path, bad), 10)
    bad = dict(base, train_micro_batch_size_per_gpu=0)
    with pytest.raises(ConfigError, match="train_micro_batch_size_per_gpu"):
        resolve_ds_config(bad, _write(tmp_path, bad), 10)
    bad = json.loads(json.dumps(base))
    bad["scheduler"]["params"]["warmup_num_steps"] = 50
    with pytest.raises(ConfigError, match="warmup_num_steps 50"):
        resolve_ds_config(bad, _write(tmp_path, bad), 10)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_ds_config(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_ds_config(tmp_path / "x.json")
