"""Build one task from a spec: positives, negatives, splits, leak removal, files, shortcut check.

The steps and what each counts are in docs/task-design.md. Files are written to a temporary
folder beside the target and moved into place only after the shortcut check passed, so a failed
build never leaves a half-written task that a later stage could mistake for a good one.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_prep.sources import SourceError, resolve
from dnapt.hashing import sha256_file
from eval.benchmark import SPLITS, load_task
from eval.dedup import canonical
from eval.tasks.annotation import read_annotation
from eval.tasks.genome import Genome, gc_fraction, load_genome, to_text
from eval.tasks.motifs import find_motif
from eval.tasks.negatives import Row, gc_matched, motif_implant, shuffled
from eval.tasks.output import write_json, write_split
from eval.tasks.select import positive_windows
from eval.tasks.shortcut import MAX_GC_AUROC, shortcut_check
from eval.tasks.spec import SpecError, TaskSpec
from eval.tasks.splits import Region, assign, split_regions

SCHEMA_VERSION = 1


class BuildError(RuntimeError):
    """A task that was built but must not be used (e.g. its GC matching failed)."""


def _resolve(spec: TaskSpec, key: str, value: str) -> Path:
    try:
        return resolve(value)
    except SourceError as e:
        raise SpecError(f"{spec.path}: key '{key}': {e}") from None


def _annotated(spec: TaskSpec, genome: Genome, regions, stats: Counter, inputs: dict):
    """Positive rows per split and the intervals negatives keep clear of, per record."""
    path = _resolve(spec, "annotation", spec.annotation)
    inputs["annotation"] = {"source": spec.annotation, "sha256": sha256_file(path)}
    intervals, fmt = read_annotation(path)
    inputs["annotation"]["format"] = fmt
    windows, anchored = positive_windows(spec, genome, intervals, stats)
    label = "+".join(spec.positives.type) or "interval"
    if spec.positives.derive:
        label = spec.positives.derive[:-1]
    pos: dict[str, list[Row]] = {s: [] for s in SPLITS}
    for w, split in zip(windows, assign(windows, regions), strict=True):
        if split is None:
            stats["in_block_gap"] += 1
            continue
        pos[split].append(Row(w, 1, f"{label} {spec.positives.anchor}", genome.codes(w)))
    excluded = set(spec.negatives.exclude_types)
    avoid: dict[str, list[tuple[int, int]]] = {}
    for iv in intervals:
        if iv.type in excluded and iv.record in genome.records:
            avoid.setdefault(iv.record, []).append((iv.start, iv.end))
    for w in anchored:
        avoid.setdefault(w.record, []).append((w.start, w.end))
    return pos, avoid


def _split_rows(spec: TaskSpec, genome: Genome, regions, stats: Counter, inputs: dict):
    neg = spec.negatives
    rows: dict[str, list[Row]] = {}
    if neg.method == "motif-implant":
        path = _resolve(spec, "positives.motifs", spec.positives.motifs)
        inputs["motifs"] = {"source": spec.positives.motifs, "sha256": sha256_file(path)}
        motif = find_motif(path, spec.positives.motif)
        bases = {s: sum(r.end - r.start for r in regions[s]) for s in SPLITS}
        total = sum(bases.values())
        for i, split in enumerate(SPLITS):
            n = round(spec.positives.count * bases[split] / total)
            rng = np.random.default_rng([spec.seed, i])
            rows[split] = motif_implant(genome, regions[split], n, spec.length, motif, rng, stats)
        return rows
    pos, avoid = _annotated(spec, genome, regions, stats, inputs)
    margin = spec.length if neg.margin is None else neg.margin
    for i, split in enumerate(SPLITS):
        rng = np.random.default_rng([spec.seed, i])
        if neg.method == "gc-matched":
            negs = gc_matched(
                genome,
                regions[split],
                pos[split],
                avoid,
                spec.length,
                margin,
                neg.ratio,
                neg.gc_bin,
                neg.center_motif,
                rng,
                stats,
            )
        else:
            core = None if neg.method == "dinuc-shuffle" else (neg.core or spec.length // 2)
            negs = shuffled(pos[split], core, rng)
        rows[split] = pos[split] + negs
    return rows


def _deduplicate(rows: dict[str, list[Row]], stats: Counter) -> dict[str, list[Row]]:
    """Drop rows repeating an earlier row of their split, and dev/test rows whose sequence or
    reverse complement is in an earlier split (train, then dev): eval/dedup.py's canonical form,
    the one the audit checks with."""
    seen: set[str] = set()
    out = {}
    for split in SPLITS:
        mine: set[str] = set()
        kept = []
        for r in rows[split]:
            key = canonical(to_text(r.codes))
            if key in mine:
                stats[f"duplicates_within_{split}"] += 1
            elif key in seen:
                stats[f"rc_or_exact_duplicates_{split}_of_earlier_split"] += 1
            else:
                mine.add(key)
                kept.append(r)
        seen |= mine
        out[split] = kept
    return out


def _gc_summary(rows: list[Row]) -> dict:
    out = {}
    for label, name in ((1, "positives"), (0, "negatives")):
        gc = np.array([gc_fraction(r.codes) for r in rows if r.label == label])
        out[name] = {
            "n": int(gc.size),
            "mean": round(float(gc.mean()), 4) if gc.size else None,
            "sd": round(float(gc.std()), 4) if gc.size else None,
        }
    return out


def _regions_json(regions: list[Region]) -> list[list]:
    return [[r.record, r.start, r.end] for r in regions]


def build_task(
    spec: TaskSpec,
    out_root: Path,
    overwrite: bool = False,
    allow_gc_shortcut: bool = False,
    step: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """Build ``spec`` into ``out_root/<name>/``; returns task.json's content."""
    target = out_root / spec.name
    if target.exists():
        if not overwrite:
            raise SpecError(f"{target}: already exists; pass --overwrite to rebuild it")
        if not (target / "task.json").is_file():
            raise SpecError(f"{target}: exists and is not a built task (no task.json); not touched")
    step("reading genome")
    genome_path = _resolve(spec, "genome", spec.genome)
    inputs = {"genome": {"source": spec.genome, "sha256": sha256_file(genome_path)}}
    genome = load_genome(str(genome_path))
    regions = split_regions(spec, genome)
    stats: Counter = Counter()
    step("selecting positives and negatives")
    rows = _deduplicate(_split_rows(spec, genome, regions, stats, inputs), stats)
    for split in SPLITS:
        labels = {r.label for r in rows[split]}
        if labels != {0, 1}:
            raise SpecError(
                f"{spec.path}: split {split} has {len(rows[split])} rows with labels "
                f"{sorted(labels)}: both classes are needed; give it more records or a larger block"
            )
        order = np.random.default_rng([spec.seed, SPLITS.index(split), 1]).permutation(
            len(rows[split])
        )
        rows[split] = [rows[split][i] for i in order]
    step("writing files")
    tmp = out_root / f"{spec.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        record = _finish(spec, tmp, out_root, regions, rows, stats, inputs, allow_gc_shortcut, step)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-built task to be discovered
        raise
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return record


def _finish(
    spec: TaskSpec,
    tmp: Path,
    out_root: Path,
    regions: dict[str, list[Region]],
    rows: dict[str, list[Row]],
    stats: Counter,
    inputs: dict,
    allow_gc_shortcut: bool,
    step: Callable[[str], None],
) -> dict:
    """Write the files into ``tmp``, run the shortcut check and write task.json."""
    for split in SPLITS:
        write_split(tmp, split, rows[split])
    step("shortcut check")
    shortcut = shortcut_check(load_task(out_root, f"{spec.name}.partial"))
    gc_ok = shortcut["gc_length_lr_auroc"] <= MAX_GC_AUROC
    shortcut["gc_check"] = (
        "not applied (negatives are not gc-matched)"
        if spec.negatives.method != "gc-matched"
        else "passed"
        if gc_ok
        else "FAILED, overridden by --allow-gc-shortcut"
        if allow_gc_shortcut
        else "FAILED"
    )
    record = {
        "schema_version": SCHEMA_VERSION,
        "name": spec.name,
        "spec": spec.to_dict(),
        "inputs": inputs,
        "records": {s: sorted({r.record for r in regions[s]}) for s in SPLITS},
        "regions": {s: _regions_json(regions[s]) for s in SPLITS},
        "counts": {s: {str(c): sum(r.label == c for r in rows[s]) for c in (0, 1)} for s in SPLITS},
        "dropped": dict(sorted(stats.items())),
        "gc": {s: _gc_summary(rows[s]) for s in SPLITS},
        "shortcut": shortcut,
    }
    write_json(tmp / "task.json", record)
    if shortcut["gc_check"] == "FAILED":
        raise BuildError(
            f"{spec.name}: GC+length LR AUROC {shortcut['gc_length_lr_auroc']:.3f} > "
            f"{MAX_GC_AUROC} on test although negatives are gc-matched: GC still separates the "
            "classes (too few background windows in the positives' GC bins?); try a smaller "
            "negatives.margin or gc_bin, or pass --allow-gc-shortcut to keep it anyway"
        )
    return record
