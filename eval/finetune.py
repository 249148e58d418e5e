"""Full fine-tuning with fixed hyper-parameters and model selection on dev MCC.

The hyper-parameters are fixed and identical for every checkpoint (and its from-scratch twin):
tuning them per model would turn the comparison into a comparison of tuning budgets. Defaults
follow DNABERT-2's GUE recipe scaled to a CPU budget (docs/evaluation.md). A plain torch loop, not
``transformers.Trainer``: each fine-tune runs whole inside one process (the processes split the
jobs), and Trainer would try to wrap it in the launcher's distributed setup.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dnapt.cli import option
from eval.encoder import Checkpoint, Tokenized, collate, plan_batches

if TYPE_CHECKING:  # torch and transformers load when a model is built, not at import
    import torch


@dataclass(frozen=True)
class FinetuneConfig:
    """AdamW with linear warmup then linear decay; the best dev-MCC epoch is kept."""

    learning_rate: float = option(5e-5, flags=("--ft-lr",), gt=0, help="fine-tune learning rate")
    epochs: int = option(3, flags=("--ft-epochs",), ge=1, help="fine-tune epochs")
    batch_size: int = option(32, flags=("--ft-batch-size",), ge=1, help="fine-tune batch size")
    warmup_ratio: float = option(
        0.1, flags=("--ft-warmup-ratio",), ge=0, lt=1, help="share of steps with linear warmup"
    )
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_batch_size: int = 128


@dataclass
class FinetuneResult:
    pred: np.ndarray
    proba: np.ndarray
    best_epoch: int
    dev_mcc: float | None
    dev_history: list[float]


def build_classifier(ckpt: Checkpoint, init: str, n_labels: int, seed: int) -> torch.nn.Module:
    """Encoder + fresh classification head; ``scratch`` re-initializes the encoder as well."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    if init == "pretrained":
        return AutoModelForSequenceClassification.from_pretrained(
            ckpt.path, num_labels=n_labels, trust_remote_code=False
        )
    config = copy.deepcopy(ckpt.config)
    config.num_labels = n_labels
    return AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)


def predict(model: torch.nn.Module, tokens: Tokenized, pad_id: int, batch_size: int) -> np.ndarray:
    """Class probabilities ``[n, K]`` (float32), batches planned from the data alone."""
    import torch

    device = next(model.parameters()).device
    out = np.zeros((len(tokens.ids), model.config.num_labels), dtype=np.float32)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.eval()
    with torch.inference_mode(), autocast:
        for rows in plan_batches(tokens.lengths, batch_size):
            x, mask = collate(tokens.ids, rows, pad_id)
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device)).logits
            out[rows] = torch.softmax(logits.float(), -1).cpu().numpy()
    return out


def finetune(
    model: torch.nn.Module,
    pad_id: int,
    train: tuple[Tokenized, np.ndarray],
    dev: tuple[Tokenized, np.ndarray] | None,
    test: Tokenized,
    seed: int,
    cfg: FinetuneConfig,
    on_step: Callable[[int], None] | None = None,
) -> FinetuneResult:
    """Train on ``train`` (labels as class positions), keep the best dev-MCC epoch (the last
    epoch when there is no dev split to select on), predict test."""
    import torch
    from sklearn.metrics import matthews_corrcoef

    device = next(model.parameters()).device
    tokens, y = train
    steps_per_epoch = -(-len(y) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total)
    no_decay = ["bias", "LayerNorm.weight", "norm.weight"]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(d in n for d in no_decay)]},
        {
            "params": [p for n, p in model.named_parameters() if any(d in n for d in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    opt = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / max(warmup, 1)
            if s < warmup
            else max(0.0, (total - s) / max(total - warmup, 1))
        ),
    )
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    history: list[float] = []
    best_state, best_epoch, best_mcc = None, cfg.epochs, None
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(len(y))
        for i in range(0, len(order), cfg.batch_size):
            rows = order[i : i + cfg.batch_size]
            x, mask = collate(tokens.ids, rows, pad_id)
            with autocast:
                loss = model(
                    input_ids=x.to(device),
                    attention_mask=mask.to(device),
                    labels=torch.as_tensor(y[rows], device=device),
                ).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if on_step:
                on_step(1)
        if dev is not None:
            proba = predict(model, dev[0], pad_id, cfg.eval_batch_size)
            mcc = float(matthews_corrcoef(dev[1], proba.argmax(1)))
            history.append(mcc)
            if best_mcc is None or mcc > best_mcc:
                best_mcc, best_epoch = mcc, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    proba = predict(model, test, pad_id, cfg.eval_batch_size)
    return FinetuneResult(proba.argmax(1), proba, best_epoch, best_mcc, history)
