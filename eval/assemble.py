"""Turn every job's gathered result into the report (rank 0): numbers, settings, provenance.

Kept apart from the run's entry point (eval/run.py) and from the renderers (eval/report.py):
this is the one place that decides what report.json says (``eval.contracts.Report``; schema in
docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from eval.benchmark import Task, resolve_benchmark
from eval.config import RunConfig
from eval.contracts import CheckpointEntry, CuratedList, Report, TaskScores
from eval.encoder import LENGTH_POLICY, Checkpoint
from eval.runner import Job
from eval.scoring import SeedRun, score_task

LENGTH_POLICY_TEXT = (
    "center: sequences longer than the model's max length (tokens, specials included) keep "
    "their central tokens (designed tasks put their anchor there); truncated rows are counted "
    "per task and split"
)
PROBE_NOTE = (
    "the probe of a frozen pretrained encoder is deterministic: its sd over seeds is 0 by "
    "construction; seeds change the from-scratch encoders"
)


def audit_verdicts(tasks: str) -> dict[str, str]:
    """task -> keep/flag/drop from the curated list a run was given (``curated:PATH``); empty
    for explicit task lists, whose tasks then show "not audited"."""
    if not tasks.startswith("curated:"):
        return {}
    return dict(CuratedList.read(Path(tasks.removeprefix("curated:"))).verdicts)


def assemble(
    cfg: RunConfig,
    tasks: list[Task],
    excluded: dict[str, int],
    ckpts: list[Checkpoint],
    jobs: list[Job],
    results: dict[int, dict],
    world: int,
    seconds: float,
) -> Report:
    """The report from every job's result, on rank 0."""
    seeds = list(range(cfg.seeds))
    by_key = {
        (j.kind, j.task, j.ckpt, j.init, j.seed): results[i]["out"] for i, j in enumerate(jobs)
    }
    verdicts = audit_verdicts(cfg.tasks)
    scores = {}
    for ti, task in enumerate(tasks):
        scores[task.id] = _task_scores(task, ti, ckpts, by_key, seeds, cfg.n_boot)
        scores[task.id] = TaskScores(
            **scores[task.id],
            test_rows_excluded=excluded.get(task.id, 0),
            rows_changed={name: split.changes() for name, split in task.splits.items()},
            audit_verdict=verdicts.get(task.id, "not audited"),
        )
    job_seconds = {
        _job_label(j, tasks, ckpts): round(results[i]["seconds"], 2) for i, j in enumerate(jobs)
    }
    return Report(
        protocol=cfg.protocol,
        protocol_config=cfg.protocol_settings(),
        seeds=seeds,
        n_boot=cfg.n_boot,
        length_policy={"policy": LENGTH_POLICY, "description": LENGTH_POLICY_TEXT},
        iupac_policy=cfg.iupac,
        benchmark={"path": str(resolve_benchmark(cfg.benchmark)), "tasks": cfg.tasks},
        baseline_config=asdict(cfg.baselines),
        checkpoints=tuple(
            CheckpointEntry(
                name=c.name,
                path=str(c.path),
                model_type=c.config.model_type,
                vocab=c.vocab_name,
                max_length=c.max_length,
                hidden_size=getattr(c.config, "hidden_size", None),
            )
            for c in ckpts
        ),
        tasks=scores,
        run={"world_size": world, "seconds": round(seconds, 1), "job_seconds": job_seconds},
        notes=(PROBE_NOTE,) if cfg.protocol == "probe" else (),
    )


def _job_label(job: Job, tasks: list[Task], ckpts: list[Checkpoint]) -> str:
    if job.kind == "baselines":
        return f"baselines {tasks[job.task].id}"
    return f"{ckpts[job.ckpt].name} {job.init} seed {job.seed} {tasks[job.task].id}"


def _task_scores(
    task: Task, ti: int, ckpts: list[Checkpoint], by_key: dict, seeds: list[int], n_boot: int
) -> dict:
    """One task's protocol facts, baselines, models and comparisons."""
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
