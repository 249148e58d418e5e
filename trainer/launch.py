"""Turn ``bash launch.sh train`` options into a ``deepspeed`` launcher command and run it.

    python -m trainer.launch [--nproc N] [--master-port P] -- TRAINER ARGS          one machine
    python -m trainer.launch --hostfile H [--launcher pdsh] -- TRAINER ARGS         ssh clusters
    python -m trainer.launch --nnodes N --node-rank R --master-addr A -- ARGS       no ssh (Slurm)

In node-rank mode every node runs this command with its own ``--node-rank``; a hostfile naming
``node0 .. node<N-1>`` is written into the run directory (the launcher needs one to size the
world; the names are never contacted with ``--no_ssh``). The trainer's arguments are checked
here first, so a bad argument fails before any launcher or process group starts.

``command`` builds the launcher command from a typed ``LaunchConfig``; the testbed calls it
in-process and spawns the DeepSpeed launcher itself (no ``python -m trainer.launch`` layer).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from dnapt.cli import command_parser, from_namespace, option
from dnapt.errors import print_error
from trainer.config import ConfigError, build_parser, config_from_namespace

RUN_PY = Path(__file__).resolve().parent / "run.py"
LAUNCHERS = ("pdsh", "openmpi", "mvapich", "slurm", "mpich", "impi")


class LaunchError(ValueError):
    """Inconsistent launcher options; the message says which and how to fix them."""


@dataclass(frozen=True)
class LaunchConfig:
    """Where the ranks come from: one machine, an ssh cluster (``hostfile``) or one node of a
    cluster without ssh (``nnodes``/``node_rank``/``master_addr``)."""

    nproc: int | None = option(
        None, help="processes per machine (default: the number of GPUs, or 1 on CPU)"
    )
    hostfile: Path | None = option(None, help="MPI-style hostfile ('host slots=N' lines)")
    launcher: str = option(
        "pdsh", choices=LAUNCHERS, help="multi-node backend for --hostfile (default: %(default)s)"
    )
    nnodes: int | None = option(None, help="number of nodes (node-rank mode)")
    node_rank: int | None = option(None, help="this node's rank in [0, nnodes)")
    master_addr: str | None = option(None, help="address of node 0, reachable from every node")
    master_port: int = option(29500, help="rendezvous port")

    @property
    def node_mode(self) -> bool:
        return any(v is not None for v in (self.nnodes, self.node_rank, self.master_addr))


@dataclass(frozen=True)
class Launch:
    """A DeepSpeed launcher command, the hostfile it reads (hostfile mode) and the one it needs
    written first (node-rank mode)."""

    argv: list[str]
    hostfile: Path | None = None
    node_hostfile: tuple[Path, str] | None = None

    def prepare(self) -> None:
        """Check the hostfile (``LaunchError``), or write the node-rank one (its names only size
        the world; ``--no_ssh`` never contacts them)."""
        if self.hostfile is not None:
            hostfile_slots(self.hostfile)
        if self.node_hostfile is not None:
            path, text = self.node_hostfile
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def build_launch_parser() -> argparse.ArgumentParser:
    return command_parser(
        LaunchConfig,
        prog="bash launch.sh train",
        description="Launch trainer/run.py with DeepSpeed on one machine, an ssh cluster "
        "(--hostfile) or one node of a cluster without ssh (--nnodes/--node-rank/--master-addr). "
        "Trainer arguments follow '--' (see: python trainer/run.py --help).",
    )


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


def _check(cfg: LaunchConfig) -> None:
    if cfg.nproc is not None and cfg.nproc < 1:
        raise LaunchError(f"--nproc {cfg.nproc}: must be >= 1")
    if cfg.hostfile and cfg.node_mode:
        raise LaunchError("--hostfile and --nnodes/--node-rank/--master-addr exclude each other")
    if cfg.node_mode:
        if cfg.nnodes is None or cfg.node_rank is None or not cfg.master_addr:
            raise LaunchError("node-rank mode needs all of --nnodes, --node-rank, --master-addr")
        if cfg.nnodes < 1 or not 0 <= cfg.node_rank < cfg.nnodes:
            raise LaunchError(f"--node-rank {cfg.node_rank} must be in [0, --nnodes {cfg.nnodes})")


def command(cfg: LaunchConfig, trainer_args: list[str], out: Path) -> Launch:
    """The DeepSpeed launcher command running ``trainer/run.py trainer_args`` (``out``: the run
    directory, which holds a node-rank hostfile). Pure: reads and writes no file, so the testbed
    can show it in a dry run; ``Launch.prepare`` checks and writes what it needs."""
    _check(cfg)
    cmd = [sys.executable, "-u", "-m", "deepspeed.launcher.runner"]
    nproc = cfg.nproc if cfg.nproc is not None else default_nproc()
    node_hostfile = None
    if cfg.hostfile:
        cmd += ["--hostfile", str(cfg.hostfile), "--launcher", cfg.launcher]
        if cfg.nproc:
            cmd += ["--num_gpus", str(cfg.nproc)]
    elif cfg.node_mode:
        path = out / "launch" / f"hostfile.node{cfg.node_rank}"
        node_hostfile = (path, "".join(f"node{i} slots={nproc}\n" for i in range(cfg.nnodes or 0)))
        cmd += ["--hostfile", str(path), "--no_ssh", "--node_rank", str(cfg.node_rank)]
        cmd += ["--master_addr", str(cfg.master_addr)]
    else:
        cmd += ["--num_gpus", str(nproc)]
    cmd += ["--master_port", str(cfg.master_port), str(RUN_PY), *trainer_args]
    return Launch(cmd, cfg.hostfile, node_hostfile)


def world_size(cfg: LaunchConfig) -> int:
    """The number of ranks ``command(cfg, ...)`` starts (reads the hostfile)."""
    _check(cfg)
    nproc = cfg.nproc if cfg.nproc is not None else default_nproc()
    if cfg.hostfile:
        return sum(min(s, cfg.nproc) if cfg.nproc else s for _, s in hostfile_slots(cfg.hostfile))
    return (cfg.nnodes or 1) * nproc if cfg.node_mode else nproc


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    launch_argv, trainer_argv = split_argv(argv)
    ns = build_launch_parser().parse_args(launch_argv)
    try:
        launch_cfg = from_namespace(LaunchConfig, ns)
        cfg = config_from_namespace(build_parser().parse_args(trainer_argv))
        launch = command(launch_cfg, trainer_argv, cfg.out)
        world = world_size(launch_cfg)
        from trainer.preflight import preflight  # transformers: only once the arguments parse

        preflight(cfg, world)
    except (ConfigError, LaunchError) as e:
        print_error("launch.sh train", e)
        sys.exit(2)
    launch.prepare()
    print(f"[dnapt] {shlex.join(launch.argv)}", file=sys.stderr, flush=True)
    os.execv(launch.argv[0], launch.argv)


if __name__ == "__main__":
    main()
