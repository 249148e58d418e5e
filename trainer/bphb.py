"""Bits per hidden base (BPHB): a masked-LM score that is comparable across vocabularies.

Token-level MLM loss is not: a 6-mer label carries six bases (five of them often visible next
door), a BPE label a variable number. BPHB scores only what the model could not see. For each
hidden base (see ``trainer.masking``), every labelled token covering it gives a distribution over
the base at that offset, by summing the token distribution over ids with each base there (ids too
short to reach the offset, and special ids, get no mass; renormalize). Those per-token
distributions are averaged over the covering tokens; BPHB is ``-log2`` of the averaged
probability of the true base, and hidden-base accuracy is whether its argmax is the true base.

Validation runs one fixed ``leakfree`` masking (``VAL_MASKING`` with ``VAL_SEED``) for every run,
so BPHB numbers from different vocabularies and training strategies score the same bases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from trainer.masking import IGNORE_INDEX, MaskingConfig


class VocabTable(Protocol):
    """The part of ``data_prep.vocab.Vocab`` BPHB needs."""

    @property
    def token_lengths(self) -> np.ndarray: ...

    def token_bases(self, max_len: int) -> np.ndarray: ...


N_BASE_CODES = 5  # A C G T N, as in data_prep.vocab.token_bases
VAL_MASKING = MaskingConfig(strategy="leakfree", ratio=0.15, mean_span=6.0).resolved()
VAL_SEED = 20_231_011


@dataclass
class BphbTotals:
    """Running sums over hidden bases; add batches with ``+`` (and across ranks by summing)."""

    bits: float = 0.0
    correct: int = 0
    bases: int = 0

    def __add__(self, other: BphbTotals) -> BphbTotals:
        return BphbTotals(
            self.bits + other.bits, self.correct + other.correct, self.bases + other.bases
        )

    @property
    def bphb(self) -> float:
        """Mean bits per hidden base (nan when no base was scored)."""
        return self.bits / self.bases if self.bases else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.bases if self.bases else float("nan")


class BaseScorer:
    """Turns MLM logits into per-hidden-base scores for one vocabulary.

    ``token_bases`` is ``vocab.token_bases(max_len)`` with ``max_len`` the longest token: row v,
    column o holds the base code of token v at offset o, or -1.
    """

    def __init__(self, token_bases: np.ndarray) -> None:
        tb = torch.as_tensor(np.asarray(token_bases), dtype=torch.long)
        self.token_bases = tb
        self.max_len = tb.shape[1]
        # onehot[v, o * 5 + x] = 1 iff token v has base x at offset o.
        onehot = torch.zeros(tb.shape[0], self.max_len, N_BASE_CODES)
        known = tb >= 0
        onehot[known.nonzero(as_tuple=True) + (tb[known],)] = 1.0
        self.onehot = onehot.reshape(tb.shape[0], self.max_len * N_BASE_CODES)

    @classmethod
    def for_vocab(cls, vocab: VocabTable) -> BaseScorer:
        """The scorer for a ``data_prep.vocab.Vocab`` (table as wide as its longest token)."""
        return cls(vocab.token_bases(int(vocab.token_lengths.max())))

    def score(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        spans: torch.Tensor,
        hidden: torch.Tensor,
    ) -> BphbTotals:
        """Score one batch: ``logits`` [B, T, V], ``labels``/``spans``/``hidden`` from the masker.

        Runs on ``logits.device``; the other tensors may live on the CPU (as the loader makes them).
        """
        dev = logits.device
        labels, spans, hidden = labels.to(dev), spans.to(dev), hidden.to(dev)
        b_idx, t_idx = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        if b_idx.numel() == 0:
            return BphbTotals()
        probs = torch.softmax(logits[b_idx, t_idx].float(), dim=-1)  # [N, V]
        per_offset = (probs @ self.onehot.to(dev)).reshape(-1, self.max_len, N_BASE_CODES)
        mass = per_offset.sum(-1)
        dist = per_offset / mass.clamp_min(1e-30)[..., None]  # [N, L, 5], renormalized per offset

        true_codes = self.token_bases.to(dev)[labels[b_idx, t_idx]]  # [N, L], -1: beyond/unknown
        width = hidden.shape[1]
        base_pos = spans[b_idx, t_idx, 0][:, None] + torch.arange(self.max_len, device=dev)
        rows = b_idx[:, None].expand_as(base_pos)
        in_win = (true_codes >= 0) & (base_pos >= 0) & (base_pos < width)
        is_hidden = hidden[rows, base_pos.clamp(0, max(width - 1, 0))]
        use = in_win & is_hidden & (mass > 0)

        flat = rows[use] * width + base_pos[use]  # one slot per (row, base)
        sums = torch.zeros(hidden.numel(), N_BASE_CODES, dtype=torch.float64, device=dev)
        sums.index_add_(0, flat, dist[use].double())
        counts = torch.zeros(hidden.numel(), dtype=torch.float64, device=dev)
        counts.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float64))
        truth = torch.full((hidden.numel(),), -1, dtype=torch.long, device=dev)
        truth[flat] = true_codes[use]

        scored = counts > 0
        avg = sums[scored] / counts[scored, None]
        t = truth[scored]
        p_true = avg.gather(1, t[:, None]).squeeze(1)
        bits = -torch.log2(p_true.clamp_min(1e-300))
        correct = avg.argmax(1) == t
        return BphbTotals(float(bits.sum()), int(correct.sum()), int(scored.sum()))
