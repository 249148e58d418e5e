"""Build benchmark tasks from a genome and its annotation.

    python eval/make_task.py SPEC.toml [SPEC2.toml ...] --out BENCH_DIR [--overwrite]
    python eval/make_task.py --suite core --out BENCH_DIR

Each spec (TOML, docs/task-design.md) becomes BENCH_DIR/<name>/{train,dev,test}.csv.gz (+ .bed.gz
and task.json) in the layout eval/audit.py and eval/run.py read. Same spec + seed => same bytes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data_prep.fasta import FastaError
from eval.config import MakeTaskConfig, parse_or_exit
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


def parse_args(argv: list[str] | None = None) -> MakeTaskConfig:
    """The build's typed config (argument errors: one line, exit 2)."""
    return parse_or_exit(
        MakeTaskConfig,
        "eval/make_task.py",
        "Build benchmark tasks (sequence,label CSVs + BED provenance + task.json) from a genome "
        "and its annotation, as specified in TOML task specs (docs/task-design.md).",
        argv,
        prog="python eval/make_task.py",
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    out = cfg.out
    t0 = time.perf_counter()
    try:
        paths = suite_specs(cfg.suite) if cfg.suite else list(cfg.specs)
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

                records.append(build_task(spec, out, cfg.overwrite, cfg.allow_gc_shortcut, step))
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
