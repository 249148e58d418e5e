"""Markdown tables, the one renderer behind every report dnapt writes (vocabulary, audit,
scores, testbed), so that all of them read and diff the same way."""

from __future__ import annotations

from collections.abc import Sequence


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """The lines of a GitHub-flavoured Markdown table; cells are ``str()``-ed, ``|`` escaped."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells for {len(header)} columns")
    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]
