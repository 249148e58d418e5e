"""Where everything of one testbed results folder lives, and the markers that make reruns resume.

Kept apart from the orchestration (``testbed.run``) so that the report side (``testbed.collect``)
reads a results folder without importing the code that writes it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.recipe import Recipe

CELL_MARKER = "testbed_cell.json"  # in a run dir: written when its training finished
KEY_MARKER = ".testbed_key"  # in a step's output dir: the key it was made for
TIMING_FILE = "timing.json"  # seconds each step took when it last executed
LOCK_FILE = ".testbed.lock"  # held while a testbed run uses the results folder


class TestbedError(RuntimeError):
    """A step that failed or cannot run; the message says which, why and where the log is."""


@dataclass(frozen=True)
class Layout:
    """Where everything of one results folder lives."""

    out: Path
    shards: Path

    @property
    def vocab_report(self) -> Path:
        return self.out / "vocab_report"

    @property
    def audit(self) -> Path:
        return self.out / "audit"

    @property
    def suite(self) -> Path:
        return self.out / "suite"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def eval(self) -> Path:
        return self.out / "eval"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def ds_config(self) -> Path:
        return self.out / "ds_config.json"


def layout_for(recipe: Recipe, out: Path | None) -> Layout:
    root = (out or recipe.results).resolve()
    return Layout(root, (recipe.corpus.shards or root / "shards").resolve())


@contextmanager
def results_lock(out: Path) -> Iterator[None]:
    """One testbed run per results folder at a time: two would train and score the same cells."""
    lock = out / LOCK_FILE
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise TestbedError(
                f"{out} is in use by another testbed run (pid {f.read().strip() or '?'}): wait "
                "for it to finish, or pass another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_key(folder: Path) -> str | None:
    marker = folder / KEY_MARKER
    return marker.read_text().strip() if marker.is_file() else None
