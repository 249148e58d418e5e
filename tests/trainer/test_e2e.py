"""End to end on real data: shard E. coli, train bert-tiny on 2 ranks, kill, resume, export.

Slow (several launches of 2 CPU ranks) but part of CI: it is the only proof that resume is exact,
that two "nodes" equal one launcher, that a dead rank cannot hang the others, and that exports
load in plain transformers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.trainer.runs import (
    ROOT,
    env,
    free_port,
    launch_cmd,
    metrics,
    run,
    start,
    trainer_args,
)
from trainer.bphb import VAL_MASKING, VAL_SEED
from trainer.checkpoint import checkpoint_tags, latest_tag
from trainer.data import build_eval_batches
from trainer.export import export_run
from trainer.masking import build_masker
from trainer.run_record import ResolvedRun
from trainer.shards import open_shards
from trainer.step import mlm_forward

pytestmark = pytest.mark.slow

SHM = Path("/dev/shm")


def shm_files() -> set[str]:
    return set(os.listdir(SHM)) if SHM.is_dir() else set()


def streaming_prefixes(data: Path) -> set[str]:
    """Prefixes of the live streaming shared memory that reads ``data`` (its ``_locals`` file
    lists the local directories)."""
    found = set()
    for path in SHM.glob("*_locals"):
        with contextlib.suppress(OSError):
            if str(data).encode() in path.read_bytes():
                found.add(path.name.split("_", 1)[0])
    return found


def remove_killed_shm(prefixes: set[str]) -> None:
    """SIGKILL leaves the killed ranks' streaming shared memory behind (nothing of theirs runs at
    exit): remove it by prefix. DeepSpeed's all-reduce buffers must never appear at all."""
    assert not [f for f in shm_files() if f.startswith("deepspeed")]
    for prefix in prefixes:
        for path in SHM.glob(f"{prefix}_*"):
            path.unlink(missing_ok=True)


def wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = metrics(run_dir)
        if done and done[-1]["step"] >= step:
            return
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    raise TimeoutError(f"step {step} not reached in {timeout} s")


def two_nodes(args: list[str], tmp: Path, name: str) -> list[subprocess.Popen]:
    """Two single-rank 'nodes' on this machine: one /dev/shm, so LOCAL_WORLD_SIZE=2."""
    port = free_port()
    return [
        start(
            launch_cmd(
                args,
                "--nnodes",
                "2",
                "--node-rank",
                str(r),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                "--nproc",
                "1",
            ),
            tmp / f"{name}.node{r}.log",
            LOCAL_WORLD_SIZE="2",
        )
        for r in range(2)
    ]


def losses(run_dir: Path, kind: str = "train") -> list[tuple[int, float]]:
    key = "loss" if kind == "train" else "val_loss"
    return [(r["step"], r[key]) for r in metrics(run_dir, kind)]


def assert_same_curve(a: Path, b: Path) -> None:
    for kind in ("train", "val"):
        la, lb = losses(a, kind), losses(b, kind)
        assert [s for s, _ in la] == [s for s, _ in lb]
        for (step, x), (_, y) in zip(la, lb, strict=True):
            assert abs(x - y) <= 1e-6, f"{kind} loss differs at step {step}: {x} vs {y}"


def val_loss_rel_tol(run_dir: Path) -> float:
    """Relative tolerance between the run's in-trainer val loss and the fp32 export's.

    ``bf16.enabled: "auto"`` turns bf16 on where the CPU has native bf16 (AVX512-BF16/AMX), off
    elsewhere; the run's resolved config says which. fp32 against fp32 differs only by summation
    order (1e-5); a bf16 forward pass rounds every activation to an 8-bit mantissa, and measured
    differences were 3e-5 to 3.6e-4 relative, so bf16 gets 1e-3: still below what a wrong val
    subset gives (2 ranks vs 1 process covering different windows: 2e-3 to 6e-3).
    """
    resolved = ResolvedRun.read(run_dir / "config.json").ds_config
    return 1e-3 if resolved.get("bf16", {}).get("enabled") is True else 1e-5


def plain_val_loss(hf: Path, data: Path, n: int = 64) -> float:
    """Val loss of an exported model on the run's fixed validation subset (one process)."""
    from transformers import AutoModelForMaskedLM

    shards = open_shards(str(data))
    batches = build_eval_batches(
        shards,
        build_masker(VAL_MASKING, shards.vocab),
        VAL_SEED,
        n,
        shards.max_tokens + 2,
        16,
        rank=0,
        world=1,
    )
    model = AutoModelForMaskedLM.from_pretrained(hf).eval()
    total = count = 0.0
    with torch.no_grad():
        for b in batches:
            out = mlm_forward(model, b.input_ids, b.attention_mask, b.labels)
            total += float(out.loss) * float(out.labelled)
            count += float(out.labelled)
    return total / count


@pytest.fixture(scope="module")
def reference(ecoli_char: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Uninterrupted 2-rank ZeRO-2 run: 8 steps, checkpoints every 2, eval every 4."""
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "run"
    port = free_port()
    run(
        launch_cmd(trainer_args(ecoli_char, out), "--nproc", "2", "--master-port", str(port)),
        tmp / "run.log",
    )
    return out


def test_reference_run_writes_the_documented_layout(reference: Path) -> None:
    train, val = metrics(reference), metrics(reference, "val")
    assert [r["step"] for r in train] == list(range(1, 9))
    for key in (
        "loss",
        "accuracy",
        "lr",
        "grad_norm",
        "tokens_per_s",
        "samples_per_s",
        "masked_token_frac",
        "hidden_base_frac",
        "leak_frac",
        "epoch",
    ):
        assert all(r[key] is not None for r in train), key
    assert train[-1]["loss"] < train[0]["loss"]
    assert [r["step"] for r in val] == [4, 8]
    assert all(0 < r["val_bphb"] < 3 and r["val_labelled_tokens"] > 0 for r in val)
    ckpt = reference / "checkpoints"
    assert latest_tag(ckpt) == "step_00000008"
    assert checkpoint_tags(ckpt) == ["step_00000006", "step_00000008"]  # --keep-last 2
    assert sorted(p.name for p in (ckpt / "step_00000008").glob("dnapt_rank*.pt")) == [
        "dnapt_rank0.pt",
        "dnapt_rank1.pt",
    ]
    cfg = ResolvedRun.read(reference / "config.json")
    assert cfg.world_size == 2 and cfg.data.vocab == "char" and cfg.max_len == 130
    assert cfg.ds_config["scheduler"]["params"]["total_num_steps"] == 8
    assert list((reference / "tensorboard").glob("events.out.tfevents.*"))
    assert (reference / "hf" / "model.safetensors").is_file()
    assert not {f for f in shm_files() if f.startswith("deepspeed")}


def test_sigkill_then_resume_is_exact(reference: Path, ecoli_char: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    port = free_port()
    proc = start(
        launch_cmd(trainer_args(ecoli_char, out), "--nproc", "2", "--master-port", str(port)),
        tmp_path / "killed.log",
    )
    try:
        wait_for_step(out, 3, proc, timeout=240)
        killed_shm = streaming_prefixes(ecoli_char)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    tag = latest_tag(out / "checkpoints")
    assert tag in ("step_00000002", "step_00000004"), tag

    run(
        launch_cmd(
            trainer_args(ecoli_char, out, resume="auto"), "--nproc", "2", "--master-port", str(port)
        ),
        tmp_path / "resumed.log",
    )
    assert f"resumed from {out / 'checkpoints' / tag}" in (tmp_path / "resumed.log").read_text()
    assert_same_curve(reference, out)
    ref_w = load_file(reference / "hf" / "model.safetensors")
    got_w = load_file(out / "hf" / "model.safetensors")
    assert ref_w.keys() == got_w.keys()
    assert all(torch.equal(ref_w[k], got_w[k]) for k in ref_w)
    remove_killed_shm(killed_shm)


def test_two_nodes_equal_one_launcher(reference: Path, ecoli_char: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    procs = two_nodes(trainer_args(ecoli_char, out), tmp_path, "two")
    codes = [p.wait(timeout=240) for p in procs]
    assert codes == [0, 0], (tmp_path / "two.node0.log").read_text()[-3000:]
    assert_same_curve(reference, out)


def test_export_loads_in_plain_transformers(reference: Path, ecoli_char: Path) -> None:
    hf = reference / "hf"
    probe = (
        "import json, sys\n"
        "from transformers import AutoModelForMaskedLM, AutoTokenizer\n"
        f"m = AutoModelForMaskedLM.from_pretrained({str(hf)!r})\n"
        f"t = AutoTokenizer.from_pretrained({str(hf)!r})\n"
        "ours = sorted({n.split('.')[0] for n in sys.modules} & {'trainer', 'data_prep', 'eval'})\n"
        "print(json.dumps({'ids': t('ACGTN')['input_ids'], 'ours': ours,\n"
        "                  'cls': type(m).__name__}))\n"
    )
    plain = {k: v for k, v in env().items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd="/",
        env=plain,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"ids": [2, 5, 6, 7, 8, 9, 3], "ours": [], "cls": "BertForMaskedLM"}
    final_val = metrics(reference, "val")[-1]["val_loss"]
    assert plain_val_loss(hf, ecoli_char) == pytest.approx(
        final_val, rel=val_loss_rel_tol(reference)
    )


def test_zero3_remote_data_checkpoint_consolidates_on_export(
    ecoli_char: Path, tmp_path: Path
) -> None:
    """ZeRO-3 partitions -> one HF model; the data is read as a remote (through --cache-dir)."""
    out = tmp_path / "run"
    zero3 = ROOT / "ds_configs" / "zero3.json"
    args = trainer_args(
        ecoli_char, out, ds_config=zero3, max_steps=3, eval_every=3, cache_dir=tmp_path / "cache"
    )
    run(launch_cmd(args, "--nproc", "2", "--master-port", str(free_port())), tmp_path / "z3.log")
    assert list((tmp_path / "cache" / "char" / "train").glob("shard.*.mds*"))
    final_val = metrics(out, "val")[-1]["val_loss"]
    tol = val_loss_rel_tol(out)
    assert plain_val_loss(out / "hf", ecoli_char) == pytest.approx(final_val, rel=tol)

    again = tmp_path / "again"
    cli = [sys.executable, str(ROOT / "trainer" / "export.py"), str(out), "--out", str(again)]
    subprocess.run(cli, cwd=ROOT, env=env(), check=True, capture_output=True, timeout=120)
    a, b = load_file(out / "hf" / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    older = export_run(out, tag="step_00000002", out=tmp_path / "older")
    c = load_file(older / "model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_killed_rank_fails_the_other_node_fast(ecoli_char: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = trainer_args(
        ecoli_char, out, max_steps=100_000, eval_every=100_000, save_every=100_000, dist_timeout=20
    )
    node0, node1 = two_nodes(args, tmp_path, "fail")
    try:
        wait_for_step(out, 2, node0, timeout=240)
        killed_shm = streaming_prefixes(ecoli_char)
        os.killpg(node1.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        rc = node0.wait(timeout=90)
        elapsed = time.monotonic() - killed_at
    finally:
        for p in (node0, node1):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert rc != 0 and elapsed < 60, f"node 0 exited {rc} after {elapsed:.0f} s"
    assert "failed" in (tmp_path / "fail.node0.log").read_text()
    remove_killed_shm(killed_shm)
