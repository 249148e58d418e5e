"""One source per config: a frozen dataclass whose fields carry their CLI help and range checks.

Each stage writes its configuration once, as a dataclass whose fields are declared with
``option(...)``. From that single definition this module derives

* the argparse parser (``add_options``): flag names, types, defaults, choices, help;
* the typed config from parsed arguments (``from_namespace``), range-checked, with a one-line
  error naming the flag;
* the typed config from a mapping such as a recipe table (``from_mapping``): unknown keys and
  wrong types are errors naming the key;
* the command line that reproduces a config (``to_argv``), so an orchestrator hands a stage a
  typed config instead of building argv by hand.

It is stdlib-only (argparse, dataclasses) so that ``--help`` stays instant; transformers'
``HfArgumentParser`` does the same job but costs seconds of import.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dnapt.errors import print_error

MISSING = dataclasses.MISSING
_META = "dnapt"


class ConfigError(ValueError):
    """A bad value; the message names the flag or key and what is allowed, on one line."""


def option(
    default: Any = MISSING,
    *,
    help: str,
    flags: tuple[str, ...] = (),
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    cli: bool = True,
) -> Any:
    """A config field: its default, its help (plain text: ``%`` needs no escaping), and its
    checks (``gt``: > value, ``ge``: >= value, ``lt``: < value).

    ``flags``: the CLI spellings (default ``--field-name``). ``cli=False``: set in code or by
    a recipe only. A field whose type is a dataclass is flattened into the parent's flags.
    """
    meta = {
        "help": help,
        "flags": flags,
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "choices": choices,
        "cli": cli,
    }
    return dataclasses.field(default=default, metadata={_META: meta})


def _meta(f: dataclasses.Field) -> dict[str, Any]:
    return f.metadata.get(_META) or {
        "help": "",
        "flags": (),
        "gt": None,
        "ge": None,
        "lt": None,
        "choices": None,
        "cli": False,
    }


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unoptional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def is_option(f: dataclasses.Field) -> bool:
    """Whether a field is a command-line option (what ``to_argv`` carries to a stage)."""
    return _META in f.metadata and bool(_meta(f)["cli"])


def help_of(f: dataclasses.Field) -> str:
    """A field's help text, as written (e.g. for a report that documents its settings)."""
    return _meta(f)["help"]


def flag_of(f: dataclasses.Field) -> str:
    """The main CLI spelling of a field."""
    flags = _meta(f)["flags"]
    return flags[0] if flags else "--" + f.name.replace("_", "-")


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _item_type(tp: Any) -> Any | None:
    """``tuple[X, ...]`` -> X (a repeatable option / list key); anything else -> None."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _choices(f: dataclasses.Field, tp: Any) -> tuple[Any, ...] | None:
    if _meta(f)["choices"] is not None:
        return tuple(_meta(f)["choices"])
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else None


def _nested_default(f: dataclasses.Field, base: Any) -> Any:
    """The instance whose values are a nested config's defaults: the parent's, or an explicit
    default instance (``inner: Inner = Inner(kind="b")``); None: the nested class's own field
    defaults (a ``default_factory`` means just those, before any ``__post_init__`` resolution)."""
    if base is not None:
        return getattr(base, f.name)
    return None if f.default is MISSING else f.default


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    title: str | None = None,
    base: Any = None,
) -> None:
    """Register every CLI field of ``cls`` (nested configs flattened, in their own group).

    ``base``: the instance whose values are the defaults (a nested field's declared default, such
    as ``inner: Inner = Inner(kind="b")``, overrides the nested class's own)."""
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        tp, _ = _unoptional(_hints(cls)[f.name])
        if _is_config(tp):
            add_options(parser, tp, title=f.name, base=_nested_default(f, base))
            continue
        m = _meta(f)
        if not m["cli"]:
            continue
        taken = {a.dest for a in getattr(parser, "_actions", ())}
        if f.name in taken:  # argparse would silently let one overwrite the other
            raise TypeError(f"{cls.__name__}.{f.name}: another option already has this name")
        kw: dict[str, Any] = {"dest": f.name, "help": _escaped(m["help"])}
        names = m["flags"] or (flag_of(f),)
        required = base is None and f.default is MISSING and f.default_factory is MISSING
        default = getattr(base, f.name) if base is not None else None if required else _default(f)
        item = _item_type(tp)
        if item is not None:  # repeatable: `--x a b` and `--x a --x b`; a positional: `a b`
            # Numbers also come comma-separated (`--sizes 64,128`): split in from_namespace.
            kw.update(nargs="+" if required else "*", type=str if item in (int, float) else item)
            if names[0].startswith("-"):
                kw.update(action="extend", metavar=flag_of(f).lstrip("-").upper())
                kw["required"] = required
            else:
                del kw["dest"]
            if default:
                kw["help"] += f" (default: {_escaped(' '.join(map(str, default)))})"
            group.add_argument(*names, **kw)
            continue
        if required:
            kw["required"] = True
        else:
            kw["default"] = default
            if default is not None and "%(default)" not in m["help"]:
                kw["help"] += " (default: %(default)s)"
        if tp is bool and names[0].startswith("--no-"):  # a switch named as the negation
            kw["action"] = "store_true"
        elif tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            choices = _choices(f, tp)
            if choices is not None:
                kw["choices"] = choices
                kw["type"] = type(choices[0])
            else:
                kw["type"] = tp
                kw["metavar"] = flag_of(f).lstrip("-").upper().replace("-", "_")
        if not names[0].startswith("-"):  # a positional: argparse names it, and `?` if optional
            del kw["dest"]
            if kw.pop("required", False) is False:
                kw["nargs"] = "?"
        group.add_argument(*names, **kw)


def _escaped(text: str) -> str:
    """Help text for argparse, which reads ``%`` as a format; ``%(default)s`` stays a format."""
    return text if "%(" in text else text.replace("%", "%%")


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def check_value(f: dataclasses.Field, value: Any, where: str) -> None:
    """The field's range and choice checks; ``where`` names it in the error (flag or key)."""
    if value is None:
        return
    m = _meta(f)
    if m["gt"] is not None and not value > m["gt"]:
        raise ConfigError(f"{where} {value}: must be > {m['gt']:g}")
    if m["ge"] is not None and not value >= m["ge"]:
        raise ConfigError(f"{where} {value}: must be >= {m['ge']:g}")
    if m["lt"] is not None and not value < m["lt"]:
        raise ConfigError(f"{where} {value}: must be < {m['lt']:g}")
    if m["choices"] is not None and value not in m["choices"]:
        raise ConfigError(f"{where} {value!r}: must be one of {', '.join(map(str, m['choices']))}")


def from_namespace(cls: type, ns: argparse.Namespace, base: Any = None) -> Any:
    """The typed, range-checked config from arguments registered by ``add_options`` (with the
    same ``base``: fields that are no option keep its values, or the class defaults)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp, _ = _unoptional(_hints(cls)[f.name])
        if _is_config(tp):
            values[f.name] = from_namespace(tp, ns, _nested_default(f, base))
        elif _meta(f)["cli"] and hasattr(ns, f.name):
            value = getattr(ns, f.name)
            item = _item_type(tp)
            if item is not None:  # argparse extends lists; None or [] -> the default
                if value:
                    value = _items(item, value, flag_of(f))
                else:
                    value = getattr(base, f.name) if base is not None else _default(f)
                for v in value:
                    check_value(f, v, flag_of(f))
            else:
                check_value(f, value, flag_of(f))
            values[f.name] = value
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _items(item: type, tokens: list[Any], flag: str) -> tuple[Any, ...]:
    """A repeatable option's values; numbers may also be given comma-separated."""
    if item not in (int, float):
        return tuple(tokens)
    out = []
    for part in (p.strip() for t in tokens for p in str(t).split(",")):
        try:
            out.append(item(part))
        except ValueError:
            raise ConfigError(f"{flag} {part!r}: must be {item.__name__}") from None
    return tuple(out)


def _coerce(tp: Any, value: Any, where: str, sep: str = ".") -> Any:
    """A recipe value as the field's type (TOML has no Path; ints are accepted as floats)."""
    base, optional = _unoptional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: may not be empty")
    if _is_config(base):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: must be a table")
        return from_mapping(base, value, where, sep)
    if typing.get_origin(base) is Literal:
        if value not in typing.get_args(base):
            allowed = ", ".join(map(str, typing.get_args(base)))
            raise ConfigError(f"{where} {value!r}: must be one of {allowed}")
        return value
    item = _item_type(base)
    if item is not None:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} {value!r}: must be a list")
        return tuple(_coerce(item, v, f"{where}[{i}]", sep) for i, v in enumerate(value))
    if base is Path and isinstance(value, str):
        return Path(value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base in (int, float, str, bool) and (
        not isinstance(value, base) or (base is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where} {value!r}: must be {base.__name__}")
    return value


def from_mapping(cls: type, data: Mapping[str, Any], where: str = "", sep: str = ".") -> Any:
    """The typed config from a mapping (a recipe table); unknown keys are an error.

    Errors name ``where`` + ``sep`` + the key (e.g. ``train.steps`` or ``[train] steps``)."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    values = {}
    for name, value in data.items():
        key = f"{where}{sep}{name}" if where else name
        values[name] = _coerce(_hints(cls)[name], value, key, sep)
        for v in values[name] if isinstance(values[name], tuple) else (values[name],):
            check_value(known[name], v, key)
    try:
        return cls(**values)
    except TypeError as e:  # a required field left out
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def to_argv(config: Any) -> list[str]:
    """The CLI arguments that ``add_options`` + ``from_namespace`` turn back into ``config``.

    Positionals come first, in field order, so that no repeatable option swallows them."""
    positional, options = _argv_parts(config)
    return positional + options


def _argv_parts(config: Any) -> tuple[list[str], list[str]]:
    positional: list[str] = []
    options: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            pos, opts = _argv_parts(value)
            positional += pos
            options += opts
            continue
        if not _meta(f)["cli"] or value is None:
            continue
        flag = flag_of(f)
        values = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
        if not flag.startswith("-"):
            positional += values
        elif isinstance(value, bool) and flag.startswith("--no-"):
            options += [flag] if value else []
        elif isinstance(value, bool):
            options.append(flag if value else "--no-" + flag[2:])
        elif values:
            options += [flag, *values]
    return positional, options


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config (paths as strings, nested configs as tables)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return str(v) if isinstance(v, Path) else v

    return plain(config)


def command_parser(cls: type, **kwargs: Any) -> argparse.ArgumentParser:
    """The command line of ``cls``: ``argparse.ArgumentParser(**kwargs)`` with its options."""
    parser = argparse.ArgumentParser(**kwargs)
    add_options(parser, cls)
    return parser


def parse_config(
    cls: type, parser: argparse.ArgumentParser, argv: list[str] | None, name: str | None = None
) -> Any:
    """``argv`` parsed into ``cls`` by ``parser`` (built with ``add_options(parser, cls)``).

    argparse exits 2 on a syntax error; a range error is printed as one line
    ``NAME: error: --flag value: ...`` (NAME: the parser's prog unless given) and gives None, on
    which the caller exits 2."""
    try:
        return from_namespace(cls, parser.parse_args(argv))
    except ConfigError as e:
        print_error(name or parser.prog, e)
        return None
