"""The testbed command line: a recipe may be named as well as given by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.cli import main, recipe_path
from testbed.recipe import ROOT, RecipeError


def test_a_recipe_name_resolves_to_the_checkout_recipes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # wherever it is run from
    assert recipe_path("smoke") == ROOT / "recipes" / "smoke.toml"
    assert recipe_path("smoke.toml") == ROOT / "recipes" / "smoke.toml"
    (tmp_path / "smoke").write_text("")  # an existing file of that name wins
    assert recipe_path("smoke") == Path("smoke")


def test_unknown_name_lists_the_known_ones(tmp_path: Path, capsys) -> None:
    with pytest.raises(
        RecipeError,
        match=r"nope: no such recipe file.*known: demo, findings, findings-gpu, paper, smoke",
    ):
        recipe_path("nope")
    assert main(["nope", "--dry-run"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("testbed: error: nope: no such recipe file")


def test_dry_run_by_name(tmp_path: Path, capsys) -> None:
    """Issue case: `bash launch.sh testbed smoke` failed with "cannot read recipe"."""
    assert main(["smoke", "--dry-run", "--out", str(tmp_path / "r")]) == 0
    assert "smoke" in capsys.readouterr().out
