"""The work of a scoring run: jobs, their relative costs, and running one in this process.

A job is a task's baselines or one model variant (checkpoint, init, seed) on a task; eval/run.py
splits the jobs over the launched processes (eval/jobs.py) and gathers what ``Runner.run``
returns on rank 0, which turns it into the report (eval/assemble.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.progress import Progress

from eval.baselines import run_baselines
from eval.benchmark import Task
from eval.cache import EmbeddingCache, checkpoint_digest, embedding_key
from eval.config import RunConfig
from eval.encoder import Checkpoint, build_encoder, embed, tokenize
from eval.finetune import build_classifier, finetune
from eval.probe import probe_task

if TYPE_CHECKING:  # torch loads with the first model, not at import
    import torch


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
    """Every job of a run: each task's baselines, then each checkpoint's model variants."""
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


class Runner:
    """Runs jobs in this process; caches the last encoder (jobs are ordered by model)."""

    def __init__(
        self,
        cfg: RunConfig,
        tasks: list[Task],
        ckpts: list[Checkpoint],
        device: torch.device,
        progress: Progress,
    ) -> None:
        self.cfg = cfg
        self.tasks = tasks
        self.ckpts = ckpts
        self.device = device
        self.progress = progress
        self._encoder_key: tuple | None = None
        self._encoder = None
        self.bars: dict[str, int] = {}
        self.cache = EmbeddingCache(cfg.cache_root)
        self._digests: dict[int, str] = {}

    def _advance(self, bar: str):
        return lambda n: self.progress.advance(self.bars[bar], n)

    def baselines(self, task: Task) -> dict:
        out = {}
        for name, res in run_baselines(task, self.cfg.baselines).items():
            out[name] = {
                "pred": task.positions(res.pred),
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
            self.cfg.embed_batch_size,
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
            self.cfg.embed_batch_size,
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
        res = probe_task(task, emb, self.cfg.probe)
        return {
            "pred": res.pred,
            "proba": res.proba,
            "extra": {"C": res.C, "dev_mcc": res.dev_mcc},
            "truncated": truncated,
        }

    def finetune(self, job: Job, task: Task, ckpt: Checkpoint) -> dict:
        splits = task.used_splits
        tokens = {s: tokenize(ckpt, task.splits[s].sequences) for s in splits}
        y = {s: task.positions(task.splits[s].labels) for s in splits}
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
