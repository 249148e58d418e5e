"""Positive windows from annotated intervals: filter, derive, anchor (strand-aware), clean.

Order of the cleaning steps, each counted in task.json's ``dropped``:

1. features on records the genome lacks (``unknown_record``);
2. ``anchor = "whole"`` features longer than ``length`` (``longer_than_length``);
3. windows running off their record (``off_record``);
4. the same window from two features (``identical_windows``);
5. windows with a share of N above ``max_n_frac`` (``n_heavy``);
6. overlapping positives are de-duplicated, not merged: in genome order, a window that overlaps
   an already kept positive window (either strand) is dropped (``overlapping_positives``). Merging
   would change the anchor's position inside the window; dropping keeps every positive centred
   on a real anchor and no base in two positives.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from eval.tasks.annotation import Interval
from eval.tasks.genome import Genome, Window
from eval.tasks.spec import Positives, SpecError, TaskSpec


def matching(intervals: list[Interval], pos: Positives) -> list[Interval]:
    """Intervals of the wanted types passing every ``where`` attribute filter."""
    types = set(pos.type)
    out = []
    for iv in intervals:
        if types and iv.type not in types:
            continue
        if all(iv.attrs.get(k) in allowed for k, allowed in pos.where.items()):
            out.append(iv)
    return out


def introns(parts: list[Interval], all_intervals: list[Interval], parent_type: str | None):
    """The gaps between consecutive parts (exons) of each parent, on the parts' strand."""
    types = {iv.attrs["ID"]: iv.type for iv in all_intervals if "ID" in iv.attrs}
    groups: dict[tuple[str, str], list[Interval]] = defaultdict(list)
    for iv in parts:
        parent = iv.attrs.get("Parent")
        if parent is None or (parent_type is not None and types.get(parent) != parent_type):
            continue
        groups[(iv.record, parent)].append(iv)
    out = []
    for (record, parent), ivs in sorted(groups.items()):
        ivs.sort(key=lambda x: x.start)
        for a, b in zip(ivs[:-1], ivs[1:], strict=True):
            if b.start > a.end:
                out.append(Interval(record, a.end, b.start, a.strand, "intron", {"Parent": parent}))
    return out


def anchor_window(iv: Interval, anchor: str, length: int) -> Window | None:
    """The window whose base ``length // 2`` (in the strand's reading direction) is the anchor.

    On '-' the window is read as the reverse complement, so start/end anchors mean the feature's
    5'/3' end on its own strand; '.' counts as '+'.
    """
    minus = iv.strand == "-"
    if anchor == "whole":
        if iv.end - iv.start > length:
            return None
        p = (iv.start + iv.end - (1 if not minus else 0)) // 2
    elif anchor == "start":
        p = iv.end - 1 if minus else iv.start
    elif anchor == "end":
        p = iv.start if minus else iv.end - 1
    else:
        p = (iv.start + iv.end - 1) // 2 if not minus else (iv.start + iv.end) // 2
    half = length // 2
    if minus:
        end = p + half + 1
        return Window(iv.record, end - length, end, "-")
    return Window(iv.record, p - half, p - half + length, "+")


def positive_windows(
    spec: TaskSpec, genome: Genome, intervals: list[Interval], dropped: Counter
) -> tuple[list[Window], list[Window]]:
    """Clean positive windows (sorted by record order and start), and every anchored window
    before cleaning (negatives keep clear of all of them, dropped ones included)."""
    pos = spec.positives
    chosen = matching(intervals, pos)
    if pos.derive == "introns":
        chosen = introns(chosen, intervals, pos.parent_type)
    if not chosen:
        raise SpecError(
            f"{spec.path}: key 'positives': no interval matches type={list(pos.type)} "
            f"where={pos.where}; types present: {sorted({iv.type for iv in intervals})[:20]}"
        )
    order = {name: i for i, name in enumerate(genome.names)}
    windows = []
    for iv in chosen:
        if iv.record not in genome.records:
            dropped["unknown_record"] += 1
            continue
        w = anchor_window(iv, pos.anchor, spec.length)
        if w is None:
            dropped["longer_than_length"] += 1
            continue
        if w.start < 0 or w.end > genome.length(w.record):
            dropped["off_record"] += 1
            continue
        windows.append(w)
    unique = sorted(set(windows), key=lambda w: (order[w.record], w.start, w.strand))
    dropped["identical_windows"] += len(windows) - len(unique)
    kept: list[Window] = []
    for w in unique:
        n = genome.n_counts(w.record, np.array([w.start]), spec.length)[0]
        if n > spec.max_n_frac * spec.length:
            dropped["n_heavy"] += 1
        elif kept and kept[-1].record == w.record and w.start < kept[-1].end:
            dropped["overlapping_positives"] += 1
        else:
            kept.append(w)
    return kept, windows
