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
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `python eval/run.py`: import as a package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data_prep.errors import print_error
from eval.baselines import BaselineConfig, run_baselines
from eval.benchmark import (
    IUPAC_POLICIES,
    BenchmarkError,
    Task,
    load_task,
    resolve_benchmark,
    select_tasks,
)
from eval.cache import EmbeddingCache, checkpoint_digest, default_cache_dir, embedding_key
from eval.encoder import (
    LENGTH_POLICY,
    POOLINGS,
    Checkpoint,
    CheckpointError,
    build_encoder,
    embed,
    load_checkpoint,
    tokenize,
)
from eval.finetune import FinetuneConfig, build_classifier, finetune
from eval.probe import ProbeConfig, fit_probe
from eval.report import audit_verdicts, print_table, wide_console, write_report
from eval.scoring import SeedRun, score_task

SCHEMA_VERSION = 1
PROTOCOLS = ("probe", "finetune")
LENGTH_POLICY_TEXT = (
    "center: sequences longer than the model's max length (tokens, specials included) keep "
    "their central tokens (designed tasks put their anchor there); truncated rows are counted "
    "per task and split"
)


@dataclass(frozen=True)
class RunConfig:
    """Everything a report depends on; written into report.json."""

    checkpoints: tuple[str, ...]
    out: str
    benchmark: str | None = None
    tasks: str = "all"
    protocol: str = "probe"
    seeds: int = 3
    batch_size: int = 64
    pooling: str = "mean"
    max_length: int | None = None
    iupac: str = "error"
    n_boot: int = 1000
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    baselines: BaselineConfig = field(default_factory=lambda: BaselineConfig(cnn=True))
    cache_dir: str | None = None  # probe embeddings cache (eval/cache.py); None: off


@dataclass(frozen=True)
class Job:
    """One unit of work: a task's baselines, or one model variant (init, seed) on a task.

    A frozen pretrained encoder under the probe is deterministic, so it is one job whose result
    stands for every seed.
    """

    kind: str
    task: int
    ckpt: int = -1
    init: str = ""
    seed: int = 0


def plan_jobs(cfg: RunConfig, n_tasks: int, n_ckpts: int) -> list[Job]:
    jobs = [Job("baselines", t) for t in range(n_tasks)]
    for c in range(n_ckpts):
        for init in ("pretrained", "scratch"):
            seeds = [0] if init == "pretrained" and cfg.protocol == "probe" else range(cfg.seeds)
            jobs += [Job("model", t, c, init, s) for s in seeds for t in range(n_tasks)]
    return jobs


def _bases(task: Task, splits: list[str]) -> int:
    return sum(len(s) for name in splits for s in task.splits[name].sequences)


def job_cost(job: Job, task: Task, cfg: RunConfig) -> float:
    """A rough relative cost (bases processed) used only to balance the processes."""
    if job.kind == "baselines":
        return 0.2 * _bases(task, [task.train_split])
    if cfg.protocol == "finetune":
        return 3.0 * cfg.finetune.epochs * _bases(task, [task.train_split]) + _bases(
            task, task.used_splits
        )
    return _bases(task, task.used_splits)


def _positions(task: Task, labels: np.ndarray) -> np.ndarray:
    pos = {c: i for i, c in enumerate(task.classes)}
    return np.array([pos[int(v)] for v in labels], dtype=np.int64)


class Runner:
    """Runs jobs in this process; caches the last encoder (jobs are ordered by model)."""

    def __init__(
        self, cfg: RunConfig, tasks: list[Task], ckpts: list[Checkpoint], device, progress: Progress
    ) -> None:
        self.cfg = cfg
        self.tasks = tasks
        self.ckpts = ckpts
        self.device = device
        self.progress = progress
        self._encoder_key: tuple | None = None
        self._encoder = None
        self.bars: dict[str, int] = {}
        self.cache = EmbeddingCache(Path(cfg.cache_dir) if cfg.cache_dir else None)
        self._digests: dict[int, str] = {}

    def _advance(self, bar: str):
        return lambda n: self.progress.advance(self.bars[bar], n)

    def baselines(self, task: Task) -> dict:
        out = {}
        for name, res in run_baselines(task, self.cfg.baselines).items():
            out[name] = {
                "pred": _positions(task, res.pred),
                "proba": res.proba,
                "extra": res.params,
            }
        self.progress.advance(self.bars["baselines"], 1)
        return out

    def _embed_split(self, job: Job, ckpt: Checkpoint, seqs: list[str]) -> tuple[np.ndarray, int]:
        """One split's embeddings and truncation count: from the cache, else computed (and
        stored). The encoder is only built on a miss, so a fully cached re-score loads no model."""
        if job.ckpt not in self._digests and self.cache.root is not None:
            self._digests[job.ckpt] = checkpoint_digest(ckpt.path)
        key = embedding_key(
            self._digests.get(job.ckpt),
            job.init,
            job.seed,
            self.cfg.pooling,
            ckpt.max_length,
            self.cfg.batch_size,
            seqs,
            self.device.type,
        )
        hit = self.cache.get(key)
        if hit is not None:
            self._advance("embedding")(len(seqs))
            return hit
        model_key = (job.ckpt, job.init, job.seed)
        if model_key != self._encoder_key:
            self._encoder = build_encoder(ckpt, job.init, job.seed).to(self.device)
            self._encoder_key = model_key
        tokens = tokenize(ckpt, seqs)
        emb = embed(
            self._encoder,
            ckpt,
            tokens,
            self.cfg.batch_size,
            self.cfg.pooling,
            self._advance("embedding"),
        )
        self.cache.put(key, emb, tokens.truncated)
        return emb, tokens.truncated

    def probe(self, job: Job, task: Task, ckpt: Checkpoint) -> dict:
        splits = task.used_splits
        emb, truncated = {}, {}
        for s in splits:
            emb[s], truncated[s] = self._embed_split(job, ckpt, task.splits[s].sequences)
        y = {s: _positions(task, task.splits[s].labels) for s in splits}
        sel = task.selection_split
        res = fit_probe(
            emb[task.train_split],
            y[task.train_split],
            emb[sel] if sel else None,
            y[sel] if sel else None,
            emb["test"],
            list(range(len(task.classes))),
            self.cfg.probe,
        )
        return {
            "pred": res.pred,
            "proba": res.proba,
            "extra": {"C": res.C, "dev_mcc": res.dev_mcc},
            "truncated": truncated,
        }

    def finetune(self, job: Job, task: Task, ckpt: Checkpoint) -> dict:
        splits = task.used_splits
        tokens = {s: tokenize(ckpt, task.splits[s].sequences) for s in splits}
        y = {s: _positions(task, task.splits[s].labels) for s in splits}
        model = build_classifier(ckpt, job.init, len(task.classes), job.seed).to(self.device)
        pad_id = ckpt.tokenizer.pad_token_id if ckpt.tokenizer.pad_token_id is not None else 0
        sel = task.selection_split
        res = finetune(
            model,
            pad_id,
            (tokens[task.train_split], y[task.train_split]),
            (tokens[sel], y[sel]) if sel else None,
            tokens["test"],
            job.seed,
            self.cfg.finetune,
            self._advance("fine-tuning"),
        )
        return {
            "pred": res.pred,
            "proba": res.proba,
            "extra": {
                "best_epoch": res.best_epoch,
                "dev_mcc": res.dev_mcc,
                "dev_mcc_by_epoch": res.dev_history,
            },
            "truncated": {s: tokens[s].truncated for s in splits},
        }

    def run(self, job: Job) -> dict:
        task = self.tasks[job.task]
        t0 = time.perf_counter()
        if job.kind == "baselines":
            out = self.baselines(task)
        elif self.cfg.protocol == "probe":
            out = self.probe(job, task, self.ckpts[job.ckpt])
        else:
            out = self.finetune(job, task, self.ckpts[job.ckpt])
        return {"out": out, "seconds": time.perf_counter() - t0}

    def totals(self, jobs: list[Job]) -> dict[str, int]:
        """Progress totals for this process's jobs: tasks, sequences embedded, training steps."""
        totals = {"baselines": 0, "embedding": 0, "fine-tuning": 0}
        for job in jobs:
            task = self.tasks[job.task]
            if job.kind == "baselines":
                totals["baselines"] += 1
            elif self.cfg.protocol == "probe":
                totals["embedding"] += sum(len(task.splits[s]) for s in task.used_splits)
            else:
                n = len(task.train)
                totals["fine-tuning"] += self.cfg.finetune.epochs * -(
                    -n // self.cfg.finetune.batch_size
                )
        return totals


def assemble(
    cfg: RunConfig,
    tasks: list[Task],
    excluded: dict[str, int],
    ckpts: list[Checkpoint],
    jobs: list[Job],
    results: dict[int, dict],
    world: int,
    seconds: float,
) -> dict:
    """The report dict (schema: docs/evaluation.md) from every job's result, on rank 0."""
    seeds = list(range(cfg.seeds))
    by_key = {
        (j.kind, j.task, j.ckpt, j.init, j.seed): results[i]["out"] for i, j in enumerate(jobs)
    }
    report: dict = {
        "schema_version": SCHEMA_VERSION,
        "protocol": cfg.protocol,
        "protocol_config": asdict(cfg.probe if cfg.protocol == "probe" else cfg.finetune)
        | {"pooling": cfg.pooling, "batch_size": cfg.batch_size},
        "seeds": seeds,
        "n_boot": cfg.n_boot,
        "length_policy": {"policy": LENGTH_POLICY, "description": LENGTH_POLICY_TEXT},
        "iupac_policy": cfg.iupac,
        "benchmark": {"path": str(resolve_benchmark(cfg.benchmark)), "tasks": cfg.tasks},
        "baseline_config": asdict(cfg.baselines),
        "checkpoints": [
            {
                "name": c.name,
                "path": str(c.path),
                "model_type": c.config.model_type,
                "vocab": c.vocab_name,
                "max_length": c.max_length,
                "hidden_size": getattr(c.config, "hidden_size", None),
            }
            for c in ckpts
        ],
        "tasks": {},
        "run": {"world_size": world, "seconds": round(seconds, 1)},
    }
    if cfg.protocol == "probe":
        report["notes"] = [
            "the probe of a frozen pretrained encoder is deterministic: its sd over seeds is 0 by "
            "construction; seeds change the from-scratch encoders"
        ]
    verdicts = audit_verdicts(cfg.tasks)
    for ti, task in enumerate(tasks):
        entry = _task_entry(task, ti, ckpts, by_key, seeds, cfg.n_boot)
        report["tasks"][task.id] = entry | {
            "test_rows_excluded": excluded.get(task.id, 0),
            "rows_changed": {name: split.changes() for name, split in task.splits.items()},
            "audit_verdict": verdicts.get(task.id, "not audited"),
        }
    report["run"]["job_seconds"] = {
        _job_label(j, tasks, ckpts): round(results[i]["seconds"], 2) for i, j in enumerate(jobs)
    }
    return report


def _job_label(job: Job, tasks: list[Task], ckpts: list[Checkpoint]) -> str:
    if job.kind == "baselines":
        return f"baselines {tasks[job.task].id}"
    return f"{ckpts[job.ckpt].name} {job.init} seed {job.seed} {tasks[job.task].id}"


def _task_entry(
    task: Task, ti: int, ckpts: list[Checkpoint], by_key: dict, seeds: list[int], n_boot: int
) -> dict:
    """One task of report.json: its protocol facts, baselines, models and comparisons."""
    base = by_key[("baselines", ti, -1, "", 0)]
    baselines = {n: SeedRun(0, r["pred"], r["proba"], r["extra"]) for n, r in base.items()}
    models: dict[str, dict[str, list[SeedRun]]] = {}
    for ci, ckpt in enumerate(ckpts):
        models[ckpt.name] = {}
        for init in ("pretrained", "scratch"):
            # A deterministic job (frozen pretrained probe) ran once and stands for every seed.
            results = [by_key.get(("model", ti, ci, init, s)) for s in seeds]
            results = [r or by_key[("model", ti, ci, init, 0)] for r in results]
            models[ckpt.name][init] = [
                SeedRun(s, r["pred"], r["proba"], r["extra"])
                for s, r in zip(seeds, results, strict=True)
            ]
    scored = score_task(task, models, baselines, n_boot)
    for ci, ckpt in enumerate(ckpts):
        truncated = by_key[("model", ti, ci, "pretrained", 0)]["truncated"]
        scored["models"][ckpt.name]["truncated"] = truncated
    return {
        "classes": task.classes,
        "train_split": task.train_split,
        "selection_split": task.selection_split,
        "note": task.protocol_note,
        "n": {s: len(v) for s, v in task.splits.items()},
        **scored,
    }


def parse_args(argv: list[str] | None = None) -> RunConfig:
    p = argparse.ArgumentParser(
        prog="accelerate launch eval/run.py",
        description="Score Hugging Face MLM checkpoints on benchmark tasks (probe or fine-tune, "
        "several seeds) beside shortcut baselines and a from-scratch twin; writes "
        "REPORT_DIR/report.{json,md,csv,png}.",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        help="HF checkpoint dir with its tokenizer (e.g. RUN/hf); repeat for several",
    )
    p.add_argument("--benchmark", help="benchmark dir (default: $DNAPT_DATA_MIRROR/benchmark)")
    p.add_argument(
        "--tasks",
        default="all",
        help="curated:AUDIT_DIR/curated.json | all (default) | comma-separated source/task ids",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="probe",
        help="probe (frozen encoder + logistic regression, default) or finetune",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--batch-size", type=int, default=64, help="embedding batch size (default 64)")
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="mean",
        help="mean over content tokens (default) or the first token (CLS)",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="cap on tokens per sequence, specials included (default: the model's own limit)",
    )
    p.add_argument(
        "--iupac",
        choices=IUPAC_POLICIES,
        default="error",
        help="IUPAC codes: 'error' (default) or 'n' (map to N, reported)",
    )
    p.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (default 1000)"
    )
    probe, ft = ProbeConfig(), FinetuneConfig()
    p.add_argument(
        "--probe-cs",
        default=",".join(str(c) for c in probe.Cs),
        help=f"probe C grid chosen on dev (default {probe.Cs})",
    )
    p.add_argument(
        "--ft-lr",
        type=float,
        default=ft.learning_rate,
        help=f"fine-tune learning rate (default {ft.learning_rate})",
    )
    p.add_argument(
        "--ft-epochs", type=int, default=ft.epochs, help=f"fine-tune epochs (default {ft.epochs})"
    )
    p.add_argument(
        "--ft-batch-size",
        type=int,
        default=ft.batch_size,
        help=f"fine-tune batch size (default {ft.batch_size})",
    )
    p.add_argument(
        "--ft-warmup-ratio",
        type=float,
        default=ft.warmup_ratio,
        help=f"share of steps with linear warmup (default {ft.warmup_ratio})",
    )
    p.add_argument(
        "--cache-dir",
        default=str(default_cache_dir()),
        help="probe embeddings cache, keyed by checkpoint and task content (default: "
        "$DNAPT_EVAL_CACHE or ~/.cache/dnapt/eval); a re-score of the same checkpoint skips "
        "extraction",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    a = p.parse_args(argv)
    for flag, value, ok in (
        ("--seeds", a.seeds, a.seeds >= 1),
        ("--batch-size", a.batch_size, a.batch_size >= 1),
        ("--n-boot", a.n_boot, a.n_boot >= 1),
        ("--max-length", a.max_length, a.max_length is None or a.max_length >= 3),
        ("--ft-lr", a.ft_lr, a.ft_lr > 0),
        ("--ft-epochs", a.ft_epochs, a.ft_epochs >= 1),
        ("--ft-batch-size", a.ft_batch_size, a.ft_batch_size >= 1),
        ("--ft-warmup-ratio", a.ft_warmup_ratio, 0 <= a.ft_warmup_ratio < 1),
    ):
        if not ok:
            p.error(f"{flag} {value}: out of range (see --help)")
    try:
        cs = tuple(float(c) for c in a.probe_cs.split(","))
    except ValueError:
        cs = ()
    if not cs or not all(c > 0 for c in cs):
        p.error(f"--probe-cs {a.probe_cs!r}: give comma-separated positive numbers, e.g. 0.1,1,10")
    return RunConfig(
        checkpoints=tuple(a.checkpoint),
        out=a.out,
        benchmark=a.benchmark,
        tasks=a.tasks,
        protocol=a.protocol,
        seeds=a.seeds,
        batch_size=a.batch_size,
        pooling=a.pooling,
        max_length=a.max_length,
        iupac=a.iupac,
        n_boot=a.n_boot,
        cache_dir=None if a.no_cache else a.cache_dir,
        probe=ProbeConfig(Cs=cs),
        finetune=FinetuneConfig(
            learning_rate=a.ft_lr,
            epochs=a.ft_epochs,
            batch_size=a.ft_batch_size,
            warmup_ratio=a.ft_warmup_ratio,
        ),
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
