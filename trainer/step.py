"""One masked-LM forward (loss + masked-token accuracy) and one DeepSpeed micro-step.

The loss is computed here rather than by the model so accuracy comes from the same logits, in
fp32 whatever the training precision. Shared by the trainer, the evaluation loop and the bench.

The LM head (transform + a vocabulary-wide decoder) runs only at the labelled positions: a
forward pre-hook on the head gathers them from the encoder output, so with 15% of tokens labelled
and a 4,101-token 6-mer vocabulary most of the head's work is skipped (bench/train_bench.py
measures it). The forward still goes through the DeepSpeed engine (its output hooks scale the
loss), the model's parameters and state dict are untouched, so checkpoints and the exported
Hugging Face model are the same as with full logits.

Two objectives (``--objective``): ``tokens`` is cross-entropy of the labelled tokens;
``hidden-bases`` is ``-ln P(true base)`` of each hidden base, marginalised from the labelled
tokens' distributions exactly as BPHB scores it (``trainer.bphb``), so on overlapping k-mers
nothing a model could copy from a visible neighbour is scored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from trainer.masking import IGNORE_INDEX

# The module whose input is the encoder's last hidden state and whose output ends in the logits.
HEAD_MODULES = {"bert": "cls", "modernbert": "head"}


@dataclass
class MlmOutput:
    loss: torch.Tensor  # the objective's mean loss (0 with grad if nothing is scored)
    correct: torch.Tensor  # labelled tokens predicted right
    labelled: torch.Tensor  # labelled tokens
    logits: torch.Tensor  # [N, V] at the labelled positions (row-major), or [B, T, V] when full


def _unwrap(model: Any) -> Any:
    """The Hugging Face model inside a DeepSpeed engine (or the model itself)."""
    return getattr(model, "module", model)


def head_module(model: Any) -> torch.nn.Module:
    """The LM head of a masked-LM (``HEAD_MODULES``); error for an architecture without one."""
    hf = _unwrap(model)
    name = HEAD_MODULES.get(getattr(hf.config, "model_type", ""))
    if name is None or not hasattr(hf, name):
        raise ValueError(
            f"masked-only head: no known LM head for model_type '{hf.config.model_type}' "
            f"(known: {', '.join(HEAD_MODULES)})"
        )
    return getattr(hf, name)


@contextmanager
def labelled_positions_only(model: Any, selected: torch.Tensor) -> Iterator[None]:
    """Within the block, the LM head sees only the encoder states at ``selected`` [B, T]."""

    def gather(_module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        if hidden.shape[:2] != selected.shape:
            raise RuntimeError(
                f"masked-only head: encoder output {tuple(hidden.shape)} does not match the "
                f"labels {tuple(selected.shape)} (unpadded attention?)"
            )
        return (hidden[selected], *args[1:])

    handle = head_module(model).register_forward_pre_hook(gather)
    try:
        yield
    finally:
        handle.remove()


def mlm_forward(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    masked_head: bool = True,
    base_loss: Any = None,
    spans: torch.Tensor | None = None,
    hidden: torch.Tensor | None = None,
) -> MlmOutput:
    """Forward ``model`` (a HF masked-LM or a DeepSpeed engine around one) on one batch.

    ``masked_head``: logits only at labelled positions (same loss; see the module docstring).
    ``base_loss``: a ``trainer.bphb.BaseScorer`` for the ``hidden-bases`` objective (then
    ``spans`` and ``hidden`` from the masker are needed); ``None`` trains on token labels.
    """
    sel = labels != IGNORE_INDEX
    if masked_head:
        with labelled_positions_only(model, sel):
            picked = model(input_ids=input_ids, attention_mask=attention_mask).logits
        full = picked
    else:
        full = model(input_ids=input_ids, attention_mask=attention_mask).logits
        picked = full[sel]
    picked = picked.float()
    target = labels[sel]
    if base_loss is not None:
        if spans is None or hidden is None:
            raise ValueError("the hidden-bases objective needs the batch's spans and hidden flags")
        p_true = base_loss.true_base_probs(picked, labels, spans, hidden)
        loss = -torch.log(p_true.clamp_min(1e-30)).mean() if p_true.numel() else None
    else:
        loss = F.cross_entropy(picked, target) if target.numel() else None
    # With nothing scored the loss is a zero that keeps the graph (and DeepSpeed's hooks) intact.
    if loss is None:
        loss = full.sum() * 0.0
    correct = (picked.argmax(-1) == target).sum()
    return MlmOutput(loss, correct, sel.sum(), full)


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


def train_micro_step(
    engine: Any, batch: dict[str, Any], base_loss: Any = None
) -> tuple[MlmOutput, GradNorm]:
    """Forward, backward and (at an accumulation boundary) optimizer step under DeepSpeed.

    ``base_loss``: a ``BaseScorer`` for the ``hidden-bases`` objective, ``None`` for ``tokens``.
    Returns the forward output and, after a boundary step, the global grad norm.
    """
    input_ids, attention_mask, labels = batch_to(batch, engine.device)
    extra = {}
    if base_loss is not None:
        extra = {"spans": batch["spans"], "hidden": batch["hidden"], "base_loss": base_loss}
    out = mlm_forward(engine, input_ids, attention_mask, labels, **extra)
    engine.backward(out.loss)
    boundary = engine.is_gradient_accumulation_boundary()
    norm = grad_norm_before_step(engine) if boundary else None
    engine.step()
    if boundary and norm is None:
        norm = engine.get_global_grad_norm()
    return out, norm
