"""Process-group set-up and teardown that behave on CPU clusters, GPU clusters and laptops.

Three measured problems are handled here (docs/training.md, "CPU notes"):
* DeepSpeed's CPU shared-memory all-reduce op JIT-compiles for up to a minute and leaves 66 MiB
  files in /dev/shm per rank and port that are never removed; gloo's all-reduce is used instead.
* gloo's default collective timeout is 30 minutes; a dead peer must fail this rank quickly.
* ZeRO-3 processes sometimes abort in C++ destructors at interpreter exit (exit 250); a barrier,
  destroying the process group and ``os._exit`` avoid it.
"""

from __future__ import annotations

import atexit
import importlib
import os
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

import torch

EXIT_GRACE_S = 10.0


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_single_process_env() -> None:
    """Let a plain ``python trainer/run.py`` run as a world of one (no launcher, no MPI probe)."""
    if "RANK" in os.environ:
        return
    os.environ.update(
        RANK="0",
        WORLD_SIZE="1",
        LOCAL_RANK="0",
        LOCAL_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=os.environ.get("MASTER_PORT", str(_free_port())),
    )


def disable_shm_allreduce() -> None:
    """Replace DeepSpeed's shared-memory all-reduce op builder with one that builds nothing.

    ``import deepspeed.comm.torch as m`` would bind the real ``torch`` package (the name clashes
    inside ``deepspeed.comm``), hence ``importlib``.
    """
    module = importlib.import_module("deepspeed.comm.torch")
    module.build_shm_op = lambda: None


def share_cpu_threads() -> None:
    """On CPU, give each local rank its share of the cores (unless OMP_NUM_THREADS says).

    torch defaults every process to all cores; two ranks on two cores then oversubscribe and a
    bert-tiny step was measured 10x slower than with one thread per rank.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    local = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("LOCAL_SIZE") or 1)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(local, 1)))


def init_distributed(timeout_s: float) -> DistInfo:
    """Start the process group (gloo on CPU, nccl on GPU) with a short collective timeout."""
    import deepspeed

    default_single_process_env()
    disable_shm_allreduce()
    deepspeed.init_distributed(timeout=timedelta(seconds=timeout_s), verbose=False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    else:
        share_cpu_threads()
    return DistInfo(
        rank=torch.distributed.get_rank(),
        world_size=torch.distributed.get_world_size(),
        local_rank=local_rank,
    )


def _exit(code: int) -> None:
    """``os._exit`` after the atexit handlers (streaming unlinks its /dev/shm files there).

    A watchdog makes sure a handler that blocks cannot keep a failed rank alive.
    """
    threading.Timer(EXIT_GRACE_S, os._exit, args=(code,)).start()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def finish(code: int = 0) -> None:
    """Leave cleanly after success: every rank done, group destroyed, no C++ exit-time abort."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    _exit(code)


def abort(message: str, code: int = 1) -> None:
    """Leave after a failure without touching collectives (a peer may be dead)."""
    print(message, file=sys.stderr, flush=True)
    _exit(code)
