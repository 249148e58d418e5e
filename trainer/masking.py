"""Masking strategies for DNA masked-LM pretraining, with a per-base leakage audit.

Every strategy only chooses *which tokens get a label*; one shared step then corrupts them
([MASK] / random token / unchanged) and audits the result base by base. The audit exists because
on overlapping k-mers a masked token's bases are usually still shown by its unmasked neighbours
(DNABERT's neighbor masking hides 1 base of the 11 its 6 masked 6-mers cover), so token-level
masking ratios say nothing about how much sequence the model must actually infer.

Definitions (see docs/masking.md): a base is *visible* if some input token that shows its true
identity covers it (an unmasked token, or a labelled token kept unchanged); otherwise *hidden*.
``masked_token_frac`` = labelled tokens / real tokens, ``hidden_base_frac`` = hidden bases / real
bases, ``leak_frac`` = share of the bases covered by labelled tokens that are visible.

Everything is vectorized in torch over the whole batch (no Python loop over rows or tokens),
draws all randomness from the caller's ``torch.Generator`` (deterministic for a seed), and runs on
CPU inside data-loader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer.masking_config import (  # noqa: F401 - re-exported: the public masking API
    FIRST_CONTENT_ID,
    IGNORE_INDEX,
    MASK_ID,
    STRATEGIES,
    MaskingConfig,
    VocabLike,
)


@dataclass
class MaskedBatch:
    """Masker output: the corrupted input, MLM labels, per-base hidden flags and audit stats."""

    input_ids: torch.Tensor  # LongTensor[B, T]
    labels: torch.Tensor  # LongTensor[B, T], original id where labelled, IGNORE_INDEX elsewhere
    hidden: torch.Tensor  # BoolTensor[B, W]
    stats: dict[str, float]


def base_cover(spans: torch.Tensor, flags: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] count of flagged tokens covering each base (difference array + cumsum)."""
    w = flags.to(torch.int32)
    starts = spans[..., 0].clamp(0, width)
    ends = spans[..., 1].clamp(0, width)
    diff = torch.zeros(flags.shape[0], width + 1, dtype=torch.int32, device=flags.device)
    diff.scatter_add_(1, starts, w)
    diff.scatter_add_(1, ends, -w)
    return diff.cumsum(1)[:, :width]


def audit(
    original: torch.Tensor,
    masked: torch.Tensor,
    labels: torch.Tensor,
    spans: torch.Tensor,
    special_mask: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-base hidden flags [B, W] and the batch's masking stats.

    A token shows its true identity iff its input id equals the original id (so a random
    replacement that happens to draw the original token counts as shown).
    """
    width = max(int(spans[..., 1].max().item()), 0) if spans.numel() else 0
    real_tok = ~special_mask
    labelled = labels != IGNORE_INDEX
    shows_truth = real_tok & (masked == original)
    real = base_cover(spans, real_tok, width) > 0
    visible = base_cover(spans, shows_truth, width) > 0
    lab_cov = base_cover(spans, labelled, width) > 0
    hidden = real & ~visible

    def frac(num: torch.Tensor, den: torch.Tensor) -> float:
        d = int(den.sum().item())
        return int(num.sum().item()) / d if d else 0.0

    stats = {
        "masked_token_frac": frac(labelled, real_tok),
        "hidden_base_frac": frac(hidden, real),
        "leak_frac": frac(lab_cov & visible, lab_cov),
    }
    return hidden, stats


def token_windows(
    centres: torch.Tensor, left: torch.Tensor | int, right: torch.Tensor | int
) -> torch.Tensor:
    """Bool[B, T]: union of windows [j - left, j + right] around every centre j (clipped)."""
    b, t = centres.shape
    pos = torch.arange(t, device=centres.device).expand(b, t)
    lo = (pos - left).clamp(0, t)
    hi = (pos + right + 1).clamp(0, t)
    w = centres.to(torch.int32)
    diff = torch.zeros(b, t + 1, dtype=torch.int32, device=centres.device)
    diff.scatter_add_(1, lo, w)
    diff.scatter_add_(1, hi, -w)
    return diff.cumsum(1)[:, :t] > 0


def _geometric(rows: int, cols: int, mean: float, gen: torch.Generator | None) -> torch.Tensor:
    """Geometric lengths >= 1 with the given mean (all 1 when mean <= 1: torch needs p < 1)."""
    out = torch.ones(rows, cols, dtype=torch.float64)
    return out if mean <= 1.0 else out.geometric_(1.0 / mean, generator=gen)


def alternating_runs(
    rows: int, length: int, ratio: float, mean_on: float, gen: torch.Generator | None
) -> torch.Tensor:
    """Bool[rows, length]: "on" spans of geometric length (mean ``mean_on``) covering ``ratio``.

    A stationary two-state renewal process: on-runs have mean ``mean_on``, off-runs mean
    ``mean_on * (1 - ratio) / ratio``, and each row starts on with probability ``ratio`` (exactly
    stationary because geometric lengths are memoryless). Spans never merge, so every span's
    length is geometric, and the expected on-share is ``ratio`` at every position, edges included.
    """
    if length == 0:
        return torch.zeros(rows, 0, dtype=torch.bool)
    mean_off = mean_on * (1.0 - ratio) / ratio
    pairs = length // 2 + 1  # every run is >= 1 long, so this many on/off pairs always suffice
    on_len = _geometric(rows, pairs, mean_on, gen)
    off_len = _geometric(rows, pairs, mean_off, gen)
    start_on = torch.rand(rows, 1, generator=gen) < ratio
    first = torch.where(start_on, on_len, off_len)
    second = torch.where(start_on, off_len, on_len)
    lengths = torch.stack([first, second], dim=2).reshape(rows, 2 * pairs).long()
    bounds = lengths.cumsum(1).clamp(max=length)
    toggles = torch.zeros(rows, length + 1, dtype=torch.int32)
    toggles.scatter_add_(1, bounds, torch.ones_like(bounds, dtype=torch.int32))
    parity = toggles.cumsum(1)[:, :length] % 2
    return (parity == 0) == start_on


class Masker:
    """Applies one ``MaskingConfig`` to batches; build it with ``build_masker``."""

    def __init__(self, cfg: MaskingConfig, vocab_size: int, family: str, k: int) -> None:
        if cfg.strategy == "neighbor" and family != "kmer-overlap":
            raise ValueError(
                f"neighbor masking (DNABERT) is defined for overlapping k-mer vocabularies only, "
                f"not '{family}': use leakfree, span or random"
            )
        if vocab_size <= FIRST_CONTENT_ID:
            raise ValueError(f"vocabulary of size {vocab_size} has no content tokens")
        self.cfg = cfg.resolved()
        self.vocab_size = vocab_size
        self.family = family
        self.k = k

    def curriculum_width(self, step: int) -> int:
        """Widest window (tokens) the curriculum allows at ``step``: start -> end linearly."""
        c = self.cfg
        frac = min(max(step, 0), c.curriculum_steps) / c.curriculum_steps
        return round(c.curriculum_start + (c.curriculum_end - c.curriculum_start) * frac)

    def select(
        self,
        spans: torch.Tensor,
        special_mask: torch.Tensor,
        gen: torch.Generator | None,
        step: int,
    ) -> torch.Tensor:
        """Bool[B, T]: the tokens that get a label (never special tokens)."""
        c = self.cfg
        real = ~special_mask
        b, t = real.shape
        if c.strategy == "random":
            return real & (torch.rand(b, t, generator=gen) < c.ratio)
        if c.strategy == "span":
            return real & alternating_runs(b, t, c.ratio, c.mean_span, gen)
        if c.strategy == "neighbor":
            # DNABERT's window for a centre: offsets -(k-1)//2 .. +k//2 (k=6: -2..+3), k tokens.
            # A token stays unmasked iff no centre lies in the k positions around it, so
            # P(masked) = 1 - (1 - c)^k = ratio (0.15 -> c = 0.0267; DNABERT used 0.025).
            centre_p = 1.0 - (1.0 - c.ratio) ** (1.0 / self.k)
            centres = real & (torch.rand(b, t, generator=gen) < centre_p)
            return real & token_windows(centres, (self.k - 1) // 2, self.k // 2)
        if c.strategy == "curriculum":
            # RandomMask: each centre masks a window whose width is drawn uniformly from
            # [start, current max]; the max widens over training. Same calibration as neighbor,
            # with the mean width.
            w_max = self.curriculum_width(step)
            lo_w = c.curriculum_start
            centre_p = 1.0 - (1.0 - c.ratio) ** (1.0 / ((lo_w + w_max) / 2))
            centres = real & (torch.rand(b, t, generator=gen) < centre_p)
            width = torch.randint(lo_w, w_max + 1, (b, t), generator=gen)
            return real & token_windows(centres, (width - 1) // 2, width // 2)
        # leakfree: hide base spans, then label every token that touches a hidden base.
        hide = self.hide_bases(spans, special_mask, gen)
        width = hide.shape[1]
        cs = torch.zeros(b, width + 1, dtype=torch.int32)
        cs[:, 1:] = hide.to(torch.int32).cumsum(1)
        starts = spans[..., 0].clamp(0, width)
        ends = spans[..., 1].clamp(0, width)
        return real & ((cs.gather(1, ends) - cs.gather(1, starts)) > 0)

    def hide_bases(
        self, spans: torch.Tensor, special_mask: torch.Tensor, gen: torch.Generator | None
    ) -> torch.Tensor:
        """Bool[B, W]: the bases ``leakfree`` chooses to hide (its first draw from ``gen``)."""
        width = max(int(spans[..., 1].max().item()), 0)
        real_base = base_cover(spans, ~special_mask, width) > 0
        runs = alternating_runs(
            special_mask.shape[0], width, self.cfg.ratio, self.cfg.mean_span, gen
        )
        return real_base & runs

    def corrupt(
        self, input_ids: torch.Tensor, selected: torch.Tensor, gen: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input, labels): labelled tokens -> [MASK] / random content id / unchanged."""
        mask_p, rand_p = self.cfg.split()
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        u = torch.rand(input_ids.shape, generator=gen)
        out = torch.where(selected & (u < mask_p), torch.full_like(input_ids, MASK_ID), input_ids)
        if rand_p > 0:
            rand_ids = torch.randint(
                FIRST_CONTENT_ID, self.vocab_size, input_ids.shape, generator=gen
            )
            to_rand = selected & (u >= mask_p) & (u < mask_p + rand_p)
            out = torch.where(to_rand, rand_ids, out)
        return out, labels

    def __call__(
        self,
        input_ids: torch.Tensor,
        spans: torch.Tensor,
        special_mask: torch.Tensor,
        generator: torch.Generator | None = None,
        step: int = 0,
    ) -> MaskedBatch:
        input_ids = input_ids.long()
        spans = spans.long()
        selected = self.select(spans, special_mask, generator, step)
        masked, labels = self.corrupt(input_ids, selected, generator)
        hidden, stats = audit(input_ids, masked, labels, spans, special_mask)
        return MaskedBatch(masked, labels, hidden, stats)


def build_masker(cfg: MaskingConfig, vocab: VocabLike) -> Masker:
    """The masker for ``cfg`` on ``vocab`` (errors early for strategy/vocabulary mismatches)."""
    return Masker(cfg, vocab.size, vocab.family, vocab.k)
