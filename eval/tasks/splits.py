"""Split regions: whole records held out (chromosome hold-out) or contiguous blocks with gaps.

A window belongs to a split only when it lies entirely inside one of that split's regions, so no
base is shared between splits: whole records cannot overlap, and blocks are separated by a gap of
``length`` bases that no window of any split covers (windows straddling a gap are dropped and
counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eval.benchmark import SPLITS
from eval.tasks.genome import Genome, Window
from eval.tasks.spec import SpecError, TaskSpec


@dataclass(frozen=True)
class Region:
    record: str
    start: int
    end: int


def split_regions(spec: TaskSpec, genome: Genome) -> dict[str, list[Region]]:
    """Each split's regions; record names are checked against the genome."""
    if spec.split.blocks is not None:
        gap = spec.length
        out: dict[str, list[Region]] = {s: [] for s in SPLITS}
        for name in genome.names:
            size = genome.length(name)
            b1 = round(spec.split.blocks[0] * size)
            b2 = round((spec.split.blocks[0] + spec.split.blocks[1]) * size)
            for split, lo, hi in (
                ("train", 0, b1),
                ("dev", b1 + gap, b2),
                ("test", b2 + gap, size),
            ):
                if hi - lo >= spec.length:
                    out[split].append(Region(name, lo, hi))
        return out
    for key, records in (("dev", spec.split.dev), ("test", spec.split.test)):
        unknown = [r for r in records if r not in genome.records]
        if unknown:
            raise SpecError(
                f"{spec.path}: key 'split.{key}': records {unknown} are not in the genome "
                f"(it has {', '.join(genome.names)})"
            )
    held = set(spec.split.dev) | set(spec.split.test)
    train = [n for n in genome.names if n not in held]
    if not train:
        raise SpecError(f"{spec.path}: key 'split': no record left for train")
    return {
        "train": [Region(n, 0, genome.length(n)) for n in train],
        "dev": [Region(n, 0, genome.length(n)) for n in spec.split.dev],
        "test": [Region(n, 0, genome.length(n)) for n in spec.split.test],
    }


def assign(windows: list[Window], regions: dict[str, list[Region]]) -> list[str | None]:
    """The split of each window (None: it straddles a block gap or lies in one)."""
    by_record: dict[str, list[tuple[int, int, str]]] = {}
    for split, regs in regions.items():
        for r in regs:
            by_record.setdefault(r.record, []).append((r.start, r.end, split))
    for v in by_record.values():
        v.sort()
    out: list[str | None] = []
    for w in windows:
        regs = by_record.get(w.record, [])
        starts = np.array([r[0] for r in regs])
        i = int(np.searchsorted(starts, w.start, side="right")) - 1
        ok = i >= 0 and w.start >= regs[i][0] and w.end <= regs[i][1]
        out.append(regs[i][2] if ok else None)
    return out
