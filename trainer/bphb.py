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
    """Running sums over hidden bases; add batches with ``+`` (and across ranks by summing).

    ``composition_bits`` scores the same hidden bases with the train split's base composition
    (a model that ignores context); ``bphb`` below it means the model learned context.
    """

    bits: float = 0.0
    correct: int = 0
    bases: int = 0
    composition_bits: float = 0.0

    def __add__(self, other: BphbTotals) -> BphbTotals:
        return BphbTotals(
            self.bits + other.bits,
            self.correct + other.correct,
            self.bases + other.bases,
            self.composition_bits + other.composition_bits,
        )

    @property
    def bphb(self) -> float:
        """Mean bits per hidden base (nan when no base was scored)."""
        return self.bits / self.bases if self.bases else float("nan")

    @property
    def composition_bphb(self) -> float:
        """Mean bits per hidden base of the composition reference (nan when none was scored)."""
        return self.composition_bits / self.bases if self.bases else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.bases if self.bases else float("nan")


# Bits of guessing uniformly among A, C, G, T: the reference every DNA model must beat.
UNIFORM_BITS = float(np.log2(4))


@dataclass
class HiddenBaseDists:
    """Per scored hidden base: the averaged base distribution [S, 5] and the true code [S]."""

    dist: torch.Tensor
    truth: torch.Tensor

    @property
    def p_true(self) -> torch.Tensor:
        return self.dist.gather(1, self.truth[:, None]).squeeze(1)


class BaseScorer:
    """Turns MLM logits into per-hidden-base distributions and scores for one vocabulary.

    ``token_bases`` is ``vocab.token_bases(max_len)`` with ``max_len`` the longest token: row v,
    column o holds the base code of token v at offset o, or -1. ``composition``: the train split's
    base frequencies (A C G T N), for the composition reference; ``None`` scores none.
    """

    def __init__(self, token_bases: np.ndarray, composition: np.ndarray | None = None) -> None:
        tb = torch.as_tensor(np.asarray(token_bases), dtype=torch.long)
        self.token_bases = tb
        self.max_len = tb.shape[1]
        # onehot[v, o * 5 + x] = 1 iff token v has base x at offset o.
        onehot = torch.zeros(tb.shape[0], self.max_len, N_BASE_CODES)
        known = tb >= 0
        onehot[known.nonzero(as_tuple=True) + (tb[known],)] = 1.0
        self.onehot = onehot.reshape(tb.shape[0], self.max_len * N_BASE_CODES)
        self.composition = (
            None if composition is None else torch.as_tensor(composition, dtype=torch.float64)
        )

    @classmethod
    def for_vocab(cls, vocab: VocabTable, composition: np.ndarray | None = None) -> BaseScorer:
        """The scorer for a ``data_prep.vocab.Vocab`` (table as wide as its longest token)."""
        return cls(vocab.token_bases(int(vocab.token_lengths.max())), composition)

    def hidden_base_dists(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        spans: torch.Tensor,
        hidden: torch.Tensor,
    ) -> HiddenBaseDists:
        """The averaged distribution of every hidden base covered by a labelled token.

        ``logits``: [B, T, V], or [N, V] at the labelled positions in row-major order (what the
        masked-only head returns). Differentiable: the ``hidden-bases`` objective trains on it.
        Runs on ``logits.device``; the other tensors may live on the CPU.
        """
        dev = logits.device
        labels, spans, hidden = labels.to(dev), spans.to(dev), hidden.to(dev)
        b_idx, t_idx = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        picked = logits[b_idx, t_idx] if logits.dim() == 3 else logits
        probs = torch.softmax(picked.double(), dim=-1)  # [N, V]
        per_offset = (probs @ self.onehot.to(dev, torch.float64)).reshape(
            -1, self.max_len, N_BASE_CODES
        )
        mass = per_offset.sum(-1)
        dist = per_offset / mass.clamp_min(1e-300)[..., None]  # [N, L, 5], renormalized per offset

        true_codes = self.token_bases.to(dev)[labels[b_idx, t_idx]]  # [N, L], -1: beyond/unknown
        width = hidden.shape[1]
        base_pos = spans[b_idx, t_idx, 0][:, None] + torch.arange(self.max_len, device=dev)
        rows = b_idx[:, None].expand_as(base_pos)
        in_win = (true_codes >= 0) & (base_pos >= 0) & (base_pos < width)
        is_hidden = hidden[rows, base_pos.clamp(0, max(width - 1, 0))]
        use = in_win & is_hidden & (mass > 0)

        flat = rows[use] * width + base_pos[use]  # one slot per (row, base)
        slots, inverse = torch.unique(flat, return_inverse=True)
        sums = torch.zeros(slots.numel(), N_BASE_CODES, dtype=torch.float64, device=dev)
        sums = sums.index_add(0, inverse, dist[use])
        counts = torch.zeros(slots.numel(), dtype=torch.float64, device=dev)
        counts.index_add_(0, inverse, torch.ones_like(inverse, dtype=torch.float64))
        truth = torch.zeros(slots.numel(), dtype=torch.long, device=dev)
        truth[inverse] = true_codes[use]
        return HiddenBaseDists(sums / counts[:, None], truth)

    def true_base_probs(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        spans: torch.Tensor,
        hidden: torch.Tensor,
    ) -> torch.Tensor:
        """P(true base) of every scored hidden base (differentiable; see ``hidden_base_dists``)."""
        return self.hidden_base_dists(logits, labels, spans, hidden).p_true

    @torch.no_grad()
    def score(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        spans: torch.Tensor,
        hidden: torch.Tensor,
    ) -> BphbTotals:
        """Score one batch: ``logits`` [B, T, V] or [N, V] (labelled positions), the rest from
        the masker."""
        d = self.hidden_base_dists(logits, labels, spans, hidden)
        if d.truth.numel() == 0:
            return BphbTotals()
        bits = -torch.log2(d.p_true.clamp_min(1e-300))
        correct = d.dist.argmax(1) == d.truth
        comp = 0.0
        if self.composition is not None:
            p = self.composition.to(d.truth.device)[d.truth]
            comp = float(-torch.log2(p.clamp_min(1e-300)).sum())
        return BphbTotals(float(bits.sum()), int(correct.sum()), int(d.truth.numel()), comp)
