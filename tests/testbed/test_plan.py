"""The testbed's plan: cells and skips, equal-bases budgets, config keys, and commands that the
stage CLIs themselves accept."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from testbed.commands import (
    analysis_command,
    audit_command,
    eval_command,
    shard_command,
    train_command,
    trainer_args,
)
from testbed.keys import canonical_hash, shard_params, source_digests
from testbed.plan import (
    Budget,
    deep_merge,
    enumerate_cells,
    invalid_reason,
    masking_config,
    merged_ds_config,
    plan_budget,
    vocab_shape,
)
from testbed.recipe import ROOT, LauncherSpec, MaskingSpec, Recipe
from testbed.recipe_load import load_recipe


def recipe(name: str) -> Recipe:
    return load_recipe(ROOT / "recipes" / f"{name}.toml")


def plan(r: Recipe):
    ds = merged_ds_config(r)
    budget = plan_budget(r, ds)
    cells, skipped = enumerate_cells(r, budget, ds, source_digests(r))
    return budget, cells, skipped


def test_budget_is_bases_rounded_up_to_whole_steps() -> None:
    b = Budget(bases=40_960, window=128, micro_batch=16, grad_accum=1, world_size=1)
    assert (b.global_batch, b.steps, b.bases_seen) == (16, 20, 40_960)
    b = Budget(bases=40_961, window=128, micro_batch=8, grad_accum=2, world_size=2)
    assert (b.global_batch, b.steps, b.bases_seen) == (32, 11, 11 * 32 * 128)
    assert b.bases <= b.bases_seen < b.bases + b.global_batch * b.window
    assert b.every(1) == 11 and b.every(110) == 1 and b.every(2) == 6


def test_paper_budget_arithmetic() -> None:
    budget, cells, _ = plan(recipe("paper"))
    assert budget.global_batch == 32 * 4 * 16
    assert budget.steps == -(-30_000_000_000 // (2048 * 1024)) == 14_306
    assert {c.config["steps"] for c in cells} == {14_306}


def test_demo_matrix_lists_invalid_pairs_from_the_masking_module() -> None:
    r = recipe("demo")
    budget, cells, skipped = plan(r)
    pairs = [(c.vocab, c.masking.label) for c in cells]
    assert len(pairs) == 9 and len(set(pairs)) == 9
    assert ("kmer6-overlap", "neighbor") in pairs
    assert [(s.vocab, s.masking) for s in skipped] == [
        ("char", "neighbor"),
        ("kmer6-disjoint", "neighbor"),
        ("bpe-4096", "neighbor"),
    ]
    assert all("overlapping k-mer" in s.reason for s in skipped)
    assert {c.config["steps"] for c in cells} == {budget.steps}  # equal bases => equal steps


def test_invalid_reason_is_the_maskers_own() -> None:
    neighbor = MaskingSpec("neighbor", "neighbor", {})
    assert invalid_reason("kmer6-overlap", neighbor) is None
    assert "overlapping k-mer" in invalid_reason("kmer6-disjoint", neighbor)
    assert invalid_reason("char", MaskingSpec("leakfree", "leakfree", {"mean_span": 3.0})) is None


def test_canonical_hash_is_order_free_and_fixed() -> None:
    a = canonical_hash({"b": 1, "a": [1, {"y": 2, "x": 1}]})
    b = canonical_hash({"a": [1, {"x": 1, "y": 2}], "b": 1})
    assert a == b == hashlib.sha256(b'{"a":[1,{"x":1,"y":2}],"b":1}').hexdigest()
    assert canonical_hash({"a": [2, 1]}) != canonical_hash({"a": [1, 2]})


def test_cell_keys_are_stable_and_change_only_with_their_config() -> None:
    r = recipe("smoke")
    _, cells, _ = plan(r)
    _, again, _ = plan(recipe("smoke"))
    assert [c.id for c in cells] == [c.id for c in again]
    ids = {(c.vocab, c.masking.label): c.id for c in cells}
    assert ids[("char", "leakfree")].startswith("char.leakfree.s0.")

    # A different leakfree span changes the leakfree cells only.
    masking = tuple(
        replace(m, params={**m.params, "mean_span": 4.0}) if m.strategy == "leakfree" else m
        for m in r.masking
    )
    _, changed, _ = plan(replace(r, masking=masking))
    new = {(c.vocab, c.masking.label): c.id for c in changed}
    assert new[("kmer6-overlap", "neighbor")] == ids[("kmer6-overlap", "neighbor")]
    assert new[("char", "leakfree")] != ids[("char", "leakfree")]

    # Adding a vocabulary adds cells and keeps the others' keys.
    _, more, _ = plan(replace(r, vocabs=(*r.vocabs, "kmer6-disjoint")))
    assert {c.id for c in cells} < {c.id for c in more}

    # The budget and the window define every cell.
    _, other, _ = plan(replace(r, budget_bases=r.budget_bases * 2))
    assert not {c.id for c in other} & {c.id for c in cells}
    _, other, _ = plan(replace(r, corpus=replace(r.corpus, window=256)))
    assert not {c.id for c in other} & {c.id for c in cells}


def test_ds_override_merges_table_by_table() -> None:
    base = {"a": 1, "bf16": {"enabled": "auto", "x": 1}, "l": [1]}
    merged = deep_merge(base, {"bf16": {"enabled": True}, "l": [2]})
    assert merged == {"a": 1, "bf16": {"enabled": True, "x": 1}, "l": [2]}
    assert base["bf16"]["enabled"] == "auto"
    ds = merged_ds_config(recipe("paper"))
    assert ds["bf16"]["enabled"] is True and ds["zero_optimization"]["stage"] == 2


def test_vocab_shapes_match_real_shards(small_shards: Path) -> None:
    manifest = json.loads((small_shards / "manifest.json").read_text())
    for name, v in manifest["vocabs"].items():
        shape = vocab_shape(name)
        assert shape.family == v["family"] and shape.k == v["k"]
        if shape.family == "bpe":
            assert v["size"] <= shape.size
        else:
            assert shape.size == v["size"]


def test_shard_command_gives_exactly_the_planned_manifest_params(tmp_path: Path) -> None:
    from data_prep.shard import build_parser, config_from_args

    for name in ("smoke", "demo", "paper"):
        r = recipe(name)
        cmd = shard_command(r, tmp_path / "s", overwrite=False)
        assert cmd[1].endswith("data_prep/shard.py")
        cfg = config_from_args(build_parser().parse_args(cmd[2:]))
        params = json.loads(json.dumps(cfg.params().to_json()))
        if name == "paper":  # its FASTA is absent here: shard.py keeps a missing path as given
            assert params["inputs"] == list(r.corpus.sources)
        assert params == json.loads(json.dumps(shard_params(r)))


def test_findings_matrix_objectives_and_restricted_maskings() -> None:
    r = recipe("findings")
    budget, cells, skipped = plan(r)
    rows = sorted({(c.vocab, c.masking.label) for c in cells})
    assert rows == [
        ("char", "leakfree"),
        ("char", "random"),
        ("kmer6-overlap", "leakfree"),
        ("kmer6-overlap", "leakfree-hb"),
        ("kmer6-overlap", "neighbor"),
        ("kmer6-overlap", "random"),
    ]
    assert len(cells) == 12 and {c.seed for c in cells} == {0, 1}
    assert {(s.vocab, s.masking) for s in skipped} == {
        ("char", "neighbor"),
        ("char", "leakfree-hb"),
    }
    assert budget.bases_seen == 2_048_000 and budget.steps == 2000
    hb = [c for c in cells if c.masking.label == "leakfree-hb"]
    lf = [c for c in cells if c.vocab == "kmer6-overlap" and c.masking.label == "leakfree"]
    # the objective is part of the key only where it is not the default
    assert all(c.config["objective"] == "hidden-bases" for c in hb)
    assert all("objective" not in c.config for c in lf)
    assert {c.key for c in hb}.isdisjoint({c.key for c in lf})


def test_trainer_accepts_every_cell_command(tmp_path: Path) -> None:
    for name in ("demo", "findings"):
        check_cell_commands(recipe(name), tmp_path)


def check_cell_commands(r: Recipe, tmp_path: Path) -> None:
    from trainer.config import parse_args

    budget, cells, _ = plan(r)
    for cell in cells:
        args = trainer_args(r, cell, budget, tmp_path / "shards", tmp_path / "ds.json", tmp_path)
        cfg = parse_args(args)
        assert cfg.masking == masking_config(cell.masking)
        assert cfg.max_steps == budget.steps and cfg.resume == "auto"
        assert cfg.data == str(tmp_path / "shards" / cell.vocab)
        assert cfg.objective == cell.masking.objective


@pytest.mark.parametrize(
    ("mode", "expect"),
    [
        ("local1", ["trainer/run.py"]),
        (
            "local2",
            ["-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", "29810"],
        ),
        ("hostfile", ["--hostfile", "/h", "--launcher", "pdsh", "--num_gpus", "2"]),
        ("node-rank", ["--no_ssh", "--node_rank", "1", "--master_addr", "10.0.0.1"]),
    ],
)
def test_train_command_per_launcher(mode: str, expect: list[str], tmp_path: Path) -> None:
    """The testbed spawns the DeepSpeed launcher itself (``trainer.launch.command``); the
    launcher's own parser accepts the command, and the trainer's accepts what it runs."""
    from deepspeed.launcher.runner import parse_args as deepspeed_args

    from trainer.config import parse_args
    from trainer.launch import RUN_PY, LaunchError

    r = recipe("smoke")
    lc = {
        "local1": LauncherSpec("local", 1, 1, None, "pdsh", None, 29810, None),
        "local2": LauncherSpec("local", 2, 1, None, "pdsh", None, 29810, None),
        "hostfile": LauncherSpec("hostfile", 2, 2, Path("/h"), "pdsh", None, 29810, None),
        "node-rank": LauncherSpec("node-rank", 1, 2, None, "pdsh", "10.0.0.1", 29810, None),
    }[mode]
    r = replace(r, launcher=lc)
    budget, cells, _ = plan(r)
    run = tmp_path / "run"
    launch = train_command(r, cells[0], budget, tmp_path, tmp_path / "ds.json", run, 1)
    cmd = launch.argv
    assert " ".join(expect) in " ".join(cmd)
    i = cmd.index(str(RUN_PY)) if mode != "local1" else 1
    assert parse_args(cmd[i + 1 :]).out == run
    if mode != "local1":
        ds = deepspeed_args(cmd[4:])
        assert ds.user_script == str(RUN_PY) and ds.master_port == 29810
    if mode == "node-rank":
        assert launch.node_hostfile == (
            run / "launch" / "hostfile.node1",
            "node0 slots=1\nnode1 slots=1\n",
        )
        assert not (run / "launch").exists()  # written by Launch.prepare, not by planning
    else:
        assert launch.node_hostfile is None
    if mode == "hostfile":  # checked when the run starts (the dry run shows it unchecked)
        with pytest.raises(LaunchError, match="--hostfile /h: no such file"):
            launch.prepare()


def test_stage_commands_parse_with_their_clis(tmp_path: Path) -> None:
    from data_prep.analyze_vocab import build_parser as analysis_parser
    from data_prep.analyze_vocab import config_from_args
    from eval.audit import parse_args as audit_args
    from eval.run import parse_args as run_args

    r = recipe("smoke")
    ns = analysis_parser().parse_args(analysis_command(r, tmp_path / "s", tmp_path / "v")[2:])
    analysis = config_from_args(ns)  # the recipe's [vocab.report] reaches the stage typed
    assert analysis.robust_windows == 500 and analysis.benchmark is None and analysis.no_benchmark
    assert analysis.out == tmp_path / "v"
    audit = audit_args(audit_command(r, tmp_path / "a")[2:])
    assert audit.tasks == ",".join(r.eval.tasks) and audit.n_boot == 200 == r.eval.audit.n_boot
    one = replace(r, eval=replace(r.eval, nproc=1))
    cmd, env = eval_command(
        one, [tmp_path / "x" / "hf"], tmp_path / "c.json", tmp_path / "o", False
    )
    assert env == {} and cmd[1].endswith("eval/run.py")
    cfg = run_args(cmd[2:])
    assert cfg.protocol == "probe" and cfg.seeds == 2 and cfg.tasks.startswith("curated:")
    assert cfg.n_boot == 200 and cfg.checkpoints == (str(tmp_path / "x" / "hf"),)
    assert replace(cfg, checkpoints=(), out="", tasks="all", benchmark=None) == replace(
        r.eval.run, benchmark=None
    )  # every other option is the recipe's [eval.run], as RunConfig
    two = replace(r, eval=replace(r.eval, nproc=2))
    cmd, env = eval_command(two, [tmp_path / "hf"], tmp_path / "c.json", tmp_path / "o", False)
    assert env == {"ACCELERATE_USE_CPU": "1"} and "--cpu" not in cmd
    assert cmd[cmd.index("--num_processes") + 1] == "2"


def test_suite_step_builds_once_and_feeds_audit_and_scoring(tmp_path: Path, monkeypatch) -> None:
    from eval.audit import parse_args as audit_args
    from eval.make_task import parse_args as make_args
    from eval.run import parse_args as run_args
    from testbed import commands, keys

    r = recipe("demo")
    assert r.eval.suite == "core"
    suite = tmp_path / "suite"
    made = make_args(commands.suite_command(r, suite)[2:])
    assert made.suite == "core" and made.out == suite and made.overwrite
    audit = audit_args(audit_command(r, tmp_path / "a", suite)[2:])
    assert audit.benchmark == str(suite)
    cmd, _ = eval_command(r, [tmp_path / "hf"], tmp_path / "c.json", tmp_path / "o", False, suite)
    assert run_args(cmd[cmd.index("--checkpoint") :]).benchmark == str(suite)
    key = keys.audit_key(r)
    assert keys.suite_key(r) == keys.suite_key(r) and keys.audit_key(r) == key
    monkeypatch.setattr(keys, "suite_key", lambda _r: "edited spec")
    assert keys.audit_key(r) != key  # a changed suite re-runs the audit
