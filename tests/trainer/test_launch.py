"""trainer.launch: local, hostfile and node-rank launcher commands; bad input fails first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dnapt.cli import from_namespace
from tests.trainer.runs import ROOT, env, trainer_args
from trainer.launch import (
    LaunchConfig,
    LaunchError,
    build_launch_parser,
    command,
    split_argv,
    world_size,
)

TRAINER = ["--data", "d", "--out", "o"]


def _cmd(tmp_path: Path, *launch: str) -> tuple[list[str], int]:
    cfg = from_namespace(LaunchConfig, build_launch_parser().parse_args(list(launch)))
    run = command(cfg, TRAINER, tmp_path / "run")
    run.prepare()
    return run.argv, world_size(cfg)


def test_split_at_double_dash() -> None:
    assert split_argv(["--nproc", "2", "--", "--data", "d"]) == (["--nproc", "2"], ["--data", "d"])
    assert split_argv(["--data", "d"]) == ([], ["--data", "d"])


def test_local(tmp_path: Path) -> None:
    cmd, world = _cmd(tmp_path, "--nproc", "2", "--master-port", "29555")
    assert cmd[1:4] == ["-u", "-m", "deepspeed.launcher.runner"]
    assert cmd[4:8] == ["--num_gpus", "2", "--master_port", "29555"]
    assert cmd[8].endswith("trainer/run.py") and cmd[9:] == TRAINER and world == 2


def test_hostfile(tmp_path: Path) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# cluster\nworker-0 slots=4\nworker-1 slots=4\n")
    cmd, world = _cmd(tmp_path, "--hostfile", str(hostfile))
    assert ["--hostfile", str(hostfile), "--launcher", "pdsh"] == cmd[4:8] and world == 8
    cmd, world = _cmd(tmp_path, "--hostfile", str(hostfile), "--nproc", "2")
    assert "--num_gpus" in cmd and world == 4


def test_node_rank_mode_writes_a_hostfile(tmp_path: Path) -> None:
    cmd, world = _cmd(
        tmp_path, "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1", "--nproc", "3"
    )
    hostfile = tmp_path / "run" / "launch" / "hostfile.node1"
    assert hostfile.read_text() == "node0 slots=3\nnode1 slots=3\n" and world == 6
    i = cmd.index("--hostfile")
    assert cmd[i : i + 8] == [
        "--hostfile",
        str(hostfile),
        "--no_ssh",
        "--node_rank",
        "1",
        "--master_addr",
        "10.0.0.1",
        "--master_port",
    ]


@pytest.mark.parametrize(
    "launch,match",
    [
        (["--nnodes", "2", "--node-rank", "0"], "needs all of"),
        (["--nnodes", "2", "--node-rank", "2", "--master-addr", "a"], r"must be in \[0"),
        (["--nproc", "0"], "must be >= 1"),
    ],
)
def test_inconsistent_options(tmp_path: Path, launch: list[str], match: str) -> None:
    with pytest.raises(LaunchError, match=match):
        _cmd(tmp_path, *launch)


def test_bad_hostfiles(tmp_path: Path) -> None:
    (tmp_path / "h").write_text("worker-0\n")
    with pytest.raises(LaunchError, match="needs 'HOST slots=N'"):
        _cmd(tmp_path, "--hostfile", str(tmp_path / "h"))
    with pytest.raises(LaunchError, match="exclude each other"):
        _cmd(tmp_path, "--hostfile", str(tmp_path / "h"), "--nnodes", "2")


def test_bad_trainer_args_fail_before_any_launcher(small_shards: Path, tmp_path: Path) -> None:
    args = trainer_args(small_shards / "char", tmp_path / "run", model="bert-huge")
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.launch", "--nproc", "2", "--", *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("launch.sh train: error: --model bert-huge: unknown preset")
    )
    assert "deepspeed.launcher" not in proc.stderr
