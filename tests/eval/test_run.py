"""Scoring end to end: probe report schema, baselines and from-scratch present, 1 vs 2
processes identical, fine-tune selection on dev, curated repairs applied."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.assemble import audit_verdicts
from eval.benchmark import load_task
from eval.contracts import Report
from eval.jobs import assign
from eval.run import RunConfig, load_inputs
from eval.run import main as run_main
from tests.eval.evalkit import free_port, random_seqs, write_task

ROOT = Path(__file__).resolve().parents[2]
REAL = "UCI/ecoli_promoters,UCI/splice_junction"  # binary and 3-class
METRICS = {"mcc", "accuracy", "macro_f1", "auroc"}


def _probe_argv(
    ckpt: Path, bench: Path, out: Path, tasks: str = REAL, cache: str = "--no-cache"
) -> list[str]:
    """Probe arguments; no embeddings cache unless asked, so every run really computes."""
    return [
        "--checkpoint", str(ckpt), "--benchmark", str(bench), "--tasks", tasks,
        "--protocol", "probe", "--seeds", "2", "--out", str(out), "--n-boot", "300",
        *cache.split(),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def probe_report(tiny_checkpoint: Path, benchmark_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report1")
    assert run_main(_probe_argv(tiny_checkpoint, benchmark_dir, out)) == 0
    return out


@pytest.mark.slow
def test_probe_report_schema(probe_report: Path) -> None:
    report = json.loads((probe_report / "report.json").read_text())
    assert report["schema_version"] == 1 and report["protocol"] == "probe"
    typed = Report.read(probe_report / "report.json")  # every key, in the order on disk
    assert json.dumps(typed.to_json()) == json.dumps(report)
    assert list(report)[-1] == "notes" and typed.tasks["UCI/splice_junction"].classes == [0, 1, 2]
    assert report["protocol_config"]["Cs"] == [0.001, 0.01, 0.1, 1.0, 10.0]
    assert report["seeds"] == [0, 1] and report["length_policy"]["policy"] == "center"
    assert report["checkpoints"][0]["vocab"] == "kmer6-overlap"
    assert set(report["tasks"]) == set(REAL.split(","))
    assert report["tasks"]["UCI/splice_junction"]["classes"] == [0, 1, 2]
    for task in report["tasks"].values():
        assert set(task["baselines"]) == {"majority", "gc_length_lr", "kmer_lr", "cnn"}
        assert task["baselines"]["cnn"]["params"]["selected_on"] == "dev"
        assert task["audit_verdict"] == "not audited"
        assert task["train_split"] == "train" and task["selection_split"] == "dev"
        model = task["models"]["tinyrun0"]
        assert set(model) == {"pretrained", "scratch", "truncated"}
        assert model["truncated"] == {"train": 0, "dev": 0, "test": 0}
        for init in ("pretrained", "scratch"):
            s = model[init]
            assert [r["seed"] for r in s["per_seed"]] == [0, 1]
            assert set(s["mean"]) == METRICS and set(s["sd"]) == METRICS
            lo, hi = s["mcc_ci95"]
            assert lo <= s["mean"]["mcc"] <= hi
            assert all(r["C"] in (0.001, 0.01, 0.1, 1.0, 10.0) for r in s["per_seed"])
        assert model["pretrained"]["sd"]["mcc"] == 0.0  # frozen probe: deterministic
        assert model["scratch"]["mean"]["auroc"] is not None
        comparison = task["comparisons"]["tinyrun0"]
        assert comparison["verdict"] in {
            "pretraining beats from-scratch",
            "from-scratch beats pretraining",
            "no significant difference",
        }
        assert comparison["delta_mcc_ci95"][0] <= comparison["delta_mcc_ci95"][1]
    with open(probe_report / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["init"]) for r in rows} >= {
        ("tinyrun0", "pretrained"), ("tinyrun0", "scratch"), ("kmer_lr", "baseline"),
    }  # fmt: skip
    assert (probe_report / "report.png").stat().st_size > 10_000
    assert (
        "pretraining beats" in (probe_report / "report.md").read_text()
        or "significant" in (probe_report / "report.md").read_text()
    )


@pytest.mark.slow
def test_two_processes_give_the_same_report(
    probe_report: Path, tiny_checkpoint: Path, benchmark_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report2"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "eval" / "run.py"),
        *_probe_argv(tiny_checkpoint, benchmark_dir, out),
    ]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=480)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads((probe_report / "report.json").read_text())
    two = json.loads((out / "report.json").read_text())
    assert one["run"]["world_size"] == 1 and two["run"]["world_size"] == 2
    assert one["tasks"] == two["tasks"]


def test_finetune_selects_on_dev_and_marks_dev_trained_tasks(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)

    def rows(n: int) -> list[tuple[str, int]]:
        y = rng.integers(0, 2, n)
        return [(random_seqs(rng, 1, 40, (0.3, 0.7)[v])[0], int(v)) for v in y]

    bench = tmp_path / "bench"
    write_task(bench, "syn/full", {"train": rows(96), "dev": rows(40), "test": rows(60)})
    write_task(bench, "syn/devonly", {"dev": rows(64), "test": rows(60)})
    out = tmp_path / "ft"
    argv = [
        "--checkpoint", str(tiny_checkpoint), "--benchmark", str(bench), "--protocol", "finetune",
        "--seeds", "1", "--ft-epochs", "2", "--ft-lr", "1e-3", "--out", str(out), "--n-boot", "100",
    ]  # fmt: skip
    assert run_main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["protocol_config"]["epochs"] == 2
    full = report["tasks"]["syn/full"]["models"]["tinyrun0"]
    for init in ("pretrained", "scratch"):
        run = full[init]["per_seed"][0]
        assert len(run["dev_mcc_by_epoch"]) == 2
        assert run["best_epoch"] == 1 + int(np.argmax(run["dev_mcc_by_epoch"]))
        assert run["dev_mcc"] == max(run["dev_mcc_by_epoch"])
    dev_only = report["tasks"]["syn/devonly"]
    assert dev_only["train_split"] == "dev" and dev_only["selection_split"] is None
    run = dev_only["models"]["tinyrun0"]["pretrained"]["per_seed"][0]
    assert run["best_epoch"] == 2 and run["dev_mcc"] is None
    assert "## syn/devonly†" in (out / "report.md").read_text()
    with open(out / "report.csv") as f:
        rows_csv = [r for r in csv.DictReader(f) if r["task"] == "syn/devonly"]
    assert {r["model_selection"] for r in rows_csv} == {"none"}


def test_curated_repairs_are_applied(tiny_checkpoint: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    seqs = random_seqs(rng, 30, 30)
    write_task(tmp_path, "s/t", {"dev": [(s, i % 2) for i, s in enumerate(seqs[:10])],
                                 "test": [(s, i % 2) for i, s in enumerate(seqs[10:])]})  # fmt: skip
    task = load_task(tmp_path, "s/t")
    curated = tmp_path / "curated.json"
    curated.write_text(json.dumps({
        "tasks": ["s/t"],
        "sha256": {"s/t": {k: v.sha256 for k, v in task.splits.items()}},
        "exclude_test_rows": {"s/t": [0, 5]},
        "verdicts": {"s/t": "keep"},
    }))  # fmt: skip
    cfg = RunConfig(
        checkpoints=(str(tiny_checkpoint),),
        out="x",
        benchmark=str(tmp_path),
        tasks=f"curated:{curated}",
    )
    tasks, excluded, ckpts = load_inputs(cfg)
    assert excluded == {"s/t": 2} and len(tasks[0].test) == 18
    assert tasks[0].test.sequences[0] == seqs[11]
    assert audit_verdicts(cfg.tasks) == {"s/t": "keep"} and audit_verdicts("s/t") == {}


def test_job_assignment_balances_and_is_deterministic() -> None:
    costs = [10, 1, 1, 8, 3, 3]
    owner = assign(costs, 2)
    assert owner == assign(costs, 2)
    loads = [sum(c for c, o in zip(costs, owner, strict=True) if o == r) for r in (0, 1)]
    assert abs(loads[0] - loads[1]) <= 2
    assert assign(costs, 1) == [0] * 6


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--probe-cs", "abc"], "--probe-cs 'abc': give comma-separated positive numbers"),
        (["--probe-cs", "1,-2"], "--probe-cs '1,-2'"),
        (["--batch-size", "0"], "--batch-size 0: must be >= 1"),
        (["--n-boot", "0"], "--n-boot 0: must be >= 1"),
        (["--ft-epochs", "0"], "--ft-epochs 0: must be >= 1"),
        (["--ft-lr", "0"], "--ft-lr 0.0: must be > 0"),
        (["--ft-warmup-ratio", "1"], "--ft-warmup-ratio 1.0: must be < 1"),
        (["--max-length", "2"], "--max-length 2: must be >= 3"),
    ],
)
def test_bad_arguments_fail_before_any_work(
    extra: list[str], needle: str, tmp_path: Path, capsys
) -> None:
    with pytest.raises(SystemExit) as e:
        run_main(["--checkpoint", "x", "--out", str(tmp_path / "o"), *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_run_directory_points_at_its_export(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    for sub in ("checkpoints", "model", "hf"):
        (run / sub).mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "hf" / "config.json").write_text("{}")
    write_task(
        tmp_path / "b",
        "s/t",
        {"dev": [("ACGT", 0), ("ACGA", 1)], "test": [("ACGT", 0), ("ACGA", 1)]},
    )
    argv = [
        "--checkpoint",
        str(run),
        "--benchmark",
        str(tmp_path / "b"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert run_main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert (
        line
        == f"eval/run.py: error: {run} is a dnapt run directory, not a checkpoint: use --checkpoint {run / 'hf'}"
    )


def test_out_that_is_a_file_fails_before_scoring(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "report"
    out.write_text("mine")
    write_task(
        tmp_path / "b",
        "s/t",
        {"dev": [("ACGT", 0), ("ACGA", 1)], "test": [("ACGT", 0), ("ACGA", 1)]},
    )
    argv = [
        "--checkpoint",
        str(tiny_checkpoint),
        "--benchmark",
        str(tmp_path / "b"),
        "--out",
        str(out),
    ]
    assert run_main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--out" in line and "is an existing file" in line and out.read_text() == "mine"


def test_report_counts_changed_rows(tiny_checkpoint: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    seqs = random_seqs(rng, 24, 30)
    dev = [(s.lower() if i == 0 else s, i % 2) for i, s in enumerate(seqs[:12])]
    test = [(s[:5] + "R" + s[6:] if i < 3 else s, i % 2) for i, s in enumerate(seqs[12:])]
    write_task(tmp_path / "b", "s/t", {"dev": dev, "test": test})
    out = tmp_path / "o"
    argv = ["--checkpoint", str(tiny_checkpoint), "--benchmark", str(tmp_path / "b"), "--out", str(out),
            "--iupac", "n", "--seeds", "1", "--n-boot", "50"]  # fmt: skip
    assert run_main(argv) == 0
    task = json.loads((out / "report.json").read_text())["tasks"]["s/t"]
    assert task["rows_changed"]["test"] == {
        "iupac_rows": 3,
        "lowercase_rows": 0,
        "stripped_rows": 0,
    }
    assert task["rows_changed"]["dev"]["lowercase_rows"] == 1
    assert "test: 3 iupac rows changed" in (out / "report.md").read_text()


def test_rescore_from_cache_loads_no_model_and_matches(
    tiny_checkpoint: Path, benchmark_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second probe of the same checkpoint reads every embedding from the cache (no encoder
    is built at all) and gives the same report; a changed checkpoint misses."""
    import eval.runner as run_mod

    cache = f"--cache-dir {tmp_path / 'cache'}"
    task = "UCI/ecoli_promoters"
    first = tmp_path / "first"
    assert run_main(_probe_argv(tiny_checkpoint, benchmark_dir, first, task, cache)) == 0
    assert list((tmp_path / "cache").rglob("*.npz"))

    def no_model(*a, **k):
        raise AssertionError("the cache should have made building an encoder unnecessary")

    monkeypatch.setattr(run_mod, "build_encoder", no_model)
    second = tmp_path / "second"
    assert run_main(_probe_argv(tiny_checkpoint, benchmark_dir, second, task, cache)) == 0
    one = json.loads((first / "report.json").read_text())
    two = json.loads((second / "report.json").read_text())
    assert one["tasks"] == two["tasks"]
    with pytest.raises(AssertionError, match="cache should have"):
        run_main(_probe_argv(tiny_checkpoint, benchmark_dir, tmp_path / "x", task, "--no-cache"))
