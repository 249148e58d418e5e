"""Masking settings: the strategy names, ``MaskingConfig`` and its CLI flags.

Kept apart from ``trainer.masking`` (which needs torch) so that command lines can parse and check
masking flags, and print ``--help``, without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Protocol

from dnapt.cli import option

MASK_ID = 4
FIRST_CONTENT_ID = 5
IGNORE_INDEX = -100
STRATEGIES = ("random", "neighbor", "span", "leakfree", "curriculum")


class VocabLike(Protocol):
    """The part of ``data_prep.vocab.Vocab`` masking needs."""

    @property
    def family(self) -> str: ...

    @property
    def k(self) -> int: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class MaskingConfig:
    """A masking strategy and its parameters (saved with the run, settable on the CLI).

    ``ratio`` is the target share of real tokens that get a label, except for ``leakfree`` where
    it is the share of bases chosen to hide. ``mask_prob`` / ``random_prob`` split labelled tokens
    into [MASK] / random content token / unchanged (the rest); ``None`` means the strategy's
    default: BERT's 0.8 / 0.1 for token strategies, 1.0 / 0.0 for ``leakfree`` (an unchanged or
    random token covering a hidden base would reveal it, or mislead about it; see docs/masking.md).
    ``mean_span`` is the mean geometric span length: tokens for ``span``, bases for ``leakfree``.
    ``curriculum_*``: RandomMask's widening window, in tokens, from ``start`` to ``end`` over
    ``steps`` optimizer steps.
    """

    strategy: str = option(
        "random",
        flags=("--masking",),
        choices=STRATEGIES,
        help="masking strategy for training; validation always uses trainer.bphb.VAL_MASKING",
    )
    ratio: float = option(
        0.15, flags=("--mask-ratio",), help="share of tokens labelled (leakfree: of bases hidden)"
    )
    mask_prob: float | None = option(
        None, flags=("--mask-token-prob",), help="[MASK] share of labels (default: strategy's)"
    )
    random_prob: float | None = option(
        None, flags=("--random-token-prob",), help="random-token share (default: strategy's)"
    )
    mean_span: float = option(3.0, help="mean geometric span (span: tokens, leakfree: bases)")
    curriculum_start: int = option(6, help="curriculum: narrowest masked window in tokens")
    curriculum_end: int = option(12, help="curriculum: widest masked window in tokens")
    curriculum_steps: int = option(10_000, help="curriculum: steps to widen from start to end")

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown masking '{self.strategy}': use one of {', '.join(STRATEGIES)}"
            )
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"mask ratio {self.ratio} must be in (0, 1)")
        mask_p, rand_p = self.split()
        if mask_p < 0 or rand_p < 0 or mask_p + rand_p > 1 + 1e-9:
            raise ValueError(
                f"mask_prob {mask_p} and random_prob {rand_p} must be >= 0 and sum to <= 1"
            )
        if self.mean_span < 1.0:
            raise ValueError(f"mean_span {self.mean_span} must be >= 1")
        if self.strategy in ("span", "leakfree") and self.ratio > self.mean_span / (
            self.mean_span + 1
        ):
            # Gaps between spans are geometric with mean mean_span*(1-ratio)/ratio >= 1 base.
            raise ValueError(
                f"ratio {self.ratio} too high for mean_span {self.mean_span}: need ratio <= "
                f"mean_span / (mean_span + 1) = {self.mean_span / (self.mean_span + 1):.3f}"
            )
        if not 1 <= self.curriculum_start <= self.curriculum_end:
            raise ValueError("need 1 <= curriculum_start <= curriculum_end")
        if self.curriculum_steps < 1:
            raise ValueError("curriculum_steps must be >= 1")

    def split(self) -> tuple[float, float]:
        """(mask_prob, random_prob) with the strategy's defaults filled in."""
        leakfree = self.strategy == "leakfree"
        mask_p = self.mask_prob if self.mask_prob is not None else (1.0 if leakfree else 0.8)
        rand_p = self.random_prob if self.random_prob is not None else (0.0 if leakfree else 0.1)
        return mask_p, rand_p

    def resolved(self) -> MaskingConfig:
        """This config with the defaulted split written out (what a run should save)."""
        mask_p, rand_p = self.split()
        return replace(self, mask_prob=mask_p, random_prob=rand_p)

    def to_dict(self) -> dict[str, object]:
        return asdict(self.resolved())
