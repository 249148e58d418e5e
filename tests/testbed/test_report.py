"""The testbed report from fake run outputs: row figures, pooling over seeds, failures, files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from testbed.render import TABLE_HEADER, render_markdown, write_outputs
from testbed.report import RunResult, build_testbed, read_metrics, run_metrics, seed_mccs
from trainer.run_record import RunRecordError, TrainRecord, ValRecord

TASKS = ("UCI/splice_junction", "GUE/prom_core_tata")


def train_records(losses: list[float], leak: float) -> list[TrainRecord]:
    return [
        TrainRecord(
            step=2 * (i + 1),
            loss=loss,
            tokens_per_s=1000.0 + i,
            masked_token_frac=0.15,
            hidden_base_frac=0.1,
            leak_frac=leak,
        )
        for i, loss in enumerate(losses)
    ]


def summary(mccs: list[float]) -> dict:
    return {
        "per_seed": [{"seed": s, "mcc": m} for s, m in enumerate(mccs)],
        "mean": {"mcc": statistics.fmean(mccs)},
        "sd": {"mcc": statistics.stdev(mccs) if len(mccs) > 1 else 0.0},
        "mcc_ci95": [min(mccs) - 0.1, max(mccs) + 0.1],
    }


def score(pre: dict[str, list[float]], scratch: list[float]) -> dict:
    return {
        t: {
            "pretrained": summary(pre[t]),
            "scratch": summary(scratch),
            "truncated": {"test": 0},
            "comparison": {"verdict": "no significant difference"},
        }
        for t in TASKS
    }


def task_info() -> dict:
    base = {"mcc": 0.5, "accuracy": 0.7, "macro_f1": 0.6, "auroc": 0.8, "mcc_ci95": [0.4, 0.6]}
    return {
        TASKS[0]: {
            "train_split": "train",
            "note": "",
            "baselines": {"kmer_lr": base, "gc_length_lr": base},
        },
        TASKS[1]: {
            "train_split": "dev",
            "note": "no train",
            "baselines": {"kmer_lr": base, "gc_length_lr": base},
        },
    }


def runs() -> list[RunResult]:
    ok = dict(status="ok", wall_s=60.0)
    return [
        RunResult(
            "char.random.s0.a",
            "char",
            "random",
            "random",
            0,
            "a",
            **ok,
            train=train_records([3.0, 2.0, 1.5, 1.4, 1.3], 0.0),
            val=[ValRecord(step=10, val_bphb=1.9, val_hidden_base_accuracy=0.3)],
            score=score({TASKS[0]: [0.4, 0.4], TASKS[1]: [0.2, 0.2]}, [0.1, 0.3]),
        ),
        RunResult(
            "char.random.s1.b",
            "char",
            "random",
            "random",
            1,
            "b",
            **ok,
            train=train_records([3.0, 2.0, 1.6, 1.5, 1.4], 0.0),
            val=[ValRecord(step=10, val_bphb=1.7, val_hidden_base_accuracy=0.4)],
            score=score({TASKS[0]: [0.6, 0.6], TASKS[1]: [0.4, 0.4]}, [0.1, 0.3]),
        ),
        RunResult(
            "kmer6-overlap.neighbor.s0.c",
            "kmer6-overlap",
            "neighbor",
            "neighbor",
            0,
            "c",
            **ok,
            train=train_records([8.0, 1.0, 0.5, 0.4, 0.3], 0.9),
            val=[ValRecord(step=10, val_bphb=1.95)],
            score=score({TASKS[0]: [0.1, 0.1], TASKS[1]: [0.0, 0.0]}, [0.0, 0.2]),
        ),
        RunResult(
            "kmer6-overlap.leakfree.s0.d",
            "kmer6-overlap",
            "leakfree",
            "leakfree",
            0,
            "d",
            status="failed",
            log="/x/d.log",
        ),
    ]


def context() -> dict:
    return {
        "recipe": {
            "name": "fake",
            "description": "fake runs",
            "path": "r.toml",
            "sha256": "0" * 64,
            "model": "bert-tiny",
        },
        "budget": {
            "bases": 1000,
            "window": 100,
            "global_batch": 1,
            "steps": 10,
            "bases_seen": 1000,
            "epochs": 0.5,
        },
        "data": {"sources": ["ecoli_k12"], "windows": {"train": 20, "val": 2}},
        "eval": {"protocol": "probe", "seeds": 2, "dropped": ["UCI/ecoli_promoters"]},
        "timing": {"total_s": 300.0, "steps": {}},
        "reproducibility": {
            "command": "python -m testbed r.toml",
            "git": {"commit": "abc", "dirty": False},
            "packages": {"torch": "2"},
            "hardware": {
                "cpu": "cpu",
                "cpu_count": 2,
                "usable_cpus": 2,
                "memory_gib": 8,
                "gpus": [],
                "platform": "linux",
            },
            "data": {
                "manifest_sha256": "f" * 64,
                "sources": [{"input": "ecoli_k12", "sha256": "e" * 64}],
            },
        },
    }


def make_testbed() -> dict:
    skipped = [
        {"vocab": "char", "masking": "neighbor", "reason": "neighbor needs overlapping k-mers"}
    ]
    return build_testbed(context(), runs(), skipped, task_info(), bases_per_step=100)


def test_run_metrics_definitions() -> None:
    m = run_metrics(runs()[0])
    assert m["final_train_loss"] == pytest.approx((1.5 + 1.4 + 1.3) / 3)  # last 3 intervals
    assert m["val_bphb"] == 1.9 and m["leak_frac"] == 0.0 and m["steps"] == 10
    assert m["tokens_per_s"] == 1002.0  # median


def test_rows_pool_training_and_eval_seeds() -> None:
    rows = {(r["vocab"], r["masking"]): r for r in make_testbed()["rows"]}
    char = rows[("char", "random")]
    assert char["seeds"] == [0, 1] and char["status"] == "ok" and char["scored"]
    # per (train seed, eval seed): mean over tasks -> 0.3, 0.3 (seed 0 run), 0.5, 0.5 (seed 1 run)
    assert char["mcc_mean"] == pytest.approx(0.4)
    assert char["mcc_sd"] == pytest.approx(statistics.stdev([0.3, 0.3, 0.5, 0.5]))
    assert char["mcc_n"] == 4
    assert char["val_bphb"] == pytest.approx(1.8) and char["val_bphb_sd"] == pytest.approx(
        0.1414, abs=1e-3
    )
    assert char["scratch_mcc_mean"] == pytest.approx(0.2)
    assert char["tasks"][TASKS[0]]["mcc_mean"] == pytest.approx(0.5)
    assert set(char["tasks"][TASKS[0]]["vs_scratch"]) == {"char.random.s0.a", "char.random.s1.b"}
    leak = rows[("kmer6-overlap", "leakfree")]
    assert (
        leak["status"] == "failed" and leak["mcc_mean"] is None and leak["final_train_loss"] is None
    )
    assert rows[("kmer6-overlap", "neighbor")]["leak_frac"] == pytest.approx(0.9)


def test_seed_mccs_averages_tasks_per_seed() -> None:
    s = score({TASKS[0]: [0.2, 0.4], TASKS[1]: [0.0, 0.6]}, [0.0, 0.0])
    assert seed_mccs(s, "pretrained") == pytest.approx({0: 0.1, 1: 0.5})


def test_markdown_has_table_skips_failures_and_task_marks() -> None:
    md = render_markdown(make_testbed())
    assert "| " + " | ".join(TABLE_HEADER) + " |" in md
    assert (
        "| char | random | 1.45 ± 0.07 | - | 1.800 ± 0.141 | - | 0.000 | 0.100 | 0.400 ± 0.115 |"
        in md
    )
    assert "char × neighbor: neighbor needs overlapping k-mers" in md
    assert "`kmer6-overlap.leakfree.s0.d`: failed (log: `/x/d.log`)" in md
    assert "GUE/prom_core_tata†" in md  # trained on dev
    assert "kmer6-overlap from scratch" in md and "audit dropped: UCI/ecoli_promoters" in md
    assert "git commit `abc`" in md


def test_write_outputs(tmp_path: Path) -> None:
    tb = make_testbed()
    paths = write_outputs(tb, tmp_path)
    assert [p.name for p in paths] == [
        "testbed.json",
        "testbed.md",
        "loss_curves.png",
        "bphb_vs_mcc.png",
    ]
    loaded = json.loads(paths[0].read_text())
    assert loaded["schema_version"] == 1 and len(loaded["rows"]) == 3 and len(loaded["runs"]) == 4
    run = loaded["runs"][0]
    assert run["train_curve"][0] == [2, 200, 3.0]  # step, bases seen, loss
    for png in paths[2:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_metrics(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    recs = [{"kind": "train", "step": 1, "loss": 2.0}, {"kind": "val", "step": 1, "val_bphb": 1.9}]
    # A file written before schema_version existed; a last line cut short by a kill is skipped.
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + '\n{"kind": "tr')
    train, val = read_metrics(path)
    assert train == [TrainRecord(step=1, loss=2.0)] and val == [ValRecord(step=1, val_bphb=1.9)]
    assert read_metrics(tmp_path / "absent.jsonl") == ([], [])


def test_metrics_contract_errors(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"kind": "train", "step": 1, "schema_version": 99}\n')
    with pytest.raises(RunRecordError, match=r"line 1: schema_version 99 is newer .* update dnapt"):
        read_metrics(path)
    path.write_text('{"kind": "trian", "step": 1}\n{"kind": "val", "step": 1}\n')
    with pytest.raises(RunRecordError, match="line 1: kind 'trian'"):
        read_metrics(path)
    path.write_text('{"kind": "tr\n{"kind": "val", "step": 1}\n')
    with pytest.raises(RunRecordError, match="line 1: not JSON"):
        read_metrics(path)
