"""Collation, masking seeds, resumable streaming and the fixed validation subset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from data_prep.vocab import CLS_ID, PAD_ID, SEP_ID
from trainer.bphb import VAL_MASKING, VAL_SEED
from trainer.data import (
    MlmCollator,
    TrainStream,
    build_eval_batches,
    build_train_loader,
    encode_windows,
    eval_subset,
    set_streaming_local_world_size,
    spread_indices,
    train_composition,
)
from trainer.masking import IGNORE_INDEX, MaskingConfig, build_masker
from trainer.shards import open_shards


@pytest.fixture(scope="module")
def kmer(small_shards: Path):
    return open_shards(str(small_shards / "kmer6-overlap"))


@pytest.fixture(scope="module")
def char(small_shards: Path):
    return open_shards(str(small_shards / "char"))


def test_encode_windows_frames_pads_and_spans(kmer) -> None:
    rows = [np.arange(5, 15), np.arange(5, 12)]
    w = encode_windows(rows, kmer.vocab, max_len=14)
    assert w.input_ids[0, 0] == CLS_ID and w.input_ids[0, 11] == SEP_ID
    assert w.input_ids[1, 8] == SEP_ID and (w.input_ids[1, 9:] == PAD_ID).all()
    assert w.attention_mask[1].tolist() == [1] * 9 + [0] * 5
    assert w.special_mask[0].tolist() == [True] + [False] * 10 + [True] * 3
    assert w.spans[0, 1].tolist() == [0, 6] and w.spans[0, 10].tolist() == [9, 15]  # k = 6
    assert (w.spans[0, 0] == -1).all() and (w.spans[1, 8:] == -1).all()
    with pytest.raises(ValueError, match="raise --max-len"):
        encode_windows([np.arange(5, 20)], kmer.vocab, max_len=14)


def _samples(n: int, offset: int = 0) -> list[dict]:
    rng = np.random.default_rng(offset)
    return [
        {"input_ids": rng.integers(5, 10, 128).astype(np.uint16), "start": 128 * (i + offset)}
        for i in range(n)
    ]


def test_masks_depend_on_seed_and_content_only(char) -> None:
    masker = build_masker(MaskingConfig(), char.vocab)
    a = MlmCollator(char.vocab, masker, 130, seed=0, grad_accum=1, workers=2)
    b = MlmCollator(char.vocab, masker, 130, seed=0, grad_accum=1, workers=1)
    batch = _samples(8)
    out_a, out_b = a(batch), b(batch)
    assert torch.equal(out_a["labels"], out_b["labels"])
    assert torch.equal(out_a["input_ids"], out_b["input_ids"])
    assert not torch.equal(a(_samples(8, offset=1))["labels"], out_a["labels"])
    c = MlmCollator(char.vocab, masker, 130, seed=1, grad_accum=1, workers=1)
    assert not torch.equal(c(batch)["labels"], out_a["labels"])
    labelled = out_a["labels"] != IGNORE_INDEX
    assert 0.05 < labelled.float().mean() < 0.3
    assert set(out_a["stats"]) == {"masked_token_frac", "hidden_base_frac", "leak_frac"}


def test_curriculum_step_follows_the_stream_position(char) -> None:
    masker = build_masker(MaskingConfig(strategy="curriculum"), char.vocab)
    steps: list[int] = []
    masker_call = masker.__call__

    def spy(*args, **kwargs):
        steps.append(args[4])
        return masker_call(*args, **kwargs)

    col = MlmCollator(char.vocab, masker, 130, seed=0, grad_accum=2, workers=1)
    col.masker = spy
    col.start(first_micro=6)
    for _ in range(4):
        col(_samples(2))
    assert steps == [3, 3, 4, 4]  # micro-batches 6..9 with 2 per optimizer step


def _stream(shards, seed: int = 3, workers: int = 1) -> TrainStream:
    masker = build_masker(MaskingConfig(), shards.vocab)
    col = MlmCollator(shards.vocab, masker, shards.max_tokens + 2, seed, 1, workers)
    return TrainStream(build_train_loader(shards, col, 4, seed, 64, workers), col)


def test_loader_state_resumes_the_same_batches(char, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    full = _stream(char)
    expected = [full.next(i) for i in range(6)]
    first = _stream(char)
    for i in range(3):
        first.next(i)
    state = first.state_dict()
    resumed = _stream(char)
    resumed.load_state_dict(state)
    for i in range(3, 6):
        got = resumed.next(i)
        assert torch.equal(got["input_ids"], expected[i]["input_ids"])
        assert torch.equal(got["labels"], expected[i]["labels"])


@pytest.mark.parametrize(
    "given,launcher,expected",
    [(None, "2", "2"), ("1", "2", "2"), ("2", "1", "2"), ("4", None, "4")],
)
def test_streaming_local_world_size(
    monkeypatch: pytest.MonkeyPatch, given: str | None, launcher: str | None, expected: str
) -> None:
    for key, value in (("LOCAL_WORLD_SIZE", given), ("LOCAL_SIZE", launcher)):
        monkeypatch.setenv(key, value or "")  # recorded, so restored after the test
        if value is None:
            monkeypatch.delenv(key)
    set_streaming_local_world_size()
    assert os.environ["LOCAL_WORLD_SIZE"] == expected


def test_validation_masks_do_not_depend_on_world_size(char) -> None:
    masker = build_masker(VAL_MASKING, char.vocab)
    args = (char, masker, VAL_SEED, 21, char.max_tokens + 2, 4)
    single = build_eval_batches(*args, rank=0, world=1)
    ranks = [build_eval_batches(*args, rank=r, world=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # 11 rows for rank 0 -> 3 batches of 4
    one = torch.cat([b.labels for b in single])[:21]
    for r, batches in enumerate(ranks):
        labels = torch.cat([b.labels for b in batches])
        n = len(range(r, 21, 2))
        assert torch.equal(labels[:n], one[r::2])
        assert (labels[n:] == IGNORE_INDEX).all()  # filler rows score nothing
    again = build_eval_batches(*args, rank=0, world=1)
    assert all(torch.equal(a.input_ids, b.input_ids) for a, b in zip(single, again, strict=True))


def test_spread_indices_cover_records_in_proportion() -> None:
    # val stored genome by genome: 100 E. coli windows, then 300 yeast windows over 3 records
    records = ["ecoli"] * 100 + ["chrI"] * 50 + ["chrII"] * 150 + ["chrIII"] * 100
    picked = spread_indices(records, 40)
    assert picked == sorted(set(picked)) and len(picked) == 40
    got = {r: sum(records[i] == r for i in picked) for r in set(records)}
    assert got == {"ecoli": 10, "chrI": 5, "chrII": 15, "chrIII": 10}
    # evenly through each record, not its first windows
    ecoli = [i for i in picked if records[i] == "ecoli"]
    assert ecoli[0] < 10 and ecoli[-1] > 90
    assert spread_indices(records, 40) == picked  # deterministic
    assert spread_indices(records, 10_000) == list(range(len(records)))
    # largest remainders: 3 picks over sizes 100/50/150/100 go to the biggest shares
    assert sorted({records[i] for i in spread_indices(records, 3)}) == ["chrII", "chrIII", "ecoli"]


def test_eval_subset_is_spread_over_the_val_split(char) -> None:
    from streaming import StreamingDataset

    masker = build_masker(VAL_MASKING, char.vocab)
    batches = build_eval_batches(char, masker, VAL_SEED, 8, char.max_tokens + 2, 8, 0, 1)
    remote, local = char.split_paths("val")
    ds = StreamingDataset(remote=remote, local=local, shuffle=False)
    want = spread_indices([ds[i]["record"] for i in range(len(ds))], 8)
    assert want != list(range(8))  # not the first windows
    first_rows = torch.stack(
        [torch.tensor(np.array(ds[i]["input_ids"]), dtype=torch.long) for i in want]
    )
    assert torch.equal(
        batches[0].input_ids[:, 1:-1][batches[0].labels[:, 1:-1] == IGNORE_INDEX],
        first_rows[batches[0].labels[:, 1:-1] == IGNORE_INDEX],
    )


def test_train_composition_is_the_train_split_base_frequencies(char) -> None:
    from streaming import StreamingDataset

    remote, local = char.split_paths("train")
    ds = StreamingDataset(remote=remote, local=local, shuffle=False)
    comp = train_composition(ds, char.vocab, n_windows=10_000)  # more than there are: all
    ids = np.concatenate([np.asarray(ds[i]["input_ids"]) for i in range(len(ds))])
    counts = np.bincount(ids - 5, minlength=5)[:5] + 1.0  # char ids 5..9 = A C G T N
    np.testing.assert_allclose(comp, counts / counts.sum(), rtol=1e-12)
    assert comp.sum() == pytest.approx(1.0)


class RankShare:
    """A StreamingDataset as rank 0 of 2 sees it: ``len`` is its share, indices reach them all."""

    def __init__(self, records: list[str]) -> None:
        self.records = records
        self.num_samples = len(records)
        self.read: set[int] = set()

    def __len__(self) -> int:
        return (self.num_samples + 1) // 2

    def __getitem__(self, i: int) -> dict:
        self.read.add(i)
        base = 5 + ["ecoli", "yeast"].index(self.records[i])  # ecoli windows all A, yeast all C
        return {"record": self.records[i], "input_ids": np.full(4, base, dtype=np.uint16)}


def test_subsets_span_the_whole_split_under_several_ranks(char) -> None:
    # E. coli stored first: a subset over the first half (len) would be all E. coli
    ds = RankShare(["ecoli"] * 60 + ["yeast"] * 140)
    picked = eval_subset(ds, 20)
    assert sum(ds.records[i] == "yeast" for i in picked) == 14
    comp = train_composition(ds, char.vocab, n_windows=200)
    assert max(ds.read) == 199
    np.testing.assert_allclose(comp, np.array([241, 561, 1, 1, 1]) / 805)
