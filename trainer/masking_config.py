"""Masking settings: the strategy names, ``MaskingConfig`` and its CLI flags.

Kept apart from ``trainer.masking`` (which needs torch) so that command lines can parse and check
masking flags, and print ``--help``, without loading torch.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace
from typing import Protocol

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

    strategy: str = "random"
    ratio: float = 0.15
    mask_prob: float | None = None
    random_prob: float | None = None
    mean_span: float = 3.0
    curriculum_start: int = 6
    curriculum_end: int = 12
    curriculum_steps: int = 10_000

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


def add_masking_args(parser: argparse.ArgumentParser) -> None:
    """Register ``--masking`` and its parameters on a CLI parser."""
    d = MaskingConfig()
    g = parser.add_argument_group("masking")
    g.add_argument(
        "--masking",
        choices=STRATEGIES,
        default=d.strategy,
        help="masking strategy for training (default: %(default)s); validation always uses "
        "trainer.bphb.VAL_MASKING",
    )
    g.add_argument(
        "--mask-ratio",
        type=float,
        default=d.ratio,
        help="share of tokens labelled (leakfree: share of bases hidden)",
    )
    g.add_argument("--mask-token-prob", type=float, default=None, help="[MASK] share of labels")
    g.add_argument("--random-token-prob", type=float, default=None, help="random-token share")
    g.add_argument(
        "--mean-span",
        type=float,
        default=d.mean_span,
        help="mean geometric span (span: tokens, leakfree: bases)",
    )
    g.add_argument(
        "--curriculum-start",
        type=int,
        default=d.curriculum_start,
        help="curriculum: narrowest masked window in tokens (default: %(default)s)",
    )
    g.add_argument(
        "--curriculum-end",
        type=int,
        default=d.curriculum_end,
        help="curriculum: widest masked window in tokens (default: %(default)s)",
    )
    g.add_argument(
        "--curriculum-steps",
        type=int,
        default=d.curriculum_steps,
        help="curriculum: steps to widen from start to end (default: %(default)s)",
    )


def masking_config_from_args(ns: argparse.Namespace) -> MaskingConfig:
    """The resolved ``MaskingConfig`` from arguments registered by ``add_masking_args``."""
    return MaskingConfig(
        strategy=ns.masking,
        ratio=ns.mask_ratio,
        mask_prob=ns.mask_token_prob,
        random_prob=ns.random_token_prob,
        mean_span=ns.mean_span,
        curriculum_start=ns.curriculum_start,
        curriculum_end=ns.curriculum_end,
        curriculum_steps=ns.curriculum_steps,
    ).resolved()
