"""Benchmark loading, validation and task selection.

A benchmark directory holds ``<source>/<task>/{train,dev,test}.csv.gz`` files with the columns
``sequence,label``. Everything downstream (audit, scoring) trusts what this module returns, so all
input checks live here and fail with one line that names the file and the line: a silently
mis-parsed label or a quietly dropped ambiguity code would corrupt every number after it.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.sources import SourceError, benchmark_root
from dnapt.hashing import sha256_file
from eval.alphabet import BASES
from eval.contracts import ContractError, CuratedList

SPLITS = ("train", "dev", "test")
IUPAC_POLICIES = ("error", "n")
# IUPAC ambiguity codes (N excluded: it is part of the accepted alphabet).
_IUPAC_AMBIGUOUS = "RYSWKMBDHV"
_TO_N = str.maketrans(_IUPAC_AMBIGUOUS, "N" * len(_IUPAC_AMBIGUOUS))
_DROP_ACGTN = str.maketrans("", "", BASES)


class BenchmarkError(ValueError):
    """Malformed benchmark input; the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class Split:
    """One validated split file.

    ``iupac_rows`` counts rows whose IUPAC ambiguity codes were replaced by N (policy ``n``),
    ``lowercase_rows`` rows that were upper-cased and ``stripped_rows`` rows whose sequence had
    surrounding whitespace removed, so every change is reported, never silent.
    """

    name: str
    path: Path
    sequences: list[str]
    labels: np.ndarray
    sha256: str
    iupac_rows: int
    lowercase_rows: int
    stripped_rows: int = 0

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, keep: np.ndarray) -> Split:
        """The split restricted to the rows in ``keep`` (sorted row indices); same file identity."""
        return Split(
            name=self.name,
            path=self.path,
            sequences=[self.sequences[i] for i in keep],
            labels=self.labels[keep],
            sha256=self.sha256,
            iupac_rows=self.iupac_rows,
            lowercase_rows=self.lowercase_rows,
            stripped_rows=self.stripped_rows,
        )

    def changes(self) -> dict[str, int]:
        """Rows this split's sequences were changed in, by kind (reported beside every score)."""
        return {
            "iupac_rows": self.iupac_rows,
            "lowercase_rows": self.lowercase_rows,
            "stripped_rows": self.stripped_rows,
        }


def class_positions(classes: list[int], labels: np.ndarray) -> np.ndarray:
    """Each label's position in ``classes`` (a label outside them is a KeyError)."""
    pos = {c: i for i, c in enumerate(classes)}
    return np.array([pos[int(v)] for v in labels], dtype=np.int64)


@dataclass(frozen=True)
class Task:
    """A benchmark task ``source/task`` with the splits present on disk.

    Without a train split the model is trained on dev and there is no model selection; callers
    must say so beside every number (see ``train_split`` / ``selection_split``).
    """

    id: str
    splits: dict[str, Split]

    @property
    def train_split(self) -> str:
        return "train" if "train" in self.splits else "dev"

    @property
    def selection_split(self) -> str | None:
        """The split used for model selection, or None when there is none to use honestly."""
        return "dev" if "train" in self.splits and "dev" in self.splits else None

    @property
    def used_splits(self) -> list[str]:
        """The splits a model sees: training, selection (if any), test."""
        return [self.train_split, *([self.selection_split] if self.selection_split else []), "test"]

    @property
    def train(self) -> Split:
        return self.splits[self.train_split]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    @property
    def classes(self) -> list[int]:
        return sorted({int(c) for s in self.splits.values() for c in np.unique(s.labels)})

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """Labels as class positions 0..k-1 (what classifiers and metrics index by)."""
        return class_positions(self.classes, labels)

    @property
    def protocol_note(self) -> str:
        """The one-line caveat printed beside every number of this task ('' when none)."""
        if self.train_split == "dev":
            return "no train split: trained on dev, no model selection"
        if self.selection_split is None:
            return "no dev split: no model selection"
        return ""

    def with_test_rows_removed(self, drop: np.ndarray) -> Task:
        """The task with the given test rows removed (the audit's ``--dedup`` repair).

        Every index must be a distinct row of test: a row that does not exist cannot have been
        removed, and counting it would misreport the repair.
        """
        drop = np.asarray(drop, dtype=np.int64)
        bad = drop[(drop < 0) | (drop >= len(self.test))]
        if bad.size:
            raise BenchmarkError(
                f"{self.test.path}: test row {int(bad[0])} to exclude does not exist (test has "
                f"{len(self.test)} rows, 0-based); the curated list was made from other data"
            )
        if np.unique(drop).size != drop.size:
            raise BenchmarkError(f"{self.test.path}: a test row to exclude is listed twice")
        keep = np.setdiff1d(np.arange(len(self.test)), drop)
        return Task(self.id, {**self.splits, "test": self.test.subset(keep)})


def resolve_benchmark(explicit: str | None) -> Path:
    """The benchmark dir: ``--benchmark`` if given, else ``$DNAPT_DATA_MIRROR/benchmark``
    (``data_prep.sources.benchmark_root``, the one resolution every stage uses)."""
    try:
        return benchmark_root(explicit or None)
    except SourceError as e:
        raise BenchmarkError(str(e)) from None


def discover_tasks(root: Path) -> list[str]:
    """All ``source/task`` ids under ``root`` that hold at least one split file, sorted."""
    ids = []
    for source in sorted(p for p in root.iterdir() if p.is_dir()):
        for task in sorted(p for p in source.iterdir() if p.is_dir()):
            if any((task / f"{s}.csv.gz").is_file() for s in SPLITS):
                ids.append(f"{source.name}/{task.name}")
    return ids


def read_split(path: Path, name: str, iupac: str = "error") -> Split:
    """Read and validate one ``.csv.gz`` split.

    Sequences are upper-cased; IUPAC ambiguity codes either fail (``error``) or become N (``n``);
    anything else outside ACGTN always fails. Labels must be integers and the split must hold at
    least two classes, since MCC and AUROC are undefined on a single class.
    """
    if iupac not in IUPAC_POLICIES:
        raise BenchmarkError(f"unknown IUPAC policy {iupac!r} (choose from {IUPAC_POLICIES})")
    try:
        with gzip.open(path, "rt", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise BenchmarkError(f"{path}: unreadable ({e})") from e
    if not rows:
        raise BenchmarkError(f"{path}: empty file (no header)")
    header = [h.strip() for h in rows[0]]
    for column in ("sequence", "label"):
        if column not in header:
            raise BenchmarkError(f"{path}: line 1: missing column {column!r} (header: {header})")
    si, li = header.index("sequence"), header.index("label")
    sequences: list[str] = []
    labels: list[int] = []
    iupac_rows = lowercase_rows = stripped_rows = 0
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BenchmarkError(
                f"{path}: line {lineno}: {len(row)} fields, header has {len(header)}"
            )
        raw, label = row[si].strip(), row[li].strip()
        stripped_rows += raw != row[si]
        try:
            labels.append(int(label))
        except ValueError:
            raise BenchmarkError(
                f"{path}: line {lineno}: label {label!r} is not an integer"
            ) from None
        seq = raw.upper()
        if not seq:
            raise BenchmarkError(f"{path}: line {lineno}: empty sequence")
        lowercase_rows += seq != raw
        bad = seq.translate(_DROP_ACGTN)
        if bad:
            if iupac == "n" and not bad.strip(_IUPAC_AMBIGUOUS):
                seq = seq.translate(_TO_N)
                iupac_rows += 1
            else:
                kind = "IUPAC code" if bad[0] in _IUPAC_AMBIGUOUS else "character"
                hint = (
                    " (policy 'error'; --iupac n maps IUPAC codes to N)"
                    if kind == "IUPAC code"
                    else ""
                )
                raise BenchmarkError(
                    f"{path}: line {lineno}: {kind} {bad[0]!r} outside ACGTN{hint}"
                )
        sequences.append(seq)
    if not sequences:
        raise BenchmarkError(f"{path}: empty split (no data rows)")
    y = np.asarray(labels, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise BenchmarkError(f"{path}: single class (every label is {int(y[0])})")
    return Split(
        name, path, sequences, y, sha256_file(path), iupac_rows, lowercase_rows, stripped_rows
    )


def load_task(root: Path, task_id: str, iupac: str = "error") -> Task:
    """Load every split of ``source/task``; test and one of train/dev are required."""
    task_dir = root / task_id
    splits = {
        s: read_split(task_dir / f"{s}.csv.gz", s, iupac)
        for s in SPLITS
        if (task_dir / f"{s}.csv.gz").is_file()
    }
    if "test" not in splits:
        raise BenchmarkError(f"{task_dir}: no test.csv.gz")
    if "train" not in splits and "dev" not in splits:
        raise BenchmarkError(f"{task_dir}: neither train.csv.gz nor dev.csv.gz")
    return Task(task_id, splits)


@dataclass(frozen=True)
class Selection:
    """Which tasks to score, and the audit's repairs when they come from a curated list."""

    task_ids: list[str]
    curated_path: Path | None
    exclude_test_rows: dict[str, list[int]]


def _check_curated(curated: CuratedList, path: Path, root: Path, available: list[str]) -> None:
    """Check a (well-formed) curated list against the benchmark it is applied to.

    Each listed task must exist under ``root`` (its id is joined to a path) and carry a sha256
    for every split file on disk and only for those, each equal to the file's: an empty or
    partial entry would silently skip the check that the verdicts apply to this data.
    """
    for task_id in curated.tasks:
        if task_id not in available:
            raise BenchmarkError(
                f"{path}: task {task_id!r} is not in the benchmark {root}; {CuratedList.FIX}"
            )
        recorded = curated.sha256.get(task_id, {})
        on_disk = {s for s in SPLITS if (root / task_id / f"{s}.csv.gz").is_file()}
        if set(recorded) != on_disk:
            raise BenchmarkError(
                f"{path}: task {task_id!r} records sha256 for splits {sorted(recorded)}, but "
                f"{sorted(on_disk)} are on disk; {CuratedList.FIX}"
            )
        for split, digest in recorded.items():
            file = root / task_id / f"{split}.csv.gz"
            if sha256_file(file) != digest:
                raise BenchmarkError(f"{file}: sha256 differs from {path} (data changed?)")


def select_tasks(spec: str, root: Path) -> Selection:
    """Resolve ``curated:PATH/curated.json`` | ``all`` | ``t1,t2`` to task ids.

    A curated list is only valid for the data it was made from: every recorded sha256 must match
    the files on disk, otherwise the verdicts (and the repaired test rows) may not apply.
    """
    available = discover_tasks(root)
    if spec == "all":
        return Selection(available, None, {})
    if spec.startswith("curated:"):
        path = Path(spec.removeprefix("curated:"))
        try:
            curated = CuratedList.read(path)
        except ContractError as e:
            raise BenchmarkError(str(e)) from None
        _check_curated(curated, path, root, available)
        return Selection(list(curated.tasks), path, dict(curated.exclude_test_rows))
    ids = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in ids if t not in available]
    if unknown or not ids:
        raise BenchmarkError(f"{root}: unknown task(s) {unknown or spec!r}; available: {available}")
    return Selection(ids, None, {})
