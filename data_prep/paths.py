"""Paths read from files someone else may have written (manifests, MDS indexes, recipes).

A shard directory, a manifest or a run can come from a shared filesystem or a download, so a
relative path inside one is untrusted: ``tokenizer/../../../../x`` must never make dnapt write,
delete or read outside the folder it belongs to. ``contained`` is the one check every such path
goes through before it is joined to its root.
"""

from __future__ import annotations

from pathlib import Path


class UnsafePathError(ValueError):
    """A path from a file that would leave its root; the message names the file and the path."""


def contained(root: Path, rel: object, source: str) -> Path:
    """``root / rel`` after checking ``rel`` stays inside ``root``.

    Refused: anything that is not a non-empty string, absolute paths, backslashes, empty, ``..`` or ``.``
    components, NUL bytes, and paths that resolve (through existing symlinks) outside ``root``.
    ``source`` names the file the path came from, for the error message.
    """
    ok = isinstance(rel, str) and rel and "\\" not in rel and "\x00" not in rel
    parts = rel.split("/") if ok else []
    if not ok or any(p in ("..", ".", "") for p in parts):
        raise UnsafePathError(
            f"{source}: path {rel!r} is not a plain relative path inside {root}; the file was "
            "edited or crafted: do not use it"
        )
    path = root.joinpath(*parts)
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise UnsafePathError(
            f"{source}: path {rel!r} resolves outside {root} (through a symlink); the folder was "
            "edited or crafted: do not use it"
        )
    return path


def plain_name(name: object, source: str) -> str:
    """A single path component (a file name with no directory part), else UnsafePathError."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise UnsafePathError(
            f"{source}: {name!r} is not a plain file name; the file was edited or crafted: do not "
            "use it"
        )
    return name
