"""Bits per hidden base: hand-computed cases and the char == cross-entropy identity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data_prep.vocab import build_vocab
from trainer.bphb import VAL_MASKING, VAL_SEED, BaseScorer, BphbTotals
from trainer.data import encode_windows
from trainer.masking import IGNORE_INDEX, build_masker

NEG = -float("inf")


def two_token_case(
    token_bases: list[list[int]], spans: list[list[int]], probs: list[list[float]]
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 2-content-token vocabulary (ids 5, 6): table, logits, spans, everything masked."""
    tb = np.full((7, 2), -1, dtype=np.int8)
    tb[5:] = token_bases
    logits = torch.full((1, len(spans), 7), NEG)
    logits[0, :, 5:] = torch.log(torch.tensor(probs))
    return tb, logits, torch.tensor([spans]), torch.ones(1, max(e for _, e in spans), dtype=bool)


def test_two_token_vocab_variable_length_hand_computed() -> None:
    # tokens: 5 = "AC", 6 = "G"; window "ACG" = [5, 6], both masked, all 3 bases hidden.
    tb, logits, spans, hidden = two_token_case(
        [[0, 1], [2, -1]], [[0, 2], [2, 3]], [[0.75, 0.25], [0.4, 0.6]]
    )
    labels = torch.tensor([[5, 6]])
    r = BaseScorer(tb).score(logits, labels, spans, hidden)
    # base 0: P(A) = 0.75 (G from token 6 gets the rest); base 1: only "AC" reaches offset 1,
    # renormalized P(C) = 1; base 2: P(G) = 0.6 (A from "AC" at offset 0 gets 0.4).
    want = (-math.log2(0.75) - math.log2(1.0) - math.log2(0.6)) / 3
    assert r.bases == 3
    assert r.bphb == pytest.approx(want)
    assert r.correct == 3


def test_two_token_vocab_overlapping_tokens_average_over_cover() -> None:
    # k=2 overlapping tokens: 5 = "AC", 6 = "CA"; window "ACA" = [5, 6] (spans [0,2) and [1,3)).
    tb, logits, spans, hidden = two_token_case(
        [[0, 1], [1, 0]], [[0, 2], [1, 3]], [[0.9, 0.1], [0.3, 0.7]]
    )
    labels = torch.tensor([[5, 6]])
    r = BaseScorer(tb).score(logits, labels, spans, hidden)
    p0 = 0.9  # base 0 = A: token 0 offset 0
    p1 = (0.9 + 0.7) / 2  # base 1 = C: token 0 offset 1 (C from "AC"), token 1 offset 0 ("CA")
    p2 = 0.7  # base 2 = A: token 1 offset 1 ("CA")
    assert r.bphb == pytest.approx(-(math.log2(p0) + math.log2(p1) + math.log2(p2)) / 3)
    # base 2: P(A) = 0.7 > P(C) = 0.3, so all three argmaxes are right
    assert (r.bases, r.correct) == (3, 3)
    # only base 1 hidden: one score, from both covering tokens
    hidden[0, [0, 2]] = False
    r1 = BaseScorer(tb).score(logits, labels, spans, hidden)
    assert (r1.bases, r1.bphb) == (1, pytest.approx(-math.log2(p1)))


def test_visible_and_unlabelled_bases_are_not_scored() -> None:
    tb, logits, spans, hidden = two_token_case(
        [[0, 1], [2, -1]], [[0, 2], [2, 3]], [[0.75, 0.25], [0.4, 0.6]]
    )
    labels = torch.tensor([[5, IGNORE_INDEX]])
    hidden[0, 2] = False
    r = BaseScorer(tb).score(logits, labels, spans, hidden)
    assert r.bases == 2
    assert BaseScorer(tb).score(logits, torch.full_like(labels, IGNORE_INDEX), spans, hidden) == (
        BphbTotals()
    )


@pytest.fixture(scope="module")
def char_batch() -> tuple:
    v = build_vocab("char", 128)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 128)) for _ in range(16)]
    body = torch.as_tensor(np.stack([v.encode(s) for s in seqs]))
    ids = torch.cat([torch.full((16, 1), 2), body, torch.full((16, 1), 3)], 1)
    sp = torch.as_tensor(np.stack([v.token_spans(x) for x in body.numpy()]))
    spans = torch.cat([torch.full((16, 1, 2), -1), sp, torch.full((16, 1, 2), -1)], 1)
    out = build_masker(VAL_MASKING, v)(ids, spans, ids < 5, torch.Generator().manual_seed(VAL_SEED))
    logits = torch.randn(16, 130, v.size, generator=torch.Generator().manual_seed(1)) * 2
    return v, out, spans, logits


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_char_bphb_equals_token_cross_entropy_in_bits(char_batch: tuple, device: str) -> None:
    # labels, spans and hidden stay on the CPU, as the loader makes them; logits on ``device``
    v, out, spans, logits = char_batch
    logits = logits.clone().to(device)
    logits[..., :5] = NEG  # a char model's special logits carry no base
    r = BaseScorer.for_vocab(v).score(logits, out.labels, spans, out.hidden)
    n = int((out.labels != IGNORE_INDEX).sum())
    ce = F.cross_entropy(logits.cpu().reshape(-1, v.size), out.labels.reshape(-1), reduction="sum")
    assert r.bases == n > 200
    assert r.bphb == pytest.approx(ce.item() / n / math.log(2), rel=1e-6)
    pred = logits.cpu().argmax(-1)[out.labels != IGNORE_INDEX]
    assert r.correct == int((pred == out.labels[out.labels != IGNORE_INDEX]).sum())


def test_special_token_mass_is_renormalized_away(char_batch: tuple) -> None:
    v, out, spans, logits = char_batch
    r = BaseScorer(v.token_bases(1)).score(logits, out.labels, spans, out.hidden)
    content = logits[..., 5:]
    ce = F.cross_entropy(
        content.reshape(-1, v.size - 5),
        (out.labels - 5).clamp(min=-100).reshape(-1),
        reduction="sum",
    )
    assert r.bphb == pytest.approx(ce.item() / r.bases / math.log(2), rel=1e-6)


def test_totals_add_and_empty_is_nan() -> None:
    total = BphbTotals(3.0, 1, 2) + BphbTotals(1.0, 1, 2)
    assert (total.bphb, total.accuracy) == (1.0, 0.5)
    assert math.isnan(BphbTotals().bphb)


def _packed(name: str, seqs: list[str], train: list[str] | None = None) -> tuple:
    v = build_vocab(name, len(seqs[0]), train)
    ids = [v.encode(s) for s in seqs]
    w = encode_windows(ids, v, max(len(x) for x in ids) + 2)
    out, spans = w.input_ids, w.spans
    masked = build_masker(VAL_MASKING, v)(
        out, spans, w.special_mask, torch.Generator().manual_seed(VAL_SEED)
    )
    return v, masked, spans


def test_uniform_kmer_model_scores_two_bits_and_oracle_zero() -> None:
    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(8)]
    v, out, spans = _packed("kmer6-overlap", seqs)
    uniform = torch.zeros(*out.labels.shape, v.size)
    r = BaseScorer.for_vocab(v).score(uniform, out.labels, spans, out.hidden)
    assert r.bases == int(out.hidden.sum()) > 100
    assert r.bphb == pytest.approx(2.0)
    v, out, spans = _packed("bpe-64", seqs, train=seqs)
    oracle = F.one_hot(out.labels.clamp(min=0), v.size).float() * 50
    r = BaseScorer.for_vocab(v).score(oracle, out.labels, spans, out.hidden)
    assert r.bases == int(out.hidden.sum()) > 100
    assert r.bphb == pytest.approx(0.0, abs=1e-6)
    assert r.accuracy == 1.0


def test_composition_reference_scores_the_same_hidden_bases() -> None:
    # tokens: 5 = "AC", 6 = "G"; window "ACG", all 3 bases hidden
    tb, logits, spans, hidden = two_token_case(
        [[0, 1], [2, -1]], [[0, 2], [2, 3]], [[0.75, 0.25], [0.4, 0.6]]
    )
    comp = np.array([0.3, 0.2, 0.2, 0.3, 0.0])
    r = BaseScorer(tb, comp).score(logits, torch.tensor([[5, 6]]), spans, hidden)
    assert r.composition_bphb == pytest.approx(-(math.log2(0.3) + math.log2(0.2) * 2) / 3)
    hidden[0, 0] = False  # only bases C and G scored
    r = BaseScorer(tb, comp).score(logits, torch.tensor([[5, 6]]), spans, hidden)
    assert (r.bases, r.composition_bphb) == (2, pytest.approx(-math.log2(0.2)))
    # masked-only logits ([N, V] at the labelled positions) score the same
    picked = logits[0]
    r2 = BaseScorer(tb, comp).score(picked, torch.tensor([[5, 6]]), spans, hidden)
    assert (r2.bits, r2.bases) == (pytest.approx(r.bits), r.bases)
