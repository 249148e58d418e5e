"""Build benchmark tasks from a genome and its annotation.

    python eval/make_task.py SPEC.toml [SPEC2.toml ...] --out BENCH_DIR [--overwrite]
    python eval/make_task.py --suite core --out BENCH_DIR

Each spec (TOML, docs/task-design.md) becomes BENCH_DIR/<name>/{train,dev,test}.csv.gz (+ .bed.gz
and task.json) in the layout eval/audit.py and eval/run.py read. Same spec + seed => same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `python eval/make_task.py`: import as a package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data_prep.fasta import FastaError
from eval.tasks.annotation import AnnotationError
from eval.tasks.build import BuildError, build_task
from eval.tasks.spec import SpecError, load_spec

SUITES = Path(__file__).resolve().parent / "suites"


def suite_specs(name: str) -> list[Path]:
    """The spec files of a curated suite (eval/suites/<name>/*.toml), sorted."""
    folder = SUITES / name
    specs = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not specs:
        known = sorted(p.name for p in SUITES.iterdir() if p.is_dir())
        raise SpecError(f"unknown suite {name!r} (known: {', '.join(known)})")
    return specs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python eval/make_task.py",
        description="Build benchmark tasks (sequence,label CSVs + BED provenance + task.json) from "
        "a genome and its annotation, as specified in TOML task specs (docs/task-design.md).",
    )
    p.add_argument("specs", nargs="*", help="task spec TOML files")
    p.add_argument("--suite", help="build every spec of a curated suite (eval/suites/NAME)")
    p.add_argument("--out", required=True, help="benchmark dir; tasks go to OUT/<name>/")
    p.add_argument("--overwrite", action="store_true", help="rebuild tasks that already exist")
    p.add_argument(
        "--allow-gc-shortcut",
        action="store_true",
        help="keep a gc-matched task whose GC+length LR test AUROC exceeds 0.60 (recorded in "
        "task.json); by default the build fails",
    )
    a = p.parse_args(argv)
    if bool(a.specs) == bool(a.suite):
        p.error("give spec files or --suite NAME (one of the two)")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        paths = suite_specs(args.suite) if args.suite else [Path(s) for s in args.specs]
        specs = [load_spec(p) for p in paths]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise SpecError(f"two specs build the same task name: {names}")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
            bar = progress.add_task("building", total=len(specs))
            records = []
            for spec in specs:

                def step(msg: str, name: str = spec.name) -> None:
                    progress.update(bar, description=f"{name}: {msg}")

                records.append(build_task(spec, out, args.overwrite, args.allow_gc_shortcut, step))
                progress.advance(bar)
    except (SpecError, AnnotationError, FastaError, BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in records:
        c, s = r["counts"], r["shortcut"]
        rows = "/".join(str(sum(c[x].values())) for x in ("train", "dev", "test"))
        console.print(
            f"{r['name']}: rows train/dev/test {rows}; test AUROC GC+len "
            f"{s['gc_length_lr_auroc']:.3f}, k-mer {s['kmer_lr_auroc']:.3f} (k={s['kmer_k']}); "
            f"GC check {s['gc_check']}",
            highlight=False,
        )
    console.print(f"built {len(records)} task(s) in {time.perf_counter() - t0:.0f}s under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
