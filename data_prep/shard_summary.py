"""What a sharding run prints: a live progress line, then a table of what was written.

Both import rich only when enabled, so ``--no-progress`` runs (tests, pipelines) never load it.
"""

from __future__ import annotations

from pathlib import Path

from data_prep.manifest import Manifest


class Progress:
    """A rich progress line: bases, windows, MB of token ids written, Mb/s (silent if disabled)."""

    def __init__(self, enabled: bool) -> None:
        self._p = None
        if enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._p.start()
            self._task = self._p.add_task("sharding")
        self.windows = 0
        self.bases = 0
        self.token_bytes = 0

    def update(self, windows: int, bases: int, token_bytes: int, elapsed: float) -> None:
        self.windows += windows
        self.bases += bases
        self.token_bytes += token_bytes
        if self._p is not None:
            rate = self.bases / 1e6 / max(elapsed, 1e-9)
            self._p.update(
                self._task,
                description=f"sharding: {self.bases / 1e6:,.1f} Mb, {self.windows:,} windows, "
                f"{self.token_bytes / 1e6:,.1f} MB of tokens written (before zstd), {rate:,.1f} Mb/s",
            )

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


def print_summary(manifest: Manifest, out: Path) -> None:
    """A rich table of what was written, per vocabulary and split."""
    from rich.console import Console
    from rich.table import Table

    train, val = manifest.splits["train"], manifest.splits["val"]
    table = Table(title=f"dnapt shards: {out}")
    for col in (
        "vocab",
        "size",
        "train windows",
        "val windows",
        "train tokens",
        "val tokens",
        "bases/token",
        "max tokens",
        "MB on disk",
    ):
        table.add_column(col, justify="right" if col != "vocab" else "left")
    for name, v in manifest.vocabs.items():
        mb = sum((out / name / f).stat().st_size for f in v.files) / 1e6
        tr = v.splits["train"].tokens
        table.add_row(
            name,
            str(v.size),
            f"{train.windows:,}",
            f"{val.windows:,}",
            f"{tr:,}",
            f"{v.splits['val'].tokens:,}",
            f"{train.bases / max(tr, 1):.2f}",
            str(v.max_tokens),
            f"{mb:.1f}",
        )
    console = Console()
    console.print(table)
    dropped = train.dropped_n_windows + val.dropped_n_windows
    iupac = sum(s.iupac_bases for s in manifest.sources)
    elapsed = manifest.run.elapsed_s if manifest.run is not None else 0.0
    console.print(
        f"records train/val: {train.records}/{val.records}; windows dropped "
        f"for N: {dropped:,}; IUPAC bases mapped to N: {iupac:,}; elapsed {elapsed:.1f} s"
    )
