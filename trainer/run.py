"""Train a BERT-style DNA masked-LM with DeepSpeed on dnapt shards.

    deepspeed --num_gpus 2 trainer/run.py --ds_config ds_configs/zero2.json \\
        --data DIR/kmer6-overlap --model bert-tiny --masking random --mask-ratio 0.15 \\
        --max-steps 200 --out RUNS/my_run [--resume auto] [--seed 0]

Also runs under torchrun, ``bash launch.sh train`` (multi-node) and plain ``python`` (one
process). See docs/training.md for the run directory, metrics and checkpoint layout.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from dnapt.errors import print_error
from trainer.config import ConfigError, TrainConfig, parse_args

if TYPE_CHECKING:  # torch, transformers and deepspeed load only after the arguments parse
    import torch

    from trainer.preflight import Plan
    from trainer.process_group import DistInfo
    from trainer.step import MlmOutput


class Interval:
    """Sums over the micro-batches since the last log line, reduced over ranks when logged.

    Loss and accuracy counts stay on the device until then, so steps never wait for the GPU.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        import torch

        self.model_sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        self.micro = 0
        self.tokens = 0
        self.samples = 0
        self.stats: dict[str, float] = {}
        self.started = time.perf_counter()

    def add(self, out: MlmOutput, batch: dict[str, Any]) -> None:
        import torch

        parts = (out.loss.detach(), out.correct, out.labelled)
        self.model_sums += torch.stack([p.double() for p in parts])
        self.micro += 1
        self.tokens += int(batch["attention_mask"].sum())
        self.samples += batch["input_ids"].shape[0]
        for key, value in batch["stats"].items():
            self.stats[key] = self.stats.get(key, 0.0) + float(value)

    def reduce(self) -> dict[str, float]:
        """All-reduce (collective) and turn sums into the logged means and rates."""
        import torch

        keys = sorted(self.stats)
        host = [self.micro, self.tokens, self.samples] + [self.stats[k] for k in keys]
        sums = torch.cat(
            [self.model_sums, torch.tensor(host, dtype=torch.float64, device=self.device)]
        )
        torch.distributed.all_reduce(sums)
        loss, correct, labelled, micro, tokens, samples, *stats = sums.tolist()
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        out = {
            "loss": loss / micro,
            "accuracy": correct / labelled if labelled else float("nan"),
            "tokens_per_s": tokens / elapsed,
            "samples_per_s": samples / elapsed,
        }
        out.update({k: v / micro for k, v in zip(keys, stats, strict=True)})
        return out


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def write_run_files(plan: Plan, dist: DistInfo) -> None:
    """Rank 0: resolved config, model architecture and tokenizer (export needs no data dir)."""
    from trainer.export import MODEL_DIR, TOKENIZER_DIR
    from trainer.run_record import CONFIG_FILE

    out = plan.cfg.out
    resolved = plan.resolved(dist.world_size)
    resolved.write(out / CONFIG_FILE)
    plan.model_config.save_pretrained(out / MODEL_DIR)
    shutil.rmtree(out / TOKENIZER_DIR, ignore_errors=True)
    plan.shards.vocab.save(out / TOKENIZER_DIR)
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print_json(data=resolved.to_json())


def train(plan: Plan, dist: DistInfo) -> None:
    import deepspeed
    import torch

    from trainer import checkpoint
    from trainer.bphb import VAL_SEED
    from trainer.data import (
        MlmCollator,
        TrainStream,
        build_eval_batches,
        build_train_loader,
        set_streaming_local_world_size,
        train_composition,
    )
    from trainer.export import export_run
    from trainer.models import build_model
    from trainer.run_log import MetricsWriter
    from trainer.step import train_micro_step
    from trainer.validation import base_scorer, evaluate

    cfg: TrainConfig = plan.cfg
    set_streaming_local_world_size()
    if dist.is_main:
        cfg.out.mkdir(parents=True, exist_ok=True)
        write_run_files(plan, dist)
    torch.distributed.barrier()

    seed_everything(cfg.seed)  # identical initial weights on every rank
    model = build_model(plan.model_config)
    engine, *_ = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=plan.ds_config
    )
    seed_everything(cfg.seed * 1_000_003 + dist.rank + 1)  # distinct dropout per rank

    collator = MlmCollator(
        plan.shards.vocab, plan.masker, plan.max_len, cfg.seed, plan.grad_accum, cfg.num_workers
    )
    loader = build_train_loader(
        plan.shards, collator, plan.micro_batch, cfg.seed, cfg.canonical_nodes, cfg.num_workers
    )
    stream = TrainStream(loader, collator)
    eval_batches = build_eval_batches(
        plan.shards,
        plan.val_masker,
        VAL_SEED,
        cfg.eval_samples,
        plan.max_len,
        plan.micro_batch,
        dist.rank,
        dist.world_size,
    )
    scorer = base_scorer(plan.shards.vocab, train_composition(loader.dataset, plan.shards.vocab))
    base_loss = scorer if cfg.objective == "hidden-bases" else None

    step = 0
    if plan.resume_tag is not None:
        client = checkpoint.load(engine, plan.ckpt_dir, plan.resume_tag, dist.rank)
        step = int(client["step"])
        stream.load_state_dict(client["data"])
    metrics = MetricsWriter(cfg.out, cfg.max_steps, step) if dist.is_main else None
    if metrics is not None and plan.resume_tag is not None:
        metrics.console.print(f"resumed from {plan.ckpt_dir / plan.resume_tag} at step {step}")

    def log(kind: str, values: dict[str, Any]) -> None:
        if metrics is not None:
            metrics.write(kind, step, values)

    interval = Interval(engine.device)
    micro_index = step * plan.grad_accum
    while step < cfg.max_steps:
        lr = engine.optimizer.param_groups[0]["lr"]  # the rate this step will apply
        norm = None
        for _ in range(plan.grad_accum):
            batch = stream.next(micro_index)
            micro_index += 1
            out, norm = train_micro_step(engine, batch, base_loss)
            interval.add(out, batch)
        step += 1
        last = step == cfg.max_steps
        if step % cfg.log_every == 0 or last:
            values = interval.reduce()
            values.update(
                lr=lr, grad_norm=None if norm is None else float(norm), epoch=stream.epoch
            )
            log("train", values)
            interval.reset()
        if step % cfg.eval_every == 0 or last:
            log("val", evaluate(engine, eval_batches, scorer))
            interval.started = time.perf_counter()
        if step % cfg.save_every == 0 or last:
            client = {"step": step, "data": stream.state_dict(), "world_size": dist.world_size}
            checkpoint.save(engine, plan.ckpt_dir, step, client, dist.rank, cfg.keep_last)
            interval.started = time.perf_counter()

    if metrics is not None:
        hf = export_run(cfg.out)
        metrics.console.print(
            f"done: {step} steps; metrics {metrics.path}; tensorboard {cfg.out / 'tensorboard'}; "
            f"export {hf}"
        )
        metrics.close()


def main(argv: list[str] | None = None) -> None:
    try:
        cfg = parse_args(argv)  # light: --help and argument errors return before torch loads
        from trainer.preflight import preflight

        world = os.environ.get("WORLD_SIZE")
        plan = preflight(cfg, int(world) if world else None)
    except ConfigError as e:
        print_error("trainer/run.py", e)
        sys.exit(2)
    from trainer import checkpoint
    from trainer.process_group import abort, finish, init_distributed

    try:
        dist = init_distributed(cfg.dist_timeout)
        train(plan, dist)
    except BaseException as e:  # noqa: BLE001 - any failure must end this rank, never hang it
        if not isinstance(e, checkpoint.CheckpointError):  # those already say file and fix
            traceback.print_exc()
        rank = os.environ.get("RANK", "?")
        abort(f"trainer/run.py: rank {rank} failed: {type(e).__name__}: {e}")
    finish(0)


if __name__ == "__main__":
    main()
