"""dnapt.markdown: one table renderer for every report."""

from __future__ import annotations

import pytest

from dnapt.markdown import md_table


def test_md_table_renders_and_escapes() -> None:
    assert md_table(["a", "b"], [[1, "x|y"]]) == ["| a | b |", "|---|---|", "| 1 | x\\|y |"]


def test_md_table_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        md_table(["a", "b"], [["only"]])
