"""trainer.step: the masked-only LM head and the hidden-bases objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data_prep.vocab import build_vocab
from trainer.bphb import BaseScorer
from trainer.data import encode_windows
from trainer.masking import FIRST_CONTENT_ID, MaskingConfig, build_masker
from trainer.models import build_model, model_config
from trainer.step import mlm_forward

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def fp32_one_thread():
    """The equalities below are exact up to fp32 rounding: pin precision and threads."""
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


def batch(vocab_name: str, strategy: str, n: int = 6, window: int = 40, seed: int = 1):
    vocab = build_vocab(vocab_name, window)
    seqs = ["".join(RNG.choice(list("ACGT"), window)) for _ in range(n)]
    rows = [vocab.encode(s) for s in seqs]
    max_len = vocab.max_tokens(window) + 2
    w = encode_windows(rows, vocab, max_len)
    masker = build_masker(MaskingConfig(strategy=strategy, ratio=0.15, mean_span=3.0), vocab)
    out = masker(w.input_ids, w.spans, w.special_mask, torch.Generator().manual_seed(seed))
    return vocab, w, out, max_len


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("model_name", ["bert-tiny", "modernbert-tiny"])
@pytest.mark.parametrize("vocab_name", ["kmer6-overlap", "char"])
def test_masked_head_equals_full_logits(model_name: str, vocab_name: str) -> None:
    vocab, w, out, max_len = batch(vocab_name, "random")
    torch.manual_seed(0)
    model = build_model(model_config(model_name, vocab.size, max_len)).eval()
    results = {}
    for masked in (True, False):
        model.zero_grad()
        r = mlm_forward(model, out.input_ids, w.attention_mask, out.labels, masked_head=masked)
        r.loss.backward()
        results[masked] = (r, grads(model))
    (m, gm), (f, gf) = results[True], results[False]
    assert m.logits.shape == (int(m.labelled), vocab.size)
    assert f.logits.dim() == 3
    assert float(m.loss.detach()) == pytest.approx(float(f.loss.detach()), abs=1e-6)
    assert int(m.correct) == int(f.correct)
    assert gm.keys() == gf.keys() and len(gm) > 0
    for k in gm:
        torch.testing.assert_close(gm[k], gf[k], atol=1e-6, rtol=0)
    # the head is back to full logits after the call (the hook is removed)
    assert model(input_ids=out.input_ids, attention_mask=w.attention_mask).logits.dim() == 3


def test_hidden_bases_on_char_is_content_token_cross_entropy() -> None:
    # leakfree on char: every labelled token is [MASK]ed, so labelled tokens = hidden bases.
    vocab, w, out, _ = batch("char", "leakfree")
    scorer = BaseScorer.for_vocab(vocab)
    logits = torch.randn(
        *out.input_ids.shape, vocab.size, generator=torch.Generator().manual_seed(3)
    )
    sel = out.labels != -100
    picked = logits[sel].requires_grad_()
    p_true = scorer.true_base_probs(picked, out.labels, w.spans, out.hidden)
    loss = -torch.log(p_true).mean()
    # char tokens are single bases, so the per-base marginal is the softmax over content ids
    content = picked[:, FIRST_CONTENT_ID:]
    want = F.cross_entropy(content.detach(), out.labels[sel] - FIRST_CONTENT_ID)
    assert p_true.numel() == int(sel.sum()) > 0
    assert float(loss.detach()) == pytest.approx(float(want), abs=1e-6)
    # and the token cross-entropy itself once the model gives special ids no mass
    masked_specials = picked.detach().clone()
    masked_specials[:, :FIRST_CONTENT_ID] = -float("inf")
    assert float(loss.detach()) == pytest.approx(
        float(F.cross_entropy(masked_specials, out.labels[sel])), abs=1e-6
    )


def test_hidden_bases_objective_ignores_visible_bases() -> None:
    # random masking on overlapping 6-mers: most labelled tokens' bases are visible next door.
    vocab, w, out, _ = batch("kmer6-overlap", "random", n=8, window=60)
    scorer = BaseScorer.for_vocab(vocab)
    sel = out.labels != -100
    picked = torch.randn(int(sel.sum()), vocab.size, generator=torch.Generator().manual_seed(4))
    picked.requires_grad_()
    loss = -torch.log(scorer.true_base_probs(picked, out.labels, w.spans, out.hidden)).mean()
    loss.backward()
    # which labelled tokens cover at least one hidden base
    b_idx, t_idx = sel.nonzero(as_tuple=True)
    spans = w.spans[b_idx, t_idx]
    covers_hidden = torch.tensor(
        [
            bool(out.hidden[b, s:e].any())
            for b, (s, e) in zip(b_idx.tolist(), spans.tolist(), strict=True)
        ]
    )
    assert covers_hidden.any() and (~covers_hidden).any()
    row_grad = picked.grad.abs().sum(1)
    assert torch.all(row_grad[~covers_hidden] == 0)
    assert torch.all(row_grad[covers_hidden] > 0)
    # redrawing the logits of tokens that cover only visible bases leaves the loss unchanged
    with torch.no_grad():
        again = picked.detach().clone()
        again[~covers_hidden] = torch.randn(int((~covers_hidden).sum()), vocab.size)
        loss2 = -torch.log(scorer.true_base_probs(again, out.labels, w.spans, out.hidden)).mean()
    assert float(loss2) == pytest.approx(float(loss.detach()), abs=1e-9)
