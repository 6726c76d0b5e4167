"""Monte-Carlo dropout spread: seeded, leaves the model in eval mode, off without dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scifm.config.trust import UncertaintyConfig
from scifm.tasks import TaskSpec
from scifm.trust.mc_dropout import mc_dropout_spread
from scifm.trust.uncertainty import Uncertainty, predict_spread


class _TorchPredictor:
    """A tiny torch regressor with the attribute names of scifm's transformer predictor."""

    def __init__(self, dropout: float):
        torch.manual_seed(0)
        self.model_ = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                          torch.nn.Dropout(dropout), torch.nn.Linear(16, 1))
        self.model_.eval()

    def predict(self, x):
        with torch.inference_mode():
            return self.model_(torch.tensor(np.asarray(x, np.float32))).numpy().astype(float)


def _inputs(n=50):
    return np.random.default_rng(0).normal(size=(n, 4)).tolist()


def test_spread_is_seeded_positive_and_restores_eval_mode():
    model = _TorchPredictor(0.3)
    x = _inputs()
    a = mc_dropout_spread(model, x, passes=8)
    b = mc_dropout_spread(model, x, passes=8)
    assert a.shape == (50, 1) and (a > 0).all()
    np.testing.assert_array_equal(a, b)  # same seed, same spread
    assert not any(m.training for m in model.model_.modules())
    deterministic = model.predict(x)
    np.testing.assert_array_equal(deterministic, model.predict(x))  # dropout off again


def test_no_spread_without_dropout_or_with_one_pass():
    assert mc_dropout_spread(_TorchPredictor(0.0), _inputs(), passes=8) is None
    assert mc_dropout_spread(_TorchPredictor(0.3), _inputs(), passes=1) is None
    assert mc_dropout_spread(object(), _inputs(), passes=8) is None


def test_predict_spread_uses_mc_dropout_only_when_asked():
    model = _TorchPredictor(0.3)
    p, spread = predict_spread(model, _inputs())
    assert spread is None
    p2, spread = predict_spread(model, _inputs(), mc_dropout=5)
    np.testing.assert_array_equal(p, p2)  # the prediction itself is the deterministic one
    assert spread is not None and spread.shape == p.shape


def test_the_layer_remembers_its_passes(tmp_path):
    rng = np.random.default_rng(1)
    n = 120
    y = rng.normal(size=(n, 1))
    p = y + 0.3 * rng.normal(size=(n, 1))
    spread = np.abs(rng.normal(size=(n, 1))) + 0.1
    cfg = UncertaintyConfig(mc_dropout=6, domain=False)
    task = TaskSpec("regression", ["t"])
    layer = Uncertainty.fit(task, cfg, "smiles", y, p, [], [], spread_val=spread)
    layer.save(tmp_path)
    loaded = Uncertainty.load(tmp_path)
    assert loaded.mc_dropout == 6
    cols = loaded.columns(loaded.apply(p, [], spread))
    np.testing.assert_allclose(cols["spread_t"], spread[:, 0])
    no_spread = Uncertainty.fit(task, cfg, "smiles", y, p, [], [])
    assert no_spread.mc_dropout == 0  # nothing to repeat at predict time


def test_the_setting_is_checked():
    with pytest.raises(ValueError, match="mc_dropout"):
        UncertaintyConfig(mc_dropout=1)
