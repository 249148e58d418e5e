"""Turn ``bash launch.sh train`` options into a ``deepspeed`` launcher command and run it.

    python -m trainer.launch [--nproc N] [--master-port P] -- TRAINER ARGS          one machine
    python -m trainer.launch --hostfile H [--launcher pdsh] -- TRAINER ARGS         ssh clusters
    python -m trainer.launch --nnodes N --node-rank R --master-addr A -- ARGS       no ssh (Slurm)

In node-rank mode every node runs this command with its own ``--node-rank``; a hostfile naming
``node0 .. node<N-1>`` is written into the run directory (the launcher needs one to size the
world; the names are never contacted with ``--no_ssh``). The trainer's arguments are checked
here first, so a bad argument fails before any launcher or process group starts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from data_prep.errors import print_error
from trainer.config import ConfigError, build_parser, config_from_namespace

RUN_PY = Path(__file__).resolve().parent / "run.py"
LAUNCHERS = ("pdsh", "openmpi", "mvapich", "slurm", "mpich", "impi")


class LaunchError(ValueError):
    """Inconsistent launcher options; the message says which and how to fix them."""


def build_launch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bash launch.sh train",
        description="Launch trainer/run.py with DeepSpeed on one machine, an ssh cluster "
        "(--hostfile) or one node of a cluster without ssh (--nnodes/--node-rank/--master-addr). "
        "Trainer arguments follow '--' (see: python trainer/run.py --help).",
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="processes per machine (default: the number of GPUs, or 1 on CPU)",
    )
    p.add_argument("--hostfile", type=Path, help="MPI-style hostfile ('host slots=N' lines)")
    p.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="pdsh",
        help="multi-node backend for --hostfile (default: %(default)s)",
    )
    p.add_argument("--nnodes", type=int, help="number of nodes (node-rank mode)")
    p.add_argument("--node-rank", type=int, help="this node's rank in [0, nnodes)")
    p.add_argument("--master-addr", help="address of node 0, reachable from every node")
    p.add_argument("--master-port", type=int, default=29500, help="rendezvous port")
    return p


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(launcher args, trainer args): split at the first '--'."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return [], argv


def default_nproc() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1


def hostfile_slots(path: Path) -> list[tuple[str, int]]:
    """(host, slots) per non-comment line of an MPI-style hostfile."""
    if not path.is_file():
        raise LaunchError(f"--hostfile {path}: no such file")
    hosts = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        slots = [p.split("=", 1)[1] for p in parts[1:] if p.startswith("slots=")]
        if not slots or not slots[0].isdigit():
            raise LaunchError(f"--hostfile {path}: line '{line}' needs 'HOST slots=N'")
        hosts.append((parts[0], int(slots[0])))
    if not hosts:
        raise LaunchError(f"--hostfile {path}: lists no hosts")
    return hosts


def launcher_command(
    ns: argparse.Namespace, trainer_args: list[str], out: Path
) -> tuple[list[str], int]:
    """The launcher command and the world size it will start."""
    cmd = [sys.executable, "-u", "-m", "deepspeed.launcher.runner"]
    node_mode = any(v is not None for v in (ns.nnodes, ns.node_rank, ns.master_addr))
    if ns.nproc is not None and ns.nproc < 1:
        raise LaunchError(f"--nproc {ns.nproc}: must be >= 1")
    nproc = ns.nproc if ns.nproc is not None else default_nproc()
    if ns.hostfile and node_mode:
        raise LaunchError("--hostfile and --nnodes/--node-rank/--master-addr exclude each other")
    if ns.hostfile:
        hosts = hostfile_slots(ns.hostfile)
        per_host = [min(s, ns.nproc) if ns.nproc else s for _, s in hosts]
        cmd += ["--hostfile", str(ns.hostfile), "--launcher", ns.launcher]
        if ns.nproc:
            cmd += ["--num_gpus", str(ns.nproc)]
        world = sum(per_host)
    elif node_mode:
        if ns.nnodes is None or ns.node_rank is None or not ns.master_addr:
            raise LaunchError("node-rank mode needs all of --nnodes, --node-rank, --master-addr")
        if ns.nnodes < 1 or not 0 <= ns.node_rank < ns.nnodes:
            raise LaunchError(f"--node-rank {ns.node_rank} must be in [0, --nnodes {ns.nnodes})")
        hostfile = out / "launch" / f"hostfile.node{ns.node_rank}"
        hostfile.parent.mkdir(parents=True, exist_ok=True)
        hostfile.write_text("".join(f"node{i} slots={nproc}\n" for i in range(ns.nnodes)))
        cmd += ["--hostfile", str(hostfile), "--no_ssh", "--node_rank", str(ns.node_rank)]
        cmd += ["--master_addr", ns.master_addr]
        world = ns.nnodes * nproc
    else:
        cmd += ["--num_gpus", str(nproc)]
        world = nproc
    cmd += ["--master_port", str(ns.master_port), str(RUN_PY), *trainer_args]
    return cmd, world


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    launch_argv, trainer_argv = split_argv(argv)
    ns = build_launch_parser().parse_args(launch_argv)
    try:
        cfg = config_from_namespace(build_parser().parse_args(trainer_argv))
        cmd, world = launcher_command(ns, trainer_argv, cfg.out)
        from trainer.preflight import preflight  # transformers: only once the arguments parse

        preflight(cfg, world)
    except (ConfigError, LaunchError) as e:
        print_error("launch.sh train", e)
        sys.exit(2)
    print(f"[dnapt] {shlex.join(cmd)}", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
