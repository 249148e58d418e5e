"""dnapt.cli: one dataclass gives the parser, the checks, the recipe reader and the argv."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from dnapt.cli import ConfigError, add_options, from_mapping, from_namespace, option, to_argv


@dataclass(frozen=True)
class Inner:
    kind: Literal["a", "b"] = option("a", help="which kind")
    share: float = option(0.5, gt=0, help="a share", flags=("--the-share",))


@dataclass(frozen=True)
class Outer:
    out: Path = option(help="where")
    steps: int = option(10, gt=0, help="how many")
    workers: int = option(2, ge=0, help="workers")
    limit: int | None = option(None, gt=0, help="optional cap")
    fast: bool = option(False, help="go fast")
    inner: Inner = Inner()


def parse(argv: list[str]) -> Outer:
    p = argparse.ArgumentParser()
    add_options(p, Outer)
    return from_namespace(Outer, p.parse_args(argv))


def test_defaults_types_and_nested_flags() -> None:
    cfg = parse(["--out", "x", "--the-share", "0.25", "--kind", "b", "--fast"])
    assert cfg == Outer(Path("x"), 10, 2, None, True, Inner("b", 0.25))
    assert isinstance(cfg.out, Path)


def test_required_and_choices_are_argparse_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        parse([])
    with pytest.raises(SystemExit):
        parse(["--out", "x", "--kind", "c"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps 0: must be > 0"),
        (["--workers", "-1"], "--workers -1: must be >= 0"),
        (["--limit", "0"], "--limit 0: must be > 0"),
        (["--the-share", "-0.5"], "--the-share -0.5: must be > 0"),
    ],
)
def test_range_errors_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(["--out", "x", *argv])


def test_to_argv_round_trips() -> None:
    cfg = Outer(Path("o"), 3, 0, 7, True, Inner("b", 0.125))
    assert parse(to_argv(cfg)) == cfg
    assert "--no-fast" in to_argv(Outer(Path("o")))


def test_from_mapping_validates_keys_types_and_ranges() -> None:
    cfg = from_mapping(Outer, {"out": "r", "steps": 5, "inner": {"share": 1}}, "recipe.train")
    assert cfg == Outer(Path("r"), 5, inner=Inner(share=1.0))
    with pytest.raises(ConfigError, match=r"recipe.train: unknown key\(s\) stpes"):
        from_mapping(Outer, {"out": "r", "stpes": 5}, "recipe.train")
    with pytest.raises(ConfigError, match="recipe.train.steps 'many': must be int"):
        from_mapping(Outer, {"out": "r", "steps": "many"}, "recipe.train")
    with pytest.raises(ConfigError, match="recipe.train.steps 0: must be > 0"):
        from_mapping(Outer, {"out": "r", "steps": 0}, "recipe.train")
    with pytest.raises(ConfigError, match="recipe.train.inner.kind 'z': must be one of a, b"):
        from_mapping(Outer, {"out": "r", "inner": {"kind": "z"}}, "recipe.train")


@dataclass(frozen=True)
class Lists:
    inputs: tuple[Path, ...] = option(help="one or more inputs", flags=("--fasta",))
    sizes: tuple[int, ...] = option((64, 128), gt=0, help="sizes")
    names: tuple[str, ...] = option((), help="positional names", flags=("names",))


def parse_lists(argv: list[str]) -> Lists:
    p = argparse.ArgumentParser()
    add_options(p, Lists)
    return from_namespace(Lists, p.parse_args(argv))


def test_repeatable_options_and_positionals() -> None:
    cfg = parse_lists(["a", "b", "--fasta", "x.fa", "y.fa", "--fasta", "z.fa"])
    assert cfg == Lists((Path("x.fa"), Path("y.fa"), Path("z.fa")), (64, 128), ("a", "b"))
    assert parse_lists(["--fasta", "x", "--sizes", "8"]).sizes == (8,)  # replaces the default
    assert parse_lists(["--fasta", "x", "--sizes", "8,16", "32"]).sizes == (8, 16, 32)
    with pytest.raises(ConfigError, match="--sizes 'a': must be int"):
        parse_lists(["--fasta", "x", "--sizes", "8,a"])
    assert parse_lists(to_argv(cfg)) == cfg
    with pytest.raises(ConfigError, match="--sizes 0: must be > 0"):
        parse_lists(["--fasta", "x", "--sizes", "8", "0"])


def test_list_keys_from_a_mapping() -> None:
    cfg = from_mapping(Lists, {"inputs": ["x.fa"], "sizes": [16]})
    assert cfg.inputs == (Path("x.fa"),) and cfg.sizes == (16,)
    with pytest.raises(ConfigError, match=r"sizes\[0\] 'a': must be int"):
        from_mapping(Lists, {"inputs": [], "sizes": ["a"]})
    with pytest.raises(ConfigError, match="inputs 'x.fa': must be a list"):
        from_mapping(Lists, {"inputs": "x.fa"})


@dataclass(frozen=True)
class Switch:
    skip: bool = option(False, flags=("--no-thing",), help="skip the thing")


def test_a_negated_switch_is_store_true() -> None:
    p = argparse.ArgumentParser()
    add_options(p, Switch)
    assert from_namespace(Switch, p.parse_args([])) == Switch(False)
    assert from_namespace(Switch, p.parse_args(["--no-thing"])) == Switch(True)
    assert to_argv(Switch(True)) == ["--no-thing"] and to_argv(Switch(False)) == []


@dataclass(frozen=True)
class Positional:
    run: Path = option(help="a run", flags=("run",))
    tag: str | None = option(None, help="a tag", flags=("tag",))


def test_scalar_positionals() -> None:
    p = argparse.ArgumentParser()
    add_options(p, Positional)
    cfg = from_namespace(Positional, p.parse_args(["r"]))
    assert cfg == Positional(Path("r"), None)
    full = Positional(Path("r"), "t")
    assert from_namespace(Positional, p.parse_args(to_argv(full))) == full


@dataclass(frozen=True)
class Clash:
    batch_size: int = option(8, help="embedding batch, 100% of rows", ge=1, lt=1000)
    inner: Lists = Lists((Path("x"),))


@dataclass(frozen=True)
class Twice:
    batch_size: int = option(8, help="one")
    again: Clash = Clash()


def test_percent_in_help_upper_bounds_and_name_clashes(capsys: pytest.CaptureFixture) -> None:
    p = argparse.ArgumentParser()
    add_options(p, Clash)
    with pytest.raises(SystemExit):
        p.parse_args(["--help"])
    assert "100% of rows (default: 8)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(ConfigError, match="--batch-size 1000: must be < 1000"):
        from_namespace(Clash, p.parse_args(["--fasta", "x", "--batch-size", "1000"]))
    with pytest.raises(TypeError, match="Clash.batch_size: another option already has this name"):
        add_options(argparse.ArgumentParser(), Twice)


@dataclass(frozen=True)
class Knobs:
    kind: Literal["a", "b"] = option("a", help="which kind")
    hidden: int = 1  # no option: kept from the parent's default instance


@dataclass(frozen=True)
class Parent:
    knobs: Knobs = Knobs(kind="b", hidden=7)


def test_a_nested_default_instance_is_the_default() -> None:
    p = argparse.ArgumentParser()
    add_options(p, Parent)
    assert from_namespace(Parent, p.parse_args([])) == Parent()
    assert from_namespace(Parent, p.parse_args(["--kind", "a"])).knobs == Knobs("a", 7)


def test_parse_config_prints_a_range_error_as_one_line(capsys: pytest.CaptureFixture) -> None:
    from dnapt.cli import parse_config

    p = argparse.ArgumentParser(prog="prog")
    add_options(p, Outer)
    assert parse_config(Outer, p, ["--out", "x"]) == Outer(Path("x"))
    assert parse_config(Outer, p, ["--out", "x", "--steps", "0"]) is None
    assert capsys.readouterr().err == "prog: error: --steps 0: must be > 0\n"


def test_command_parser_is_the_config_s_command_line() -> None:
    from dnapt.cli import command_parser

    p = command_parser(Outer, prog="prog", description="d")
    assert p.prog == "prog" and p.description == "d"
    assert from_namespace(Outer, p.parse_args(["--out", "x", "--fast"])).fast
