from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from eval.baselines import gc_length_features
from eval.tasks.build import BuildError, _deduplicate, build_task
from eval.tasks.genome import Window, load_genome
from eval.tasks.negatives import Row
from eval.tasks.spec import SpecError, parse_spec
from tests.eval.tasks.conftest import toy_spec


def _bed(folder: Path, split: str) -> list[list[str]]:
    lines = gzip.decompress((folder / f"{split}.bed.gz").read_bytes()).decode().splitlines()
    return [line.split("\t") for line in lines[1:]]


def _csv(folder: Path, split: str) -> tuple[list[str], np.ndarray]:
    lines = gzip.decompress((folder / f"{split}.csv.gz").read_bytes()).decode().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return [r[0] for r in rows], np.array([int(r[1]) for r in rows])


def _gc_auroc(train: Path, test: Path) -> float:
    (xs, ys), (xt, yt) = _csv(train, "train"), _csv(test, "test")
    lr = LogisticRegression().fit(gc_length_features(xs), ys)
    return roc_auc_score(yt, lr.predict_proba(gc_length_features(xt))[:, 1])


def test_gc_matched_negatives_remove_a_real_gc_bias(toy, tmp_path):
    spec = parse_spec(toy_spec(toy), "toy.toml")
    record = build_task(spec, tmp_path)
    folder = tmp_path / "toy/site"
    assert record["shortcut"]["gc_check"] == "passed"
    assert record["shortcut"]["gc_length_lr_auroc"] <= 0.6
    assert _gc_auroc(folder, folder) <= 0.6
    # The bias is real: the same positives against uniformly drawn windows are separable by GC.
    genome = load_genome(str(toy["fasta"]))
    seqs, y = _csv(folder, "test")
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 59_000, size=int(y.sum()))
    uniform = ["".join("ACGTN"[c] for c in genome.records["chrE"][s : s + 100]) for s in starts]
    x = gc_length_features([s for s, lab in zip(seqs, y, strict=True) if lab == 1] + uniform)
    yy = np.r_[np.ones(int(y.sum())), np.zeros(len(uniform))]
    assert roc_auc_score(yy, x[:, 0]) > 0.65


def test_chromosome_split_shares_no_record(toy, tmp_path):
    build_task(parse_spec(toy_spec(toy), "toy.toml"), tmp_path)
    folder = tmp_path / "toy/site"
    records = {s: {r[0] for r in _bed(folder, s)} for s in ("train", "dev", "test")}
    assert records["dev"] == {"chrD"} and records["test"] == {"chrE"}
    assert records["train"] == {"chrA", "chrB", "chrC"}


def test_block_split_shares_no_base(toy, tmp_path):
    raw = toy_spec(toy, split={"blocks": [0.6, 0.2, 0.2]})
    build_task(parse_spec(raw, "toy.toml"), tmp_path)
    folder = tmp_path / "toy/site"
    covered = {}
    for split in ("train", "dev", "test"):
        for rec, start, end, *_ in _bed(folder, split):
            mask = covered.setdefault(rec, np.zeros(60_000, dtype=np.int8))
            mask[int(start) : int(end)] |= 1 << ("train", "dev", "test").index(split)
    for mask in covered.values():
        assert not np.isin(mask, [3, 5, 6, 7]).any()  # no base in two splits


def test_rerun_gives_identical_bytes(toy, tmp_path):
    raw = toy_spec(toy, negatives={"method": "gc-matched", "ratio": 2.0})
    for out in ("a", "b"):
        build_task(parse_spec(raw, "toy.toml"), tmp_path / out)
    files = sorted(p.name for p in (tmp_path / "a/toy/site").iterdir())
    assert len(files) == 7
    for name in files:
        assert (tmp_path / "a/toy/site" / name).read_bytes() == (
            tmp_path / "b/toy/site" / name
        ).read_bytes(), name
    other = toy_spec(toy, seed=1, negatives={"method": "gc-matched", "ratio": 2.0})
    build_task(parse_spec(other, "toy.toml"), tmp_path / "c")
    assert (tmp_path / "c/toy/site/train.csv.gz").read_bytes() != (
        tmp_path / "a/toy/site/train.csv.gz"
    ).read_bytes()


def test_dinuc_shuffle_negatives_pair_their_positive(toy, tmp_path):
    raw = toy_spec(toy, negatives={"method": "dinuc-shuffle"})
    record = build_task(parse_spec(raw, "toy.toml"), tmp_path)
    assert record["shortcut"]["gc_length_lr_auroc"] <= 0.6
    seqs, y = _csv(tmp_path / "toy/site", "test")
    assert sorted("".join(sorted(s)) for s in np.array(seqs)[y == 1]) == sorted(
        "".join(sorted(s)) for s in np.array(seqs)[y == 0]
    )


def test_existing_task_needs_overwrite(toy, tmp_path):
    spec = parse_spec(toy_spec(toy), "toy.toml")
    build_task(spec, tmp_path)
    with pytest.raises(SpecError, match="already exists; pass --overwrite"):
        build_task(spec, tmp_path)
    build_task(spec, tmp_path, overwrite=True)


def test_reverse_complement_duplicates_across_splits_removed():
    def row(seq: str, label: int) -> Row:
        codes = np.array(["ACGT".index(c) for c in seq], np.uint8)
        return Row(Window("r", 0, len(seq), "+"), label, "t", codes)

    rows = {
        "train": [row("AAACG", 1), row("AAACG", 1)],
        "dev": [row("CGTTT", 1), row("GGGGA", 0)],  # CGTTT = revcomp(AAACG)
        "test": [row("TCCCC", 0), row("ACACA", 1)],  # TCCCC = revcomp(GGGGA), in dev
    }
    stats = Counter()
    out = _deduplicate(rows, stats)
    assert [len(out[s]) for s in ("train", "dev", "test")] == [1, 1, 1]
    assert stats == {
        "duplicates_within_train": 1,
        "rc_or_exact_duplicates_dev_of_earlier_split": 1,
        "rc_or_exact_duplicates_test_of_earlier_split": 1,
    }


def test_failed_gc_check_stops_the_build_unless_overridden(toy, tmp_path, monkeypatch):
    from eval.tasks import build

    real = build.shortcut_check
    monkeypatch.setattr(build, "shortcut_check", lambda t: real(t) | {"gc_length_lr_auroc": 0.7})
    spec = parse_spec(toy_spec(toy), "toy.toml")
    with pytest.raises(BuildError, match=r"toy/site: GC\+length LR AUROC 0.700 > 0.6"):
        build_task(spec, tmp_path)
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())
    record = build_task(spec, tmp_path, allow_gc_shortcut=True)
    assert record["shortcut"]["gc_check"] == "FAILED, overridden by --allow-gc-shortcut"
    assert (tmp_path / "toy/site/task.json").is_file()
