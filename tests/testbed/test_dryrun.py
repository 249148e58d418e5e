"""The dry run: manifest arithmetic matches real shards, model FLOPs are counted right, and the
paper recipe plans completely without its data (CI runs the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.manifest import Manifest
from testbed.dryrun import dry_run_lines
from testbed.estimate import (
    corpus_counts,
    manifest_matches,
    model_size,
    tokens_per_window,
    train_flops,
)
from testbed.recipe import ROOT
from testbed.recipe_load import load_recipe


def small_shards_recipe(tmp_path: Path, fasta: Path) -> Path:
    """A recipe with exactly the parameters of the session's ``small_shards`` fixture."""
    path = tmp_path / "small.toml"
    path.write_text(
        f"""
[corpus]
sources = ["{fasta}"]
window = 128
val_fraction = 0.1

[vocab]
names = ["char", "kmer6-overlap", "kmer6-disjoint", "bpe-256"]

[[masking]]
strategy = "random"

[model]
preset = "bert-tiny"

[deepspeed]
config = "ds_configs/zero0.json"

[budget]
bases = 4096
"""
    )
    return path


def test_estimates_equal_the_real_manifest(
    tmp_path: Path, small_shards: Path, ecoli_slice: Path
) -> None:
    recipe = load_recipe(small_shards_recipe(tmp_path, ecoli_slice))
    manifest = Manifest.read(small_shards / "manifest.json")
    assert manifest_matches(manifest, recipe)
    exact = corpus_counts(recipe, small_shards)
    assert exact.exact and exact.source == "manifest"
    guess = corpus_counts(recipe, tmp_path / "no-shards")  # scans the FASTA instead
    assert not guess.exact
    assert guess.windows == exact.windows and guess.bases == exact.bases
    for name in ("char", "kmer6-overlap", "kmer6-disjoint"):  # N-free E. coli: exact
        assert guess.vocabs[name].tokens == exact.vocabs[name].tokens
        assert guess.vocabs[name].max_tokens == exact.vocabs[name].max_tokens
    assert tokens_per_window("kmer6-disjoint", 128) == (21 + 2, 21 + 2)


def test_model_size_counts_the_real_model() -> None:
    from transformers import AutoModelForMaskedLM

    from trainer.models import model_config

    size = model_size("bert-tiny", 4101, 125)
    real = AutoModelForMaskedLM.from_config(model_config("bert-tiny", 4101, 125))
    assert size.params == sum(p.numel() for p in real.parameters())
    lookups = 125 * 64 + 2 * 64  # position and token-type embeddings
    assert size.flop_params == size.params - lookups
    assert train_flops(size, 1000) == 6 * size.flop_params * 1000 + 6 * 2 * 125 * 64 * 1000


def test_paper_dry_run_without_data(tmp_path: Path) -> None:
    recipe = load_recipe(ROOT / "recipes" / "paper.toml")
    assert not Path(recipe.corpus.sources[0]).exists()
    text = "\n".join(dry_run_lines(recipe, tmp_path / "out", tmp_path / "out" / "shards"))
    assert "record lengths from [corpus.expected_record_lengths]" in text
    assert f"{46_709_983 // 1024:,} windows" in text  # chr21, held out whole
    assert "= 14,306; bases seen 30,001,856,512" in text
    train = [line for line in text.splitlines() if "deepspeed.launcher.runner" in line]
    assert len(train) == 9
    assert all("--no_ssh --node_rank 0" in line and "--model bert-base" in line for line in train)
    assert "GPU-hours" in text and "eval/audit.py" in text and "eval/run.py" in text
    assert "--protocol finetune --seeds 3" in text


def test_paper_dry_run_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "testbed", "recipes/paper.toml", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "commands, in order" in out.stdout and "total over 9 runs" in out.stdout


def test_dry_run_without_sizes_says_what_to_add(tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "paper.toml").read_text()
    text = text[: text.index("[corpus.expected_record_lengths]")] + text[text.index("[vocab]") :]
    path = tmp_path / "p.toml"
    path.write_text(text)
    recipe = load_recipe(path)
    from testbed.recipe import RecipeError

    with pytest.raises(RecipeError, match=r"add \[corpus.expected_record_lengths\]"):
        dry_run_lines(recipe, tmp_path, tmp_path / "shards")
