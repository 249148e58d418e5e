"""``python -m testbed RECIPE``: the testbed's command line (the steps are in ``testbed.run``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from dnapt.cli import ConfigError, command_parser, from_namespace, option
from dnapt.errors import print_error
from testbed.layout import (
    TestbedError,
    layout_for,
)
from testbed.recipe import ROOT, Recipe, RecipeError
from testbed.recipe_load import load_recipe
from testbed.run import Testbed


def check_node_args(
    recipe: Recipe, node_rank: int | None, master_addr: str | None, dry_run: bool
) -> None:
    """Node-rank mode needs this node's rank and node 0's address; other modes take neither."""
    lc = recipe.launcher
    if lc.mode != "node-rank":
        if node_rank is not None or master_addr is not None:
            raise RecipeError(
                f'{recipe.path}: --node-rank/--master-addr need [launcher] mode = "node-rank"'
            )
        return
    if dry_run:
        return
    if node_rank is None or not 0 <= node_rank < lc.nnodes:
        raise RecipeError(
            f"{recipe.path}: node-rank mode: pass --node-rank R with R in [0, {lc.nnodes}) on "
            "every node"
        )
    if not (master_addr or lc.master_addr):
        raise RecipeError(
            f"{recipe.path}: node-rank mode: pass --master-addr (node 0's address) or set "
            "[launcher] master_addr"
        )


@dataclass(frozen=True)
class RecipeRunConfig:
    """``python -m testbed``'s arguments: which recipe, where, and how this node takes part."""

    recipe: str = option(
        flags=("recipe",),
        help="recipe TOML file (e.g. recipes/demo.toml) or the name of one in recipes/ (e.g. smoke)",
    )
    out: Path | None = option(
        None, help="results folder (default: the recipe's 'results', else out/testbed/<name>)"
    )
    dry_run: bool = option(
        False,
        help="print every command and the expected shard sizes, token counts and compute "
        "(from the manifest when present, else from record lengths); runs and writes nothing",
    )
    node_rank: int | None = option(
        None,
        ge=0,
        help="node-rank launcher mode: this node's rank (node 0 does every step; the others "
        "only join the training runs)",
    )
    master_addr: str | None = option(
        None, help="node-rank mode: address of node 0 (else the recipe's)"
    )
    verbose: bool = option(False, help="stream every stage's output (always in RESULTS/logs)")


def build_parser() -> argparse.ArgumentParser:
    return command_parser(
        RecipeRunConfig,
        prog="python -m testbed",
        description="Run a vocabulary x masking recipe end to end: shard, analyse, audit, train "
        "every valid cell with the same budget in bases, score the exports, and write "
        "RESULTS/testbed.{json,md} and plots. Reruns skip finished work. Recipe schema: "
        "docs/testbed.md.",
    )


def recipe_path(arg: str) -> Path:
    """A recipe argument as a file: an existing path, else ``recipes/<name>.toml`` of this
    checkout for a bare name such as ``smoke`` (what ``bash launch.sh testbed smoke`` passes)."""
    path = Path(arg)
    if path.exists() or "/" in arg:
        return path
    named = ROOT / "recipes" / (arg if arg.endswith(".toml") else f"{arg}.toml")
    if named.is_file():
        return named
    known = ", ".join(sorted(p.stem for p in (ROOT / "recipes").glob("*.toml")))
    raise RecipeError(f"{arg}: no such recipe file, and no recipe of that name (known: {known})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    console = Console()
    try:
        args = from_namespace(RecipeRunConfig, build_parser().parse_args(argv))
        recipe = load_recipe(recipe_path(args.recipe))
        check_node_args(recipe, args.node_rank, args.master_addr, args.dry_run)
        layout = layout_for(recipe, args.out)
        if args.dry_run:
            from testbed.dryrun import print_dry_run

            print_dry_run(recipe, layout.out, layout.shards, console)
            return 0
        command = shlex.join([sys.executable, "-m", "testbed", *argv])
        testbed = Testbed(
            recipe,
            layout,
            args.node_rank,
            args.master_addr,
            args.verbose,
            command=command,
            console=console,
        )
        return testbed.run()
    except (RecipeError, TestbedError, ConfigError) as e:
        print_error("testbed", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
