"""Bad runs fail before any process group starts, with a one-line reason."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_prep.manifest import seal
from tests.trainer.runs import ROOT, env, trainer_args
from trainer.checkpoint import tag_for
from trainer.config import ConfigError, parse_args
from trainer.preflight import preflight


def _plan(data: Path, out: Path, **opts: object):
    return preflight(parse_args(trainer_args(data, out, **opts)))


def test_a_good_run_resolves_everything_from_the_data(small_shards: Path, tmp_path: Path) -> None:
    plan = _plan(small_shards / "kmer6-overlap", tmp_path / "run")
    assert plan.max_len == 125 and plan.model_config.vocab_size == 4101
    assert plan.resume_tag is None and plan.micro_batch == 16
    resolved = plan.resolved(world_size=2)
    assert resolved.data.vocab == "kmer6-overlap" and resolved.world_size == 2
    json.dumps(resolved.to_json())  # config.json must be plain JSON


@pytest.mark.parametrize(
    "opts,match",
    [
        ({"model": "bert-huge"}, "--model bert-huge: unknown preset"),
        ({"max_len": 100}, r"--max-len 100 is smaller than the shards' longest window"),
        ({"masking": "neighbor"}, "neighbor masking .* overlapping k-mer"),
        ({"ds_config": "/nope.json"}, "--ds_config /nope.json: no such file"),
    ],
)
def test_bad_arguments(small_shards: Path, tmp_path: Path, opts: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _plan(small_shards / "char", tmp_path / "run", **opts)


def test_missing_shard_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        _plan(tmp_path / "nope" / "char", tmp_path / "run")


def _fake_checkpoint(run: Path, plan, steps: tuple[int, ...] = (4,)) -> None:
    """Checkpoint directories that look intact (every .pt a complete torch zip) for 2 ranks."""
    for step in steps:
        tag = run / "checkpoints" / tag_for(step)
        tag.mkdir(parents=True)
        for name in ("dnapt_rank0.pt", "dnapt_rank1.pt", "mp_rank_00_model_states.pt"):
            torch.save({"step": torch.tensor(step)}, tag / name)
    (run / "checkpoints" / "latest").write_text(tag_for(steps[-1]))
    plan.resolved(world_size=2).write(run / "config.json")


def test_resume_rules(small_shards: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_checkpoint(run, _plan(small_shards / "char", run))
    with pytest.raises(ConfigError, match="already holds checkpoints .* --resume auto"):
        _plan(small_shards / "char", run)
    assert _plan(small_shards / "char", run, resume="auto").resume_tag == "step_00000004"
    with pytest.raises(ConfigError, match="vocabulary differs"):
        _plan(small_shards / "kmer6-disjoint", run, resume="auto")
    with pytest.raises(ConfigError, match="seed differs"):
        _plan(small_shards / "char", run, resume="auto", seed=1)
    with pytest.raises(ConfigError, match="number of ranks differs"):
        preflight(parse_args(trainer_args(small_shards / "char", run, resume="auto")), 4)
    with pytest.raises(ConfigError, match="not a checkpoint directory"):
        _plan(small_shards / "char", run, resume=str(run))


def test_run_py_fails_in_one_line_without_a_process_group(
    small_shards: Path, tmp_path: Path
) -> None:
    data = tmp_path / "char"
    shutil.copytree(small_shards / "char", data)
    shutil.copy(small_shards / "manifest.json", tmp_path / "manifest.json")
    spec = json.loads((data / "vocab.json").read_text())
    spec["tokenizer_sha256"] = "0" * 64
    (data / "vocab.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "trainer" / "run.py"), *trainer_args(data, tmp_path / "r")],
        cwd=ROOT,
        env=env(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("trainer/run.py: error: --data:") and "disagree on tokenizer_sha256" in last
    )
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_out_that_is_a_file_is_refused(small_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.write_text("mine")
    with pytest.raises(ConfigError, match="--out .*run is an existing file, not a run directory"):
        _plan(small_shards / "char", out)
    assert out.read_text() == "mine"


def test_ds_config_that_is_a_directory(small_shards: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ds_configs: is a directory; name one JSON file"):
        _plan(small_shards / "char", tmp_path / "run", ds_config=ROOT / "ds_configs")


def test_shards_without_val_windows_fail_before_launch(small_shards: Path, tmp_path: Path) -> None:
    shutil.copytree(small_shards / "char", tmp_path / "char")
    manifest = json.loads((small_shards / "manifest.json").read_text())
    manifest["splits"]["val"]["windows"] = 0
    (tmp_path / "manifest.json").write_text(json.dumps(seal(manifest)))
    with pytest.raises(ConfigError, match="no val windows .* re-shard with --val-fraction > 0"):
        _plan(tmp_path / "char", tmp_path / "run")
    manifest["splits"]["val"]["windows"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(seal(manifest)))
    with pytest.raises(ConfigError, match="1 val windows for 2 ranks"):
        preflight(parse_args(trainer_args(tmp_path / "char", tmp_path / "run")), 2)


def test_hand_edited_manifest_is_refused(small_shards: Path, tmp_path: Path) -> None:
    shutil.copytree(small_shards / "char", tmp_path / "char")
    manifest = json.loads((small_shards / "manifest.json").read_text())
    manifest["splits"]["val"]["windows"] += 1  # edited without re-sealing
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="does not match its digest"):
        _plan(tmp_path / "char", tmp_path / "run")


def test_latest_naming_a_missing_checkpoint_falls_back(
    small_shards: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    _fake_checkpoint(run, _plan(small_shards / "char", run), steps=(2, 4))
    shutil.rmtree(run / "checkpoints" / "step_00000004")
    assert _plan(small_shards / "char", run, resume="auto").resume_tag == "step_00000002"
    err = capsys.readouterr().err
    assert "warning: checkpoint step_00000004 is unusable" in err and "step_00000002" in err
    shutil.rmtree(run / "checkpoints" / "step_00000002")
    with pytest.raises(ConfigError, match="no intact checkpoint .*/step_00000004 is missing"):
        _plan(small_shards / "char", run, resume="auto")


def test_truncated_newest_checkpoint_falls_back(small_shards: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    _fake_checkpoint(run, _plan(small_shards / "char", run), steps=(2, 4))
    newest = run / "checkpoints" / "step_00000004" / "mp_rank_00_model_states.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    assert _plan(small_shards / "char", run, resume="auto").resume_tag == "step_00000002"
    assert "mp_rank_00_model_states.pt is truncated or corrupt" in capsys.readouterr().err
    # named explicitly, a corrupt checkpoint is an error (no silent substitute)
    with pytest.raises(ConfigError, match="cannot resume: .*model_states.pt is truncated"):
        _plan(small_shards / "char", run, resume=str(newest.parent))


def test_edited_latest_pointer_cannot_leave_the_run(
    small_shards: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    _fake_checkpoint(run, _plan(small_shards / "char", run), steps=(2,))
    (run / "checkpoints" / "latest").write_text("../../../etc")
    with pytest.raises(ConfigError, match="not a checkpoint tag"):
        _plan(small_shards / "char", run)
    assert _plan(small_shards / "char", run, resume="auto").resume_tag == "step_00000002"
    err = capsys.readouterr().err
    assert (
        "checkpoint (latest) is unusable" in err and "names '../../../etc', not a checkpoint" in err
    )
