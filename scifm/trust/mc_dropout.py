"""Monte-Carlo dropout: the spread of a torch model's predictions with its dropout layers on.

A raw uncertainty score for models without members (the fine-tuned transformer): the same
inputs are predicted ``passes`` times with every ``torch.nn.Dropout`` module in training mode
(attention-probability dropout, which Hugging Face models apply only when the whole attention
module trains, stays off) and the standard deviation of the passes, per output, is the score.
The passes are seeded (``torch.random.fork_rng``), so the same inputs give the same spread, and
the model is back in evaluation mode afterwards whatever happens. Each pass costs one
prediction: ``uncertainty.mc_dropout`` is off (0) by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scifm.models.memo import fresh_predict

__all__ = ["mc_dropout_spread"]


def mc_dropout_spread(predictor: Any, inputs: Sequence[Any], passes: int,
                      seed: int = 0) -> np.ndarray | None:
    """``n x n_outputs`` standard deviation of ``passes`` dropout predictions of ``inputs``
    (probabilities for classification, target units for regression); None when the predictor
    is not a torch model with dropout layers, or ``passes < 2``."""
    model = getattr(predictor, "model_", None)
    if passes < 2 or model is None or not hasattr(model, "modules"):
        return None
    import torch

    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p > 0]
    if not drops:
        return None
    predict = fresh_predict(predictor)  # each pass differs: never from the model's memory
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in drops:
            m.train()
        try:
            runs = np.stack([np.asarray(predict(list(inputs)), dtype=float)
                             for _ in range(passes)])
        finally:
            for m in drops:
                m.eval()
    return runs.std(axis=0, ddof=1)
