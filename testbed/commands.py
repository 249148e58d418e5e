"""The stage commands the testbed runs, built from the recipe and the plan.

Each stage runs as its own process (shard, verify, analyse, suite, audit, train, score). A
training cell's command comes from the trainer's own typed configs: ``TrainConfig`` (as the argv
``dnapt.cli.to_argv`` derives from it) and, for more than one local rank, ``trainer.launch.command``,
which the testbed calls in-process to spawn the DeepSpeed launcher directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dnapt.cli import to_argv
from testbed.keys import benchmark_path
from testbed.plan import Budget, Cell, masking_config
from testbed.recipe import ROOT, Recipe

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.launch import Launch


def python() -> list[str]:
    return [sys.executable]


def on_gpu() -> bool:
    """Whether stage commands here run on GPUs (launch.sh sets DS_ACCELERATOR from nvidia-smi)."""
    accel = os.environ.get("DS_ACCELERATOR")
    return accel == "cuda" if accel else shutil.which("nvidia-smi") is not None


def shard_command(recipe: Recipe, shards: Path, overwrite: bool) -> list[str]:
    cfg = recipe.shard_config(shards, overwrite)
    return [*python(), str(ROOT / "data_prep" / "shard.py"), *to_argv(cfg)]


def verify_command(shards: Path) -> list[str]:
    from data_prep.verify import VerifyConfig

    cfg = VerifyConfig(dir=str(shards))
    return [*python(), str(ROOT / "data_prep" / "shard.py"), "verify", *to_argv(cfg)]


def analysis_command(recipe: Recipe, shards: Path, out: Path) -> list[str]:
    cfg = replace(recipe.vocab_report, data=shards, out=out, bpe_sweep=recipe.bpe_sweep)
    return [*python(), str(ROOT / "data_prep" / "analyze_vocab.py"), *to_argv(cfg)]


def train_config(
    recipe: Recipe, cell: Cell, budget: Budget, shards: Path, ds_path: Path, run: Path
) -> TrainConfig:
    """The cell's ``trainer.config.TrainConfig``: the testbed hands the trainer this typed
    config (as the argv ``dnapt.cli.to_argv`` derives from it), never flags built by hand."""
    from trainer.config import TrainConfig

    t = recipe.train
    return TrainConfig(
        ds_config=ds_path,
        data=str(shards / cell.vocab),
        out=run,
        model=recipe.model,
        masking=masking_config(cell.masking),
        objective=cell.masking.objective,
        max_steps=budget.steps,
        seed=cell.seed,
        resume="auto",
        save_every=budget.every(t.checkpoints),
        keep_last=t.keep_last,
        eval_every=budget.every(t.evals),
        eval_samples=t.eval_samples,
        log_every=budget.every(t.logs),
        num_workers=t.num_workers,
        dist_timeout=t.dist_timeout,
    )


def trainer_args(
    recipe: Recipe, cell: Cell, budget: Budget, shards: Path, ds_path: Path, run: Path
) -> list[str]:
    return to_argv(train_config(recipe, cell, budget, shards, ds_path, run))


def train_command(
    recipe: Recipe,
    cell: Cell,
    budget: Budget,
    shards: Path,
    ds_path: Path,
    run: Path,
    node_rank: int | None = None,
    master_addr: str | None = None,
) -> Launch:
    """One cell's training command (``Launch.prepare`` writes what it needs first). A single
    local rank runs ``trainer/run.py`` directly (one process, no launcher start-up); any other
    layout is the DeepSpeed launcher command ``trainer.launch.command`` builds (local ranks, a
    hostfile, or node-rank mode), spawned directly by the testbed."""
    from trainer.launch import Launch, LaunchConfig, command

    lc = recipe.launcher
    targs = trainer_args(recipe, cell, budget, shards, ds_path, run)
    if lc.mode == "local" and lc.nproc == 1:
        return Launch([*python(), str(ROOT / "trainer" / "run.py"), *targs])
    if lc.mode == "hostfile":
        cfg = LaunchConfig(
            nproc=lc.nproc, hostfile=lc.hostfile, launcher=lc.backend, master_port=lc.master_port
        )
    elif lc.mode == "node-rank":
        cfg = LaunchConfig(
            nproc=lc.nproc,
            nnodes=lc.nnodes,
            node_rank=0 if node_rank is None else node_rank,
            master_addr=master_addr or lc.master_addr or "MASTER_ADDR",
            master_port=lc.master_port,
        )
    else:
        cfg = LaunchConfig(nproc=lc.nproc, master_port=lc.master_port)
    return command(cfg, targs, run)


def suite_command(recipe: Recipe, out: Path) -> list[str]:
    from eval.config import MakeTaskConfig

    cfg = MakeTaskConfig(out=out, suite=recipe.eval.suite, overwrite=True)
    return [*python(), str(ROOT / "eval" / "make_task.py"), *to_argv(cfg)]


def audit_command(recipe: Recipe, out: Path, suite_dir: Path | None = None) -> list[str]:
    e = recipe.eval
    bench = benchmark_path(recipe, suite_dir)
    cfg = replace(
        e.audit,
        out=str(out),
        benchmark=None if bench is None else str(bench),
        tasks=",".join(e.tasks) if e.tasks else "all",
    )
    return [*python(), str(ROOT / "eval" / "audit.py"), *to_argv(cfg)]


def eval_command(
    recipe: Recipe,
    checkpoints: list[Path],
    curated: Path,
    out: Path,
    on_gpu: bool,
    suite_dir: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Score ``checkpoints`` on the curated tasks: (command, extra environment). One process runs
    ``eval/run.py`` directly; more go through ``accelerate launch`` (on CPU as gloo processes:
    ``ACCELERATE_USE_CPU=1`` with ``--multi_gpu``, since ``--cpu`` starts only one process)."""
    e = recipe.eval
    script = str(ROOT / "eval" / "run.py")
    env: dict[str, str] = {}
    if e.nproc == 1:
        cmd = [*python(), script]
    else:
        cmd = [*python(), "-m", "accelerate.commands.launch", "--multi_gpu"]
        cmd += ["--num_processes", str(e.nproc), "--num_machines", "1"]
        cmd += ["--mixed_precision", "bf16" if on_gpu else "no", "--dynamo_backend", "no"]
        cmd += ["--main_process_port", str(recipe.launcher.master_port + 1), script]
        if not on_gpu:
            env["ACCELERATE_USE_CPU"] = "1"
    bench = benchmark_path(recipe, suite_dir)
    cfg = replace(
        e.run,
        checkpoints=tuple(str(c) for c in checkpoints),
        out=str(out),
        benchmark=None if bench is None else str(bench),
        tasks=f"curated:{curated}",
    )
    return [*cmd, *to_argv(cfg)], env
