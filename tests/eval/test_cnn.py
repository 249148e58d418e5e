from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import matthews_corrcoef

from eval.baselines import encode
from eval.cnn import CNNConfig, one_hot, train_cnn


def _motif_task(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """Random 60-mers; label 1 rows carry GATAAG at a random position."""
    seqs, y = [], rng.integers(0, 2, n)
    for label in y:
        s = list(rng.choice(list("ACGT"), 60))
        if label:
            at = int(rng.integers(0, 54))
            s[at : at + 6] = "GATAAG"
        seqs.append("".join(s))
    return seqs, y


def test_one_hot_n_is_zero():
    x = one_hot(encode(["ACGTN"])[0])
    assert x.shape == (1, 4, 5)
    assert torch.equal(x[0, :, :4], torch.eye(4)) and x[0, :, 4].sum() == 0


def test_cnn_learns_a_motif_and_is_deterministic():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    (tr, ytr), (dv, ydv), (te, yte) = (_motif_task(rng, n) for n in (400, 100, 200))
    cfg = CNNConfig(min_steps=150)  # 22 epochs of 7 steps
    run = lambda: train_cnn(  # noqa: E731
        encode(tr)[0], ytr, encode(dv)[0], ydv, encode(te)[0], 2, cfg
    )
    proba, params = run()
    assert matthews_corrcoef(yte, proba.argmax(1)) > 0.8
    assert params["selected_on"] == "dev" and len(params["dev_mcc_by_epoch"]) == params["epochs"]
    again, _ = run()
    assert np.array_equal(proba, again)
