"""Trainer throughput: the dnapt DeepSpeed step against a bare PyTorch loop, and the data path.

    python bench/train_bench.py --data DIR/<vocab> [--model bert-tiny] [--steps 20] [--trials 3]

In one process, on the same model initialisation and the same pre-collated batches:
(a) the trainer's own micro-step (``trainer.step.train_micro_step``) under DeepSpeed ZeRO-2, and
(b) a bare PyTorch loop with the same optimizer (torch AdamW), clipping and LR schedule, and
(c) that loop with the LM head over every position (full logits) instead of only the labelled
ones, reported as the masked-only head's speed-up (``masked_head_speedup``).
Steps of (a) and (b) are timed interleaved and the median over trials is reported, because shared
machines are noisy.
It also measures the loader alone (StreamingDataLoader + collation + masking in workers) and the
masking strategy's share of collation time, and on a GPU the model FLOPs utilisation (MFU).
Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnapt.cli import command_parser, option, parse_config
from trainer.data import (
    MlmCollator,
    TrainStream,
    build_train_loader,
    encode_windows,
    set_streaming_local_world_size,
)
from trainer.ds_config import load_ds_config, resolve_ds_config
from trainer.masking import MaskingConfig, build_masker
from trainer.models import build_model, model_config
from trainer.process_group import init_distributed
from trainer.shards import open_shards
from trainer.step import batch_to, mlm_forward, train_micro_step

ROOT = Path(__file__).resolve().parent.parent
# Dense bf16 peak FLOP/s by device-name fragment (datasheet values, no sparsity).
PEAK_BF16 = {
    "H100 SXM": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
}


def emit(**record: Any) -> None:
    print(json.dumps(record), flush=True)


def ds_config(args: TrainBenchConfig, total_steps: int) -> dict[str, Any]:
    path = args.ds_config
    raw = load_ds_config(path)
    raw["train_micro_batch_size_per_gpu"] = args.micro_batch
    raw["gradient_accumulation_steps"] = 1
    cfg = resolve_ds_config(raw, path, total_steps)
    if args.precision != "auto":
        cfg["bf16"]["enabled"] = args.precision == "bf16"
    return cfg


def bare_step_fn(
    model: torch.nn.Module, cfg: dict[str, Any], device: torch.device, masked_head: bool = True
):
    """The same optimizer, clipping and schedule as the DeepSpeed config, without DeepSpeed;
    ``masked_head=False`` computes logits at every position (the path the trainer avoids)."""
    from deepspeed.runtime.lr_schedules import WarmupDecayLR

    params = dict(cfg["optimizer"]["params"])
    params.pop("torch_adam", None)
    opt = torch.optim.AdamW(model.parameters(), **params)
    sched = WarmupDecayLR(opt, **cfg["scheduler"]["params"])
    clip = cfg["gradient_clipping"]
    bf16 = bool(cfg["bf16"]["enabled"])

    def step(batch: dict[str, Any]) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = mlm_forward(model, *batch_to(batch, device), masked_head=masked_head)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved_seconds(
    fns: dict[str, Any], batches: list[dict[str, Any]], device: torch.device
) -> dict[str, float]:
    """Seconds each step function spends on ``batches``, timed step by step and interleaved
    (alternating which goes first), so load from other processes hits both alike."""
    spent = dict.fromkeys(fns, 0.0)
    names = list(fns)
    for i, batch in enumerate(batches):
        for name in names if i % 2 == 0 else names[::-1]:
            _sync(device)
            t0 = time.perf_counter()
            fns[name](batch)
            _sync(device)
            spent[name] += time.perf_counter() - t0
    return spent


def tokens_of(batches: list[dict[str, Any]]) -> float:
    return float(sum(int(b["attention_mask"].sum()) for b in batches))


def train_flops_per_token(cfg: Any, seq_len: int) -> float:
    """Training FLOPs per token of a BERT-style encoder: 6 x the matmul parameters (attention
    4h^2 and MLP 2hI per layer, the MLM head h^2 + hV) + 12 L h T for attention scores/values
    (the PaLM appendix B formula)."""
    h, n_layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    matmul_params = n_layers * (4 * h * h + 2 * h * inter) + h * h + h * cfg.vocab_size
    return 6 * matmul_params + 12 * n_layers * h * seq_len


def bench_steps(args: TrainBenchConfig, shards, mcfg, stream: TrainStream) -> float:
    """(a) vs (b); returns the DeepSpeed step's tokens/s (what the loader must keep up with)."""
    import deepspeed

    n = args.warmup + args.steps
    batches = [stream.next(i) for i in range(n)]
    cfg = ds_config(args, total_steps=(n * args.trials) + 1)
    torch.manual_seed(0)
    model = build_model(mcfg)
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=cfg)
    torch.manual_seed(0)
    bare = build_model(mcfg).to(engine.device)
    bare_step = bare_step_fn(bare, cfg, engine.device)
    torch.manual_seed(0)
    full = build_model(mcfg).to(engine.device)
    full_step = bare_step_fn(full, cfg, engine.device, masked_head=False)
    ds_name = f"deepspeed-zero{cfg['zero_optimization']['stage']}"
    fns = {
        ds_name: lambda b: train_micro_step(engine, b),
        "pytorch": bare_step,
        "pytorch-full-logits": full_step,
    }
    interleaved_seconds(fns, batches[: args.warmup], engine.device)
    tokens = tokens_of(batches[args.warmup :])
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(args.trials):
        spent = interleaved_seconds(fns, batches[args.warmup :], engine.device)
        for name, seconds in spent.items():
            rates[name].append(tokens / seconds)
    med = {k: statistics.median(v) for k, v in rates.items()}
    precision = "bf16" if cfg["bf16"]["enabled"] else "fp32"
    for impl, rate in med.items():
        emit(
            bench="step",
            impl=impl,
            model=args.model,
            vocab=shards.name,
            precision=precision,
            micro_batch=args.micro_batch,
            seq_len=shards.max_tokens + 2,
            threads=torch.get_num_threads(),
            tokens_per_s=round(rate, 1),
            trials=[round(r, 1) for r in rates[impl]],
        )
    emit(
        bench="ratio",
        # Paired per trial (both timed under the same load), then the median.
        deepspeed_over_pytorch=round(
            statistics.median(a / b for a, b in zip(rates[ds_name], rates["pytorch"], strict=True)),
            4,
        ),
        target=0.95,
    )
    emit(
        bench="masked_head",
        vocab_size=mcfg.vocab_size,
        # Same loop, same batches, same init; paired per trial, then the median.
        masked_head_speedup=round(
            statistics.median(
                a / b for a, b in zip(rates["pytorch"], rates["pytorch-full-logits"], strict=True)
            ),
            4,
        ),
    )
    flops = train_flops_per_token(mcfg, shards.max_tokens + 2) * med[ds_name]
    peak = None
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    emit(
        bench="mfu",
        device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        achieved_tflops=round(flops / 1e12, 4),
        mfu=None if peak is None or precision != "bf16" else round(flops / peak, 4),
    )
    return med[ds_name]


def bench_loader(args: TrainBenchConfig, shards, masker, step_rate: float) -> None:
    col = MlmCollator(shards.vocab, masker, shards.max_tokens + 2, 0, 1, args.workers)
    stream = TrainStream(
        build_train_loader(shards, col, args.micro_batch, 1, 64, args.workers), col
    )
    stream.next(0)  # worker start-up is paid once per epoch, not per batch
    n = args.loader_batches
    t0 = time.perf_counter()
    batches = [stream.next(i) for i in range(1, n + 1)]
    rate = tokens_of(batches) / (time.perf_counter() - t0)
    emit(
        bench="loader",
        workers=args.workers,
        tokens_per_s=round(rate, 1),
        over_step_consumption=round(rate / step_rate, 2),
        target=10,
    )


def bench_masking(args: TrainBenchConfig, shards, masker, step_rate: float) -> None:
    """Collation cost split: framing + spans vs the masking strategy, per batch, one core."""
    from streaming import StreamingDataset

    remote, local = shards.split_paths("train")
    ds = StreamingDataset(remote=remote, local=local, shuffle=False)
    rows = [np.asarray(ds[i]["input_ids"]) for i in range(args.micro_batch * 20)]
    gen = torch.Generator().manual_seed(0)
    t_enc = t_mask = 0.0
    for s in range(0, len(rows), args.micro_batch):
        t0 = time.perf_counter()
        w = encode_windows(rows[s : s + args.micro_batch], shards.vocab, shards.max_tokens + 2)
        t1 = time.perf_counter()
        masker(w.input_ids, w.spans, w.special_mask, gen, 0)
        t2 = time.perf_counter()
        t_enc, t_mask = t_enc + t1 - t0, t_mask + t2 - t1
    per_batch = (t_enc + t_mask) / 20
    step_s = args.micro_batch * (shards.max_tokens + 2) / step_rate
    emit(
        bench="masking",
        strategy=args.masking,
        masking_ms_per_batch=round(t_mask / 20 * 1e3, 3),
        collate_ms_per_batch=round(per_batch * 1e3, 3),
        masking_share_of_collate=round(t_mask / (t_enc + t_mask), 4),
        collate_share_of_step=round(per_batch / step_s, 4),
    )


@dataclass(frozen=True)
class TrainBenchConfig:
    """``python bench/train_bench.py``'s arguments."""

    data: str = option(help="DIR/<vocab> written by data_prep/shard.py")
    ds_config: Path = option(
        ROOT / "ds_configs" / "zero2.json",
        help="DeepSpeed JSON for path (a)",
    )
    model: str = option("bert-tiny", help="trainer preset (default: %(default)s)")
    micro_batch: int = option(16, help="sequences per step")
    steps: int = option(20, gt=0, help="timed steps per trial")
    warmup: int = option(3, ge=0, help="untimed steps first")
    trials: int = option(3, gt=0, help="alternating trials (median reported)")
    precision: str = option(
        "auto",
        choices=("auto", "fp32", "bf16"),
        help="auto: the ds_config's rule (bf16 where it pays off)",
    )
    masking: str = option("random", help="strategy for the loader and masking bench")
    workers: int = option(2, help="loader workers (default: the trainer's, %(default)s)")
    loader_batches: int = option(100, help="batches for the loader bench")
    threads: int | None = option(
        None, help="torch CPU threads (default: all cores); 1 is steadier on a busy machine"
    )


def build_parser() -> argparse.ArgumentParser:
    """The train_bench CLI, generated from ``TrainBenchConfig``."""
    return command_parser(
        TrainBenchConfig, prog="python bench/train_bench.py", description=__doc__.split("\n")[0]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_config(TrainBenchConfig, build_parser(), argv)
    if args is None:
        raise SystemExit(2)

    init_distributed(timeout_s=60)
    if args.threads:
        torch.set_num_threads(args.threads)
    set_streaming_local_world_size()
    shards = open_shards(args.data)
    mcfg = model_config(args.model, shards.vocab.size, shards.max_tokens + 2)
    masker = build_masker(MaskingConfig(strategy=args.masking).resolved(), shards.vocab)
    col = MlmCollator(shards.vocab, masker, shards.max_tokens + 2, 0, 1, 0)
    stream = TrainStream(build_train_loader(shards, col, args.micro_batch, 0, 64, 0), col)
    step_rate = bench_steps(args, shards, mcfg, stream)
    bench_loader(args, shards, masker, step_rate)
    bench_masking(args, shards, masker, step_rate)


if __name__ == "__main__":
    main()
    from trainer.process_group import finish

    finish(0)
