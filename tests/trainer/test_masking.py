"""Masking strategies and the per-base leakage audit."""

from __future__ import annotations

import argparse
import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_prep.fasta import read_fasta
from data_prep.sources import resolve
from data_prep.vocab import Vocab, build_vocab
from dnapt.cli import add_options, from_namespace, to_argv
from trainer.masking import (
    IGNORE_INDEX,
    MASK_ID,
    STRATEGIES,
    Masker,
    MaskingConfig,
    alternating_runs,
    audit,
    build_masker,
    token_windows,
)

CLS, SEP, PAD = 2, 3, 0
VOCAB_NAMES = ("char", "kmer6-overlap", "kmer3-overlap", "kmer6-disjoint", "bpe-64")


@functools.cache
def ecoli() -> np.ndarray:
    """E. coli K-12 base codes (A0 C1 G2 T3 N4), through the project's registry and reader."""
    return next(iter(read_fasta(resolve("ecoli_k12")))).codes


def windows(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    g = ecoli()
    starts = rng.integers(0, g.size - length, n)
    return ["".join("ACGTN"[c] for c in g[s : s + length]) for s in starts]


@functools.cache
def vocab(name: str) -> Vocab:
    texts = windows(200, 256, seed=1) if name.startswith("bpe") else None
    return build_vocab(name, 256, texts)


def pack(v: Vocab, seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[CLS] ids [SEP] [PAD]... with (-1, -1) spans for specials, as the collator builds them."""
    ids = [v.encode(s) for s in seqs]
    t = max(len(x) for x in ids) + 2
    out = torch.full((len(seqs), t), PAD, dtype=torch.long)
    spans = torch.full((len(seqs), t, 2), -1, dtype=torch.long)
    for i, x in enumerate(ids):
        out[i, 0], out[i, len(x) + 1] = CLS, SEP
        out[i, 1 : len(x) + 1] = torch.as_tensor(x)
        spans[i, 1 : len(x) + 1] = torch.as_tensor(v.token_spans(x))
    return out, spans, out < 5


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the audit on hand-made inputs ---------------------------------------------------------


def test_dnabert_neighbor_span_leaks_10_of_11_bases() -> None:
    v = vocab("kmer6-overlap")
    ids, spans, special = pack(v, windows(1, 40, seed=3))
    centre = torch.zeros_like(special)
    centre[0, 15] = True
    selected = token_windows(centre, 2, 3)  # DNABERT's k=6 window: offsets -2..+3
    assert selected[0].nonzero().flatten().tolist() == list(range(13, 19))
    masker = Masker(MaskingConfig("neighbor", mask_prob=1.0, random_prob=0.0), v.size, v.family, 6)
    masked, labels = masker.corrupt(ids, selected, gen())
    hidden, stats = audit(ids, masked, labels, spans, special)
    assert stats["leak_frac"] == pytest.approx(10 / 11)
    # tokens 13..18 (content 12..17) cover bases 12..22; only base 17 has no unmasked cover
    assert hidden[0].nonzero().flatten().tolist() == [17]
    assert stats["hidden_base_frac"] == pytest.approx(1 / 40)
    assert stats["masked_token_frac"] == pytest.approx(6 / 35)


def test_neighbor_masker_isolated_windows_leak_10_of_11() -> None:
    v = vocab("kmer6-overlap")
    ids, spans, special = pack(v, windows(256, 100, seed=12))
    cfg = MaskingConfig("neighbor", ratio=0.06, mask_prob=1.0, random_prob=0.0)
    out = build_masker(cfg, v)(ids, spans, special, gen(6))
    checked = 0
    for row in range(ids.shape[0]):
        lab = (out.labels[row] != IGNORE_INDEX).nonzero().flatten()
        if lab.numel() != 6 or lab[-1] - lab[0] != 5 or lab[0] < 2 or lab[-1] > 93:
            continue  # not a single whole window clear of the edges
        one = slice(row, row + 1)
        hidden, stats = audit(
            ids[one], out.input_ids[one], out.labels[one], spans[one], special[one]
        )
        assert stats["leak_frac"] == pytest.approx(10 / 11)
        # content tokens c..c+5 (input positions +1) hide only base c+5
        assert hidden[0].nonzero().flatten().tolist() == [int(lab[0]) - 1 + 5]
        checked += 1
    assert checked >= 20


def test_neighbor_masker_uses_dnabert_window_for_every_k() -> None:
    # DNABERT's mask_list: k=3 -> -1..+1, k=4 -> -1..+2, k=5 -> -2..+2, k=6 -> -2..+3.
    for k, (lo, hi) in {3: (-1, 1), 4: (-1, 2), 5: (-2, 2), 6: (-2, 3)}.items():
        centre = torch.zeros(1, 30, dtype=torch.bool)
        centre[0, 10] = True
        win = token_windows(centre, (k - 1) // 2, k // 2)
        assert win[0].nonzero().flatten().tolist() == list(range(10 + lo, 10 + hi + 1))


def test_audit_random_split_char() -> None:
    # 10 char tokens: token 2 -> [MASK], 5 -> a different base, 7 kept unchanged.
    v = vocab("char")
    ids, spans, special = pack(v, ["ACGTACGTAC"])
    masked = ids.clone()
    labels = torch.full_like(ids, IGNORE_INDEX)
    for pos in (3, 6, 8):  # content positions 2, 5, 7 (after [CLS])
        labels[0, pos] = ids[0, pos]
    masked[0, 3] = MASK_ID
    masked[0, 6] = 5 + (int(ids[0, 6]) - 5 + 1) % 4  # wrong base: shows a wrong identity
    hidden, stats = audit(ids, masked, labels, spans, special)
    assert hidden[0].nonzero().flatten().tolist() == [2, 5]
    assert stats == pytest.approx(
        {"masked_token_frac": 3 / 10, "hidden_base_frac": 2 / 10, "leak_frac": 1 / 3}
    )
    masked[0, 6] = ids[0, 6]  # a "random" draw that hit the original shows the truth
    _, stats = audit(ids, masked, labels, spans, special)
    assert stats["leak_frac"] == pytest.approx(2 / 3)


def test_audit_disjoint_span_hides_whole_tokens() -> None:
    v = vocab("kmer6-disjoint")
    ids, spans, special = pack(v, windows(1, 60, seed=4))  # 10 six-mers
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 4:7] = ids[0, 4:7]
    masked = torch.where(labels != IGNORE_INDEX, MASK_ID, ids)
    hidden, stats = audit(ids, masked, labels, spans, special)
    assert hidden[0].nonzero().flatten().tolist() == list(range(18, 36))
    assert stats == pytest.approx(
        {"masked_token_frac": 3 / 10, "hidden_base_frac": 18 / 60, "leak_frac": 0.0}
    )


def test_leakfree_on_overlapping_kmers_masks_m_plus_k_minus_1_tokens() -> None:
    v = vocab("kmer6-overlap")
    ids, spans, special = pack(v, windows(64, 200, seed=5))
    masker = build_masker(MaskingConfig("leakfree", ratio=0.03, mean_span=4.0), v)
    hide = masker.hide_bases(spans, special, gen(7))
    out = masker(ids, spans, special, gen(7))
    assert not (hide & ~out.hidden).any()
    checked = 0
    for row in range(ids.shape[0]):
        h = hide[row].nonzero().flatten()
        if h.numel() == 0:
            continue
        runs = torch.tensor_split(h, (torch.diff(h) > 1).nonzero().flatten() + 1)
        gaps = [int(b[0] - a[-1]) for a, b in zip(runs[:-1], runs[1:], strict=True)]
        if min(gaps, default=99) <= 10 or h[0] < 6 or h[-1] > 193:
            continue  # runs close together (or at an edge) share tokens or covered bases
        # m hidden bases -> m + k - 1 labelled tokens, covering m + 2(k - 1) bases
        m = sum(len(r) for r in runs)
        _, stats = audit(
            ids[row : row + 1],
            out.input_ids[row : row + 1],
            out.labels[row : row + 1],
            spans[row : row + 1],
            special[row : row + 1],
        )
        assert (out.labels[row] != IGNORE_INDEX).sum().item() == m + 5 * len(runs)
        assert torch.equal(out.hidden[row], hide[row])
        assert stats["leak_frac"] == pytest.approx(10 * len(runs) / (m + 10 * len(runs)))
        checked += 1
    assert checked >= 10


# --- strategies: rates, parameters, errors, determinism --------------------------------------


@pytest.mark.parametrize(
    ("strategy", "vocab_name"),
    [
        ("random", "char"),
        ("neighbor", "kmer6-overlap"),
        ("span", "kmer6-disjoint"),
        ("curriculum", "kmer6-overlap"),
        ("curriculum", "bpe-64"),
    ],
)
def test_masked_token_frac_near_ratio(strategy: str, vocab_name: str) -> None:
    v = vocab(vocab_name)
    ids, spans, special = pack(v, windows(64, 256, seed=6))
    for step in (0, 10_000):
        cfg = MaskingConfig(strategy, ratio=0.15, mean_span=3.0, curriculum_steps=10_000)
        out = build_masker(cfg, v)(ids, spans, special, gen(1), step=step)
        assert out.stats["masked_token_frac"] == pytest.approx(0.15, abs=0.02)
        labelled = out.labels != IGNORE_INDEX
        assert not (labelled & special).any()
        assert torch.equal(out.labels[labelled], ids[labelled])
        assert torch.equal(out.input_ids[~labelled], ids[~labelled])


def test_bert_split_is_configurable() -> None:
    v = vocab("char")
    ids, spans, special = pack(v, windows(64, 256, seed=8))
    for mask_p, rand_p in ((0.8, 0.1), (0.5, 0.5), (1.0, 0.0)):
        cfg = MaskingConfig("random", ratio=0.3, mask_prob=mask_p, random_prob=rand_p)
        out = build_masker(cfg, v)(ids, spans, special, gen(2))
        lab = out.labels != IGNORE_INDEX
        n = lab.sum().item()
        as_mask = (out.input_ids[lab] == MASK_ID).sum().item() / n
        changed = ((out.input_ids[lab] != ids[lab]) & (out.input_ids[lab] != MASK_ID)).sum()
        assert as_mask == pytest.approx(mask_p, abs=0.03)
        # a random base equals the original 1 time in 5 (A C G T N)
        assert changed.item() / n == pytest.approx(rand_p * 4 / 5, abs=0.03)
        assert ((out.input_ids[lab] >= 5) | (out.input_ids[lab] == MASK_ID)).all()


def test_leakfree_hides_ratio_of_char_bases_with_geometric_spans() -> None:
    v = vocab("char")
    ids, spans, special = pack(v, windows(64, 256, seed=9))
    out = build_masker(MaskingConfig("leakfree", ratio=0.2, mean_span=5.0), v)(
        ids, spans, special, gen(3)
    )
    assert out.stats["hidden_base_frac"] == pytest.approx(0.2, abs=0.02)
    assert out.stats["masked_token_frac"] == pytest.approx(out.stats["hidden_base_frac"])
    assert out.stats["leak_frac"] == 0.0
    assert (out.input_ids[out.labels != IGNORE_INDEX] == MASK_ID).all()  # 10/10 off by default


def test_alternating_runs_mean_length_and_ratio() -> None:
    runs = alternating_runs(200, 2000, 0.15, 4.0, gen(4))
    assert runs.float().mean().item() == pytest.approx(0.15, abs=0.01)
    starts = runs[:, 1:] & ~runs[:, :-1]
    assert runs[:, 1:].sum().item() / starts.sum().item() == pytest.approx(4.0, rel=0.05)
    assert runs[:, 0].float().mean().item() == pytest.approx(0.15, abs=0.05)  # stationary start


def test_curriculum_width_widens_over_steps() -> None:
    cfg = MaskingConfig("curriculum", curriculum_start=6, curriculum_end=14, curriculum_steps=100)
    m = build_masker(cfg, vocab("kmer6-overlap"))
    assert [m.curriculum_width(s) for s in (0, 50, 100, 10_000)] == [6, 10, 14, 14]
    ids, spans, special = pack(vocab("kmer6-overlap"), windows(64, 256, seed=10))
    early = m(ids, spans, special, gen(5), step=0).stats["hidden_base_frac"]
    late = m(ids, spans, special, gen(5), step=100).stats["hidden_base_frac"]
    assert late > 1.5 * early  # wider windows on overlapping k-mers hide more bases


def test_same_seed_same_output_different_seed_differs() -> None:
    v = vocab("kmer6-overlap")
    ids, spans, special = pack(v, windows(8, 128, seed=11))
    for strategy in STRATEGIES:
        m = build_masker(MaskingConfig(strategy), v)
        a, b = m(ids, spans, special, gen(1), 5), m(ids, spans, special, gen(1), 5)
        c = m(ids, spans, special, gen(2), 5)
        assert torch.equal(a.input_ids, b.input_ids) and a.stats == b.stats
        assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize("name", ["char", "kmer6-disjoint", "bpe-64"])
def test_neighbor_rejects_non_overlapping_vocab(name: str) -> None:
    with pytest.raises(ValueError, match="overlapping k-mer vocabularies only"):
        build_masker(MaskingConfig("neighbor"), vocab(name))


def test_config_validation_and_defaults() -> None:
    assert MaskingConfig("random").resolved().split() == (0.8, 0.1)
    assert MaskingConfig("leakfree").resolved().split() == (1.0, 0.0)
    with pytest.raises(ValueError, match="unknown masking"):
        MaskingConfig("whole-word")
    with pytest.raises(ValueError, match="sum to <= 1"):
        MaskingConfig("random", mask_prob=0.9, random_prob=0.2)
    with pytest.raises(ValueError, match="too high for mean_span"):
        MaskingConfig("span", ratio=0.6, mean_span=1.0)
    parser = argparse.ArgumentParser()
    add_options(parser, MaskingConfig)
    ns = parser.parse_args(["--masking", "leakfree", "--mask-ratio", "0.2", "--mean-span", "8"])
    cfg = from_namespace(MaskingConfig, ns).resolved()
    assert cfg == MaskingConfig("leakfree", 0.2, 1.0, 0.0, 8.0)
    assert to_argv(cfg)[:2] == ["--masking", "leakfree"]
    assert from_namespace(MaskingConfig, parser.parse_args(to_argv(cfg))) == cfg
    assert cfg.to_dict()["mask_prob"] == 1.0


# --- property: leakfree never leaves a hidden base visible -----------------------------------


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    name=st.sampled_from(VOCAB_NAMES),
    seed=st.integers(0, 2**31 - 1),
    window=st.integers(8, 160),
    rows=st.integers(1, 6),
    ratio=st.floats(0.01, 0.5),
    mean_span=st.floats(1.0, 12.0),
    n_frac=st.sampled_from([0.0, 0.0, 0.05]),
)
def test_leakfree_never_leaves_a_chosen_base_visible(
    name: str, seed: int, window: int, rows: int, ratio: float, mean_span: float, n_frac: float
) -> None:
    v = vocab(name)
    seqs = windows(rows, window, seed)
    rng = np.random.default_rng(seed)
    seqs = ["".join("N" if rng.random() < n_frac else b for b in s) for s in seqs]
    ids, spans, special = pack(v, seqs)
    cfg = MaskingConfig(
        "leakfree", ratio=min(ratio, mean_span / (mean_span + 1)), mean_span=mean_span
    )
    m = build_masker(cfg, v)
    chosen = m.hide_bases(spans, special, gen(seed))
    out = m(ids, spans, special, gen(seed))
    assert not (chosen & ~out.hidden).any()
    # every token touching a chosen base is labelled and shown as [MASK]; no other token is
    starts, ends = spans[..., 0], spans[..., 1]
    pos = torch.arange(chosen.shape[1])
    touches = (chosen[:, None, :] & (pos >= starts[..., None]) & (pos < ends[..., None])).any(-1)
    labelled = out.labels != IGNORE_INDEX
    assert torch.equal(labelled, touches & ~special)
    assert (out.input_ids[labelled] == MASK_ID).all()
    if v.family != "kmer-overlap":  # tiling vocabularies: nothing labelled is visible
        assert out.stats["leak_frac"] == 0.0
