"""contained / plain_name: untrusted relative paths never leave their root."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.paths import UnsafePathError, contained, plain_name


@pytest.mark.parametrize(
    "rel",
    ["tokenizer/../../../../x", "../x", "/etc/passwd", "a/./b", "a\\..\\b", "", None, 3, "a\x00b"],
)
def test_escaping_paths_are_refused(tmp_path: Path, rel: object) -> None:
    with pytest.raises(UnsafePathError, match="manifest.json: path"):
        contained(tmp_path, rel, "manifest.json")


def test_plain_relative_paths_are_joined(tmp_path: Path) -> None:
    assert contained(tmp_path, "tokenizer/vocab.json", "m") == tmp_path / "tokenizer" / "vocab.json"


def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="resolves outside"):
        contained(tmp_path / "root", "link/x", "m")


@pytest.mark.parametrize("name", ["a/b", "..", ".", "", "a\\b", None])
def test_plain_name(name: object) -> None:
    with pytest.raises(UnsafePathError):
        plain_name(name, "index.json")
    assert plain_name("shard.00000.mds.zstd", "index.json") == "shard.00000.mds.zstd"
