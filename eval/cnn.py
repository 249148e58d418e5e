"""The supervised baseline every pretrained model must beat: a small one-hot CNN from scratch.

"Is pretraining worth it" is answered against the standard supervised model of genomics (a
convolutional net on one-hot DNA, as in DeepSEA/Basset and the Genomic Benchmarks baseline), not
only against a randomly initialized twin of the language model. The architecture and training are
fixed and identical for every task, so the baseline cannot be tuned per task:

    one-hot [4, L] (N = all zeros)
    -> Conv1d(4, 32, 15, pad 7) -> ReLU -> MaxPool1d(4)
    -> Conv1d(32, 32, 7, pad 3) -> ReLU -> global max pool
    -> Dropout(0.2) -> Linear(32, K)

Adam (lr 3e-3), batch 64, class-balanced cross-entropy (weights = inverse class frequency, so a
1:5 task is not solved by the majority class), at least 6 epochs and at least 1,000 steps (small
tasks get more epochs, at most 30) on the training split; the epoch with the best dev MCC is kept
(the last epoch without a dev split). Seeded (weights and batch order); one CPU thread gives the
same predictions on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import matthews_corrcoef
from torch import nn


@dataclass(frozen=True)
class CNNConfig:
    """Fixed CNN baseline settings (module docstring); ``seed`` seeds weights and batch order."""

    channels: int = 32
    epochs: int = 6
    min_steps: int = 1000
    max_epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    dropout: float = 0.2
    seed: int = 0


def one_hot(codes: np.ndarray) -> torch.Tensor:
    """``[n, L]`` codes (A0 C1 G2 T3, 4 = N/padding) -> ``[n, 4, L]`` float one-hot."""
    eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    return torch.from_numpy(np.ascontiguousarray(eye[codes].transpose(0, 2, 1)))


class OneHotCNN(nn.Module):
    def __init__(self, n_classes: int, cfg: CNNConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(
            nn.Conv1d(4, c, 15, padding=7),
            nn.ReLU(),
            nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(c, c, 7, padding=3),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(c, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _proba(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = [torch.softmax(model(x[i : i + 256]), 1) for i in range(0, len(x), 256)]
    return torch.cat(out).numpy().astype(np.float64)


def train_cnn(
    xtr: np.ndarray,
    ytr: np.ndarray,
    xdev: np.ndarray | None,
    ydev: np.ndarray | None,
    xtest: np.ndarray,
    n_classes: int,
    cfg: CNNConfig,
) -> tuple[np.ndarray, dict]:
    """Test class probabilities ``[n, K]`` and what was selected. ``y`` are class positions."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = OneHotCNN(n_classes, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    counts = np.bincount(np.asarray(ytr), minlength=n_classes).astype(np.float32)
    weights = counts.sum() / np.maximum(counts, 1) / n_classes
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(weights))
    xt, yt = one_hot(xtr), torch.from_numpy(np.asarray(ytr, dtype=np.int64))
    steps_per_epoch = -(-len(xt) // cfg.batch_size)
    epochs = min(cfg.max_epochs, max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch)))
    xd = one_hot(xdev) if xdev is not None else None
    best: tuple[float, int, dict] | None = None
    history = []
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        if xd is None:
            continue
        mcc = float(matthews_corrcoef(ydev, _proba(model, xd).argmax(1)))
        history.append(round(mcc, 4))
        if best is None or mcc > best[0]:
            best = (mcc, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    if best is not None:
        model.load_state_dict(best[2])
    params = {
        "epoch": best[1] if best else epochs - 1,
        "epochs": epochs,
        "selected_on": "dev" if best else None,
        "dev_mcc_by_epoch": history,
    }
    return _proba(model, one_hot(xtest)), params
