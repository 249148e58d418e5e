"""Load a DeepSpeed JSON and fill in its ``"auto"`` values from the run and the hardware.

The JSON owns engine settings; a few of them depend on things only known at launch: the schedule
length (``--max-steps``), whether bf16 pays off on this hardware, whether DeepSpeed's fused Adam
can be used (on CPU it would JIT-compile for about a minute; torch's AdamW is used instead) and
whether overlapping communication with compute helps (GPU streams; on CPU it only costs, measured
~5% of a bert-tiny ZeRO-2 step).
Any other ``"auto"`` is an error rather than a silent guess.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import torch

from trainer.config import ConfigError

WARMUP_SHARE = 0.06  # warmup_num_steps "auto": 6% of the run, as in RoBERTa
MIN_WARMUP = 2  # DeepSpeed's WarmupLR raises anything lower to 2


def on_gpu() -> bool:
    return torch.cuda.is_available()


def bf16_pays_off() -> bool:
    """bf16 on GPUs that support it. On CPU only with native bf16 (AVX512-BF16/AMX): without it
    bf16 matmuls are emulated, slower than fp32 (measured, see docs/training.md)."""
    if on_gpu():
        return torch.cuda.is_bf16_supported()
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def load_ds_config(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--ds_config {path}: no such file (see ds_configs/)") from None
    except IsADirectoryError:
        raise ConfigError(
            f"--ds_config {path}: is a directory; name one JSON file in it, e.g. "
            "ds_configs/zero2.json"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--ds_config {path}: unreadable ({e})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--ds_config {path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"--ds_config {path}: must be a JSON object")
    return cfg


def _int_at(cfg: dict, key: str, path: Path) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"--ds_config {path}: '{key}' must be a positive integer, got {value!r}")
    return value


def _find_auto(node: Any, where: str = "") -> list[str]:
    if node == "auto":
        return [where]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _find_auto(v, f"{where}.{k}" if where else k)]
    return []


def resolve_ds_config(raw: dict[str, Any], path: Path, max_steps: int) -> dict[str, Any]:
    """A copy of ``raw`` with every supported ``"auto"`` resolved; errors name the key."""
    cfg = copy.deepcopy(raw)
    _int_at(cfg, "train_micro_batch_size_per_gpu", path)
    _int_at(cfg, "gradient_accumulation_steps", path)
    if "train_batch_size" in cfg:
        raise ConfigError(
            f"--ds_config {path}: remove train_batch_size; it is micro batch x accumulation x ranks"
        )
    stage = cfg.get("zero_optimization", {}).get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"--ds_config {path}: zero_optimization.stage must be 0-3, got {stage}")

    bf16 = cfg.get("bf16", {})
    if bf16.get("enabled") == "auto":
        bf16["enabled"] = bf16_pays_off()
    zero = cfg.get("zero_optimization", {})
    if zero.get("overlap_comm") == "auto":
        zero["overlap_comm"] = on_gpu()
    opt = cfg.get("optimizer", {}).get("params", {})
    if opt.get("torch_adam") == "auto":
        opt["torch_adam"] = not on_gpu()
    sched = cfg.get("scheduler", {}).get("params", {})
    raw_sched = raw.get("scheduler", {}).get("params", {})
    if sched.get("total_num_steps") == "auto":
        sched["total_num_steps"] = max_steps
    if sched.get("warmup_num_steps") == "auto":
        sched["warmup_num_steps"] = max(MIN_WARMUP, math.ceil(WARMUP_SHARE * max_steps))
    warmup, total = raw_sched.get("warmup_num_steps"), sched.get("total_num_steps")
    if isinstance(warmup, int) and isinstance(total, int) and warmup >= total:
        raise ConfigError(
            f"--ds_config {path}: scheduler warmup_num_steps {warmup} must be below "
            f'total_num_steps {total} (use "auto" to derive both from --max-steps)'
        )
    left = _find_auto(cfg)
    if left:
        raise ConfigError(
            f"--ds_config {path}: 'auto' is not supported for {', '.join(left)}: set a value"
        )
    return cfg
