"""The shape of the code base: stage layering and no import cycles.

dnapt is three independent stages (``data_prep`` the leaf, ``trainer`` and ``eval`` above it),
one orchestrator above all of them (``testbed``), and one stdlib-only layer of shared helpers
below them all (``dnapt``). Every import counts here, function-local and
``TYPE_CHECKING`` ones included: a cycle hidden inside a function is still a cycle to a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dnapt", "data_prep", "trainer", "eval", "testbed")
# Which first-party packages each package may import (besides itself).
ALLOWED = {
    "dnapt": set(),
    "data_prep": {"dnapt"},
    "trainer": {"dnapt", "data_prep"},
    "eval": {"dnapt", "data_prep"},
    "testbed": {"dnapt", "data_prep", "trainer", "eval"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """First-party module -> the first-party modules it imports (anywhere in its body)."""
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                # The longest first-party module that the imported name starts with.
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (iterative DFS, three colours)."""
    colour = dict.fromkeys(graph, 0)
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif colour.get(nxt) == 0:
                colour[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def test_find_cycle_finds_a_hidden_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_stage_layering(package: str) -> None:
    """data_prep is the leaf; trainer and eval use only data_prep; only testbed sees them all."""
    bad = sorted(
        f"{mod} imports {dep}"
        for mod, deps in import_graph().items()
        if mod.split(".")[0] == package
        for dep in deps
        if dep.split(".")[0] not in ALLOWED[package] | {package}
    )
    assert not bad, "; ".join(bad)


def test_no_sys_path_patching() -> None:
    """Scripts import the installed (editable) project; none rewrites ``sys.path``."""
    files = [p for d in (*PACKAGES, "bench") for p in sorted((ROOT / d).rglob("*.py"))]
    bad = [str(p.relative_to(ROOT)) for p in files if "sys.path" in p.read_text()]
    assert not bad, "patches sys.path: " + ", ".join(bad)


def test_installed_commands_point_at_mains() -> None:
    """Every ``[project.scripts]`` entry names a ``main(argv=None)`` that exists."""
    import inspect
    import tomllib
    from importlib import import_module

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"dnapt-shard", "dnapt-train", "dnapt-eval", "dnapt-testbed"} <= set(scripts)
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        main = getattr(import_module(module), func)
        assert list(inspect.signature(main).parameters) == ["argv"], name


def test_files_stay_small() -> None:
    """No module over 400 lines except the ones listed with the reason they are not split."""
    allowed = {
        "data_prep/vocab.py": "the Vocab class and its four families' builders; its arithmetic "
        "already lives in vocab_codes.py, and splitting the class would split one concept",
    }
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    big = {
        str(p.relative_to(ROOT)): n
        for p in files
        if (n := len(p.read_text().splitlines())) > 400 and str(p.relative_to(ROOT)) not in allowed
    }
    assert not big, f"files over 400 lines: {big}"


def test_script_folders_shadow_no_installed_module() -> None:
    """``python data_prep/shard.py`` puts data_prep/ first on sys.path, so a module there named
    like a library (``tokenizers.py``, ``config.py`` in some packages) would replace it."""
    import pkgutil
    import sys

    installed = set(sys.stdlib_module_names) | {
        m.name
        for m in pkgutil.iter_modules()
        if "-packages" in str(getattr(m.module_finder, "path", ""))
    }
    assert {"torch", "tokenizers", "json"} <= installed
    clashes = [
        f"{d}/{p.name}"
        for d in ("data_prep", "trainer", "eval", "testbed", "bench")
        for p in sorted((ROOT / d).iterdir())
        if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem in installed
    ]
    assert not clashes, "shadows an installed module: " + ", ".join(clashes)
