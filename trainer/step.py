"""One masked-LM forward (loss + masked-token accuracy) and one DeepSpeed micro-step.

The loss is computed here rather than by the model so accuracy comes from the same logits, in
fp32 whatever the training precision. Shared by the trainer, the evaluation loop and the bench.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from trainer.masking import IGNORE_INDEX


@dataclass
class MlmOutput:
    loss: torch.Tensor  # mean cross-entropy over labelled tokens (0 with grad if none)
    correct: torch.Tensor  # labelled tokens predicted right
    labelled: torch.Tensor  # labelled tokens
    logits: torch.Tensor


def mlm_forward(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> MlmOutput:
    """Forward ``model`` (a HF masked-LM or a DeepSpeed engine around one) on one batch."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    sel = labels != IGNORE_INDEX
    picked = logits[sel].float()
    target = labels[sel]
    # With no labels the loss is a zero that keeps the graph (and DeepSpeed's hooks) intact.
    loss = F.cross_entropy(picked, target) if target.numel() else logits.sum() * 0.0
    correct = (picked.argmax(-1) == target).sum()
    return MlmOutput(loss, correct, sel.sum(), logits)


def batch_to(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, ...]:
    """(input_ids, attention_mask, labels) on ``device``."""
    return tuple(
        batch[k].to(device, non_blocking=True) for k in ("input_ids", "attention_mask", "labels")
    )


# A grad norm stays a tensor (or DeepSpeed's float) until it is logged: no per-step device sync.
GradNorm = torch.Tensor | float | None


def grad_norm_before_step(engine: Any) -> GradNorm:
    """Global grad norm where DeepSpeed does not report one (ZeRO-0 fp32), else ``None``.

    Only at an accumulation boundary: gradients are then reduced and identical on every rank.
    """
    if engine.zero_optimization_stage() != 0 or engine.bfloat16_enabled() or engine.fp16_enabled():
        return None
    grads = [p.grad for p in engine.module.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else 0.0


def train_micro_step(engine: Any, batch: dict[str, Any]) -> tuple[MlmOutput, GradNorm]:
    """Forward, backward and (at an accumulation boundary) optimizer step under DeepSpeed.

    Returns the forward output and, after a boundary step, the global grad norm.
    """
    input_ids, attention_mask, labels = batch_to(batch, engine.device)
    out = mlm_forward(engine, input_ids, attention_mask, labels)
    engine.backward(out.loss)
    boundary = engine.is_gradient_accumulation_boundary()
    norm = grad_norm_before_step(engine) if boundary else None
    engine.step()
    if boundary and norm is None:
        norm = engine.get_global_grad_norm()
    return out, norm
