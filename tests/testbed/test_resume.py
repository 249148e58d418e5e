"""Resume: a results folder whose steps are all done reruns nothing; a missing cell is trained
(with --resume auto) and scored alone. The stages are replaced by fakes that write their outputs,
so this runs in seconds and needs none of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import testbed.run as tbmod
from eval.contracts import CheckpointEntry, Report, TaskScores
from testbed.commands import on_gpu
from testbed.keys import analysis_key, audit_key, shard_params, source_digests
from testbed.layout import CELL_MARKER, KEY_MARKER, layout_for
from testbed.recipe import ROOT
from testbed.recipe_load import load_recipe
from testbed.scores import split_report
from trainer.config import TrainConfig
from trainer.run_record import ResolvedRun, RunData

TASK = "UCI/splice_junction"


def fake_manifest(recipe) -> dict:
    """Every key ``data_prep.manifest.Manifest`` requires, with made-up counts."""
    return {
        "dnapt_version": "test",
        "params": shard_params(recipe),
        "sources": [
            {"input": s, "file": "x.fa", "sha256": d, "bytes": 1, "records": 1, "bases": 1}
            for s, d in zip(recipe.corpus.sources, source_digests(recipe), strict=True)
        ],
        "splits": {s: {"records": 1, "windows": 10, "bases": 1280} for s in ("train", "val")},
        "vocabs": {
            v: {
                "name": v,
                "family": "char",
                "k": None,
                "dtype": "uint16",
                "size": 10,
                "max_tokens": 128,
                "tokenizer_sha256": "t" * 64,
                "files": {},
                "splits": {s: {"tokens": 1280} for s in ("train", "val")},
            }
            for v in recipe.vocabs
        },
    }


def summary(mcc: float) -> dict:
    return {
        "per_seed": [{"seed": 0, "mcc": mcc}, {"seed": 1, "mcc": mcc}],
        "mean": {"mcc": mcc},
        "sd": {"mcc": 0.0},
        "mcc_ci95": [mcc - 0.1, mcc + 0.1],
    }


def fake_report(names: list[str]) -> dict:
    """A report.json as eval/run.py writes it (through its contract), with made-up scores."""
    base = {"mcc": 0.5, "accuracy": 0.7, "macro_f1": 0.6, "auroc": None, "mcc_ci95": [0.4, 0.6]}
    task = TaskScores(
        classes=[0, 1],
        train_split="train",
        selection_split="dev",
        note="",
        n={"train": 10, "dev": 2, "test": 2},
        baselines={"kmer_lr": base, "gc_length_lr": base},
        models={
            n: {"pretrained": summary(0.3), "scratch": summary(0.1), "truncated": {}} for n in names
        },
        comparisons={n: {"verdict": "no significant difference"} for n in names},
    )
    return Report(
        protocol="probe",
        protocol_config={},
        seeds=[0, 1],
        n_boot=10,
        length_policy={},
        iupac_policy="error",
        benchmark={},
        baseline_config={},
        checkpoints=tuple(
            CheckpointEntry(n, f"/runs/{n}/hf", "bert", "char", 34, 8) for n in names
        ),
        tasks={TASK: task},
        run={},
    ).to_json()


def write_trained_run(run: Path, key: str) -> None:
    (run / "hf").mkdir(parents=True, exist_ok=True)
    (run / "hf" / "config.json").write_text("{}")
    ResolvedRun(
        train=TrainConfig(
            ds_config=ROOT / "ds_configs" / "zero0.json", data="shards/char", out=run
        ),
        world_size=1,
        max_len=130,
        data=RunData("char", 10, "char", 1, 128, 128, "0" * 64, "0" * 64),
        val_masking={},
        model={},
        ds_config={"zero_optimization": {"stage": 0}},
    ).write(run / "config.json")
    recs = [
        {"kind": "train", "step": 20, "loss": 2.0, "tokens_per_s": 900.0, "leak_frac": 0.0},
        {"kind": "val", "step": 20, "val_bphb": 1.95},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (run / CELL_MARKER).write_text(json.dumps({"key": key, "wall_s": 12.0, "started": 1.0}))


@pytest.fixture
def finished(tmp_path: Path) -> tbmod.Testbed:
    """A smoke results folder in which every step is done."""
    recipe = load_recipe(ROOT / "recipes" / "smoke.toml")
    tb = tbmod.Testbed(recipe, layout_for(recipe, tmp_path / "res"))
    lay = tb.layout
    lay.shards.mkdir(parents=True)
    (lay.shards / "manifest.json").write_text(json.dumps(fake_manifest(recipe)))
    lay.vocab_report.mkdir(parents=True)
    (lay.vocab_report / "vocab_report.json").write_text("{}")
    key = analysis_key(recipe, (lay.shards / "manifest.json").read_bytes())
    (lay.vocab_report / KEY_MARKER).write_text(key)
    lay.audit.mkdir(parents=True)
    curated = {"tasks": [TASK], "verdicts": {TASK: "flag", "UCI/x": "drop"}}
    (lay.audit / "curated.json").write_text(json.dumps(curated))
    (lay.audit / KEY_MARKER).write_text(audit_key(recipe))
    for cell in tb.cells:
        write_trained_run(tb.run_dir(cell), cell.key)
    scores = tb.scores_dir(lay.audit / "curated.json")
    batch = scores / "batch-1"
    batch.mkdir(parents=True)
    (batch / "report.json").write_text(json.dumps(fake_report([c.id for c in tb.cells])))
    stamps = {c.id: tb.trained_stamp(c) for c in tb.cells}
    split_report(batch / "report.json", tb.cells, scores, stamps)
    return tb


def test_a_finished_folder_reruns_nothing(finished: tbmod.Testbed, monkeypatch) -> None:
    def no_stage(cmd, *a, **k):
        raise AssertionError(f"a stage ran: {cmd}")

    monkeypatch.setattr(tbmod, "run_logged", no_stage)
    assert finished.run() == 0
    out = json.loads((finished.layout.out / "testbed.json").read_text())
    assert [(r["vocab"], r["masking"]) for r in out["rows"]] == [
        ("char", "leakfree"),
        ("kmer6-overlap", "neighbor"),
        ("kmer6-overlap", "leakfree"),
    ]
    assert all(r["mcc_mean"] == pytest.approx(0.3) for r in out["rows"])
    assert out["skipped"][0]["vocab"] == "char" and out["eval"]["dropped"] == ["UCI/x"]
    steps = out["timing"]["steps"]
    assert steps["shard"]["skipped"] and steps["analysis"]["skipped"] and steps["audit"]["skipped"]
    assert steps["eval"]["skipped"]


def test_a_missing_cell_is_trained_with_resume_and_scored_alone(
    finished: tbmod.Testbed, monkeypatch
) -> None:
    target = finished.cells[1]
    run = finished.run_dir(target)
    shutil.rmtree(run)
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("step_00000010")  # an interrupted run
    calls = []

    def fake_stage(cmd, log, verbose, env=None):
        calls.append(cmd)
        assert on_gpu() or env["OMP_NUM_THREADS"] == "1"  # the recipe's cpu_threads
        if "--max-steps" in cmd:  # training: the trainer writes its run dir; the testbed the marker
            assert cmd[cmd.index("--resume") + 1] == "auto"
            assert cmd[cmd.index("--out") + 1] == str(run)
            write_trained_run(run, "written-by-testbed")
            (run / CELL_MARKER).unlink()
        else:  # scoring: only the new checkpoint
            ckpts = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--checkpoint"]
            assert ckpts == [str(run / "hf")]
            out = Path(cmd[cmd.index("--out") + 1])
            out.mkdir(parents=True)
            (out / "report.json").write_text(json.dumps(fake_report([target.id])))
        return 0, 1.0, []

    monkeypatch.setattr(tbmod, "run_logged", fake_stage)
    assert finished.run() == 0
    assert len(calls) == 2
    marker = json.loads((run / CELL_MARKER).read_text())
    assert marker["key"] == target.key and marker["resumed_from"] == "step_00000010"
    scores = finished.scores_dir(finished.layout.audit / "curated.json")
    assert (scores / "batch-2" / "report.json").is_file()
    assert (scores / "cells" / f"{target.id}.json").is_file()


def test_a_failed_cell_is_reported_and_the_rest_goes_on(
    finished: tbmod.Testbed, monkeypatch
) -> None:
    target = finished.cells[0]
    shutil.rmtree(finished.run_dir(target))

    def failing(cmd, log, verbose, env=None):
        if "--max-steps" in cmd:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("boom\n")
            return 1, 1.0, ["boom"]
        raise AssertionError("nothing left to score")

    monkeypatch.setattr(tbmod, "run_logged", failing)
    assert finished.run() == 1
    out = json.loads((finished.layout.out / "testbed.json").read_text())
    row = out["rows"][0]
    assert row["status"] == "failed" and row["mcc_mean"] is None
    assert "failed" in (finished.layout.out / "testbed.md").read_text()


def test_split_report_names_a_missing_model(finished: tbmod.Testbed, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(fake_report(["someone-else"])))
    with pytest.raises(tbmod.TestbedError, match="has no model"):
        split_report(path, finished.cells, tmp_path / "scores", {})


def test_a_second_concurrent_run_is_refused(finished: tbmod.Testbed) -> None:
    with tbmod.results_lock(finished.layout.out), pytest.raises(tbmod.TestbedError, match="in use"):
        finished.run()
    assert finished.run() == 0  # the lock is released with its holder
