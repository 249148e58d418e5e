"""Split independent jobs over the processes of ``accelerate launch`` and gather the results.

Every job (one model variant on one task, or one task's baselines) runs whole inside one process,
and its result depends only on the job, never on the process count or on which process ran it.
Rank 0 receives all results and does every computation that combines them (metrics, bootstrap,
report), so a 1-process and a 2-process run write the same numbers.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env


def assign(costs: Sequence[float], world: int) -> list[int]:
    """Rank of each job: longest job first onto the least-loaded rank (ties: lower index/rank).

    Depends on the costs alone, so the plan is the same on every rank.
    """
    loads = [(0.0, r) for r in range(world)]
    owner = [0] * len(costs)
    for j in sorted(range(len(costs)), key=lambda j: (-costs[j], j)):
        load, rank = heapq.heappop(loads)
        owner[j] = rank
        heapq.heappush(loads, (load + costs[j], rank))
    return owner


class Workers:
    """The launcher's processes: rank, world size, device, and a gather to rank 0."""

    def __init__(self, timeout_s: float = 3600.0) -> None:
        # PartialState only reads the launcher's CPU choice when told (Accelerator does this):
        # without cpu=True, `ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu` on a machine
        # without CUDA silently starts N independent single-process runs.
        cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
        self.state = PartialState(cpu=cpu, timeout=datetime.timedelta(seconds=timeout_s))
        self.rank = self.state.process_index
        self.world = self.state.num_processes
        self.is_main = self.state.is_main_process
        self.device = self.state.device

    def my_jobs(self, costs: Sequence[float]) -> list[int]:
        """Indices of the jobs this rank runs."""
        return [j for j, r in enumerate(assign(costs, self.world)) if r == self.rank]

    def gather(self, results: dict[int, Any]) -> dict[int, Any] | None:
        """All ranks' ``{job index: result}`` merged on rank 0 (None elsewhere)."""
        if self.world == 1:
            return dict(results)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        parts: list[Any] | None = [None] * self.world if self.is_main else None
        dist.gather_object(results, parts, dst=0)
        if not self.is_main:
            return None
        merged: dict[int, Any] = {}
        for part in parts:
            merged.update(part)
        return merged

    def close(self) -> None:
        """Tear the process group down so every rank exits cleanly."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
