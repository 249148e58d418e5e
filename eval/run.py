"""Score checkpoints on benchmark tasks under one fixed protocol, beside honest baselines.

    accelerate launch eval/run.py --checkpoint RUN/hf [--checkpoint RUN2/hf ...] \\
        --benchmark DIR --tasks curated:AUDIT_DIR/curated.json|all|t1,t2 \\
        --protocol probe|finetune --seeds 3 --out REPORT_DIR

Beside every checkpoint: the audit's shortcut baselines, a one-hot CNN trained from scratch
(eval/cnn.py), each task's audit verdict (from the curated list), and a from-scratch twin (same
config and tokenizer, random init) under the same protocol, with a per-task statement of whether pretraining
beats it beyond the paired bootstrap CI. The jobs (a model variant on a task, a task's baselines)
are split over the launched processes and gathered on rank 0, which computes every number, so one
or two processes give the same report. Writes REPORT_DIR/report.{json,md,csv,png}.

This file is the entry point (arguments, inputs, the process loop); the configuration is
``eval.config.RunConfig``, the jobs ``eval.runner``, the report's content ``eval.assemble`` and
its files ``eval.report``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dnapt.errors import print_error
from eval.assemble import assemble
from eval.benchmark import BenchmarkError, Task, load_task, resolve_benchmark, select_tasks
from eval.config import RunConfig, parse_or_exit
from eval.encoder import Checkpoint, CheckpointError, load_checkpoint
from eval.report import print_table, wide_console, write_report
from eval.runner import Runner, job_cost, plan_jobs

__all__ = ["RunConfig", "load_inputs", "main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> RunConfig:
    """The run's typed config (argument and range errors: one line, exit 2)."""
    return parse_or_exit(
        RunConfig,
        "eval/run.py",
        "Score Hugging Face MLM checkpoints on benchmark tasks (probe or fine-tune, several "
        "seeds) beside shortcut baselines and a from-scratch twin; writes "
        "REPORT_DIR/report.{json,md,csv,png}.",
        argv,
        prog="accelerate launch eval/run.py",
    )


def load_inputs(cfg: RunConfig) -> tuple[list[Task], dict[str, int], list[Checkpoint]]:
    """Validated tasks (with the audit's leak repairs applied) and checkpoints."""
    root = resolve_benchmark(cfg.benchmark)
    selection = select_tasks(cfg.tasks, root)
    tasks, excluded = [], {}
    for task_id in selection.task_ids:
        task = load_task(root, task_id, cfg.iupac)
        drop = selection.exclude_test_rows.get(task_id, [])
        if drop:
            before = len(task.test)
            task = task.with_test_rows_removed(np.asarray(drop, dtype=np.int64))
            excluded[task_id] = before - len(task.test)  # rows actually removed
        tasks.append(task)
    ckpts = [_load_checkpoint(p, cfg.max_length) for p in cfg.checkpoints]
    names: dict[str, int] = {}
    for i, c in enumerate(ckpts):
        names[c.name] = names.get(c.name, 0) + 1
        if names[c.name] > 1:
            ckpts[i] = replace(c, name=f"{c.name}-{names[c.name]}")
    return tasks, excluded, ckpts


def _load_checkpoint(path: str, max_length: int | None) -> Checkpoint:
    """``load_checkpoint`` with one-line errors; a dnapt run directory points at its export."""
    run = Path(path)
    if (run / "checkpoints").is_dir() and (run / "model").is_dir():
        hf = run / "hf"
        where = (
            f"--checkpoint {hf}"
            if (hf / "config.json").is_file()
            else (f"its export (python trainer/export.py {run}, then --checkpoint {hf})")
        )
        raise CheckpointError(f"{run} is a dnapt run directory, not a checkpoint: use {where}")
    try:
        return load_checkpoint(path, max_length)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a usable Hugging Face checkpoint ({first})") from None


def check_out(out: Path) -> None:
    """Fail before any scoring when the report cannot be written where asked."""
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"--out {out} is an existing file, not a directory: choose another")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchmarkError(f"--out {out}: cannot create it ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise BenchmarkError(f"--out {out}: not writable")


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from eval.jobs import Workers  # torch + accelerate: only once the arguments parse

    workers = Workers()
    console = Console(stderr=True, quiet=not workers.is_main)
    t0 = time.perf_counter()
    try:
        check_out(Path(cfg.out))  # every rank, so all of them stop together
        tasks, excluded, ckpts = load_inputs(cfg)
    except (BenchmarkError, CheckpointError) as e:
        if workers.is_main:
            print_error("eval/run.py", e)
        workers.close()
        return 2
    jobs = plan_jobs(cfg, len(tasks), len(ckpts))
    mine = workers.my_jobs([job_cost(j, tasks[j.task], cfg) for j in jobs])
    mine.sort(
        key=lambda i: (jobs[i].kind != "baselines", jobs[i].ckpt, jobs[i].init, jobs[i].seed, i)
    )
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, disable=not workers.is_main) as progress:
        runner = Runner(cfg, tasks, ckpts, workers.device, progress)
        for name, total in runner.totals([jobs[i] for i in mine]).items():
            if total:
                runner.bars[name] = progress.add_task(f"{name} (rank {workers.rank})", total=total)
        results = {i: runner.run(jobs[i]) for i in mine}
    gathered = workers.gather(results)
    if workers.is_main:
        report = assemble(
            cfg, tasks, excluded, ckpts, jobs, gathered, workers.world, time.perf_counter() - t0
        )
        paths = write_report(report, Path(cfg.out))
        print_table(report, wide_console())
        console.print(f"wrote {', '.join(str(p) for p in paths)}")
    workers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
