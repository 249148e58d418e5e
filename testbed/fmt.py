"""Number formatting shared by the testbed report and its Findings section (tables:
``dnapt.markdown``)."""

from __future__ import annotations


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def pm(mean: float | None, sd: float | None, digits: int = 3) -> str:
    return "-" if mean is None else f"{mean:.{digits}f} ± {num(sd, digits)}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
