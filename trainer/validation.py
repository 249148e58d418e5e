"""Validation on a fixed, pre-masked subset of the val split.

Validation uses one masking for every run (``trainer.bphb.VAL_MASKING`` with ``VAL_SEED``): the
same windows and the same hidden bases, so validation curves compare across runs, vocabularies
and training masking strategies. Besides token loss and accuracy it reports bits per hidden base
(BPHB), the score that stays comparable across vocabularies, beside two references on the same
hidden bases: uniform guessing (2 bits) and the train split's base composition. BPHB below
composition (``val_bits_below_composition`` > 0) is what shows a model learned context.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from data_prep.vocab import Vocab
from trainer.bphb import UNIFORM_BITS, BaseScorer, BphbTotals
from trainer.data import EvalBatch
from trainer.step import mlm_forward


def base_scorer(vocab: Vocab, composition: np.ndarray | None = None) -> BaseScorer:
    """BPHB scorer for ``vocab`` (token base table as wide as its longest token), with the
    train split's base composition as its reference when given."""
    return BaseScorer(vocab.token_bases(int(vocab.token_lengths.max())), composition)


@torch.no_grad()
def evaluate(engine: Any, batches: list[EvalBatch], scorer: BaseScorer | None) -> dict[str, float]:
    """Collective (all ranks, same number of batches): val metrics summed over all ranks."""
    engine.eval()
    device = engine.device
    loss_sum = correct = labelled = 0.0
    totals = BphbTotals()
    for b in batches:
        out = mlm_forward(
            engine, b.input_ids.to(device), b.attention_mask.to(device), b.labels.to(device)
        )
        n = float(out.labelled)
        loss_sum += float(out.loss) * n
        correct += float(out.correct)
        labelled += n
        if scorer is not None:
            totals = totals + scorer.score(out.logits, b.labels.to(device), b.spans, b.hidden)
    engine.train()
    sums = torch.tensor(
        [
            loss_sum,
            correct,
            labelled,
            totals.bits,
            totals.correct,
            totals.bases,
            totals.composition_bits,
        ],
        dtype=torch.float64,
        device=device,
    )
    torch.distributed.all_reduce(sums)
    loss_sum, correct, labelled, bits, base_correct, bases, comp_bits = sums.tolist()
    metrics = {
        "val_loss": loss_sum / labelled if labelled else float("nan"),
        "val_accuracy": correct / labelled if labelled else float("nan"),
        "val_labelled_tokens": int(labelled),
    }
    if scorer is not None:
        metrics.update(
            val_bphb=bits / bases if bases else float("nan"),
            val_hidden_base_accuracy=base_correct / bases if bases else float("nan"),
            val_hidden_bases=int(bases),
            val_uniform_bphb=UNIFORM_BITS,
        )
        if scorer.composition is not None and bases:
            metrics.update(
                val_composition_bphb=comp_bits / bases,
                val_bits_below_composition=(comp_bits - bits) / bases,
            )
    return metrics
