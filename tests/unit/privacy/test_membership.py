"""Loss-threshold membership inference: a memorising model is exposed, a constant one is not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from scifm.privacy.membership import attack_auc, membership_audit, row_losses
from scifm.tasks import TaskSpec

BINARY = TaskSpec("binary", ["y"])


class NearestNeighbour:
    """1-NN on scalar inputs: it memorises its training rows (random labels, so nothing
    generalises)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        y = np.asarray(y, float)[:, 0]
        self.x, self.y = np.asarray(x, float)[~np.isnan(y)], y[~np.isnan(y)]

    def predict(self, x: list[float]) -> np.ndarray:
        nearest = np.abs(np.asarray(x, float)[:, None] - self.x[None, :]).argmin(axis=1)
        return np.clip(self.y[nearest], 0.05, 0.95)[:, None]


class Constant:
    def predict(self, x: list[float]) -> np.ndarray:
        return np.full((len(x), 1), 0.5)


def _data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=400)
    y = rng.integers(0, 2, size=(400, 1)).astype(float)
    y[::17] = np.nan  # unlabelled rows are left out
    return x[:250], y[:250], x[250:], y[250:]


def test_memorising_model_gives_a_high_attack_auc():
    x_tr, y_tr, x_ho, y_ho = _data()
    out = membership_audit(NearestNeighbour(x_tr, y_tr), BINARY, x_tr, y_tr, x_ho, y_ho,
                           seed=1, n_bootstrap=200)
    assert out["n_members"] == out["n_nonmembers"] == np.sum(~np.isnan(y_ho))
    assert out["auc"]["value"] > 0.7
    assert out["auc"]["ci95"][0] > 0.6  # well above chance, with its interval
    assert out["advantage"] > 0.4 and out["train_loss"] < out["holdout_loss"]


def test_constant_model_gives_chance_auc():
    x_tr, y_tr, x_ho, y_ho = _data()
    out = membership_audit(Constant(), BINARY, x_tr, y_tr, x_ho, y_ho, seed=1,
                           n_bootstrap=200)
    assert out["auc"]["value"] == pytest.approx(0.5)
    assert out["advantage"] == pytest.approx(0.0)


def test_vectorised_auc_matches_sklearn():
    rng = np.random.default_rng(2)
    scores, member = rng.normal(size=60), rng.integers(0, 2, 60).astype(bool)
    scores[:10] = 0.0  # ties
    idx = rng.integers(0, 60, size=(5, 60))
    expected = [roc_auc_score(member[i], scores[i]) for i in idx]
    np.testing.assert_allclose(attack_auc(scores, member, idx), expected)


def test_row_losses_for_every_task_type():
    multi = TaskSpec("multiclass", ["c"], classes=["a", "b", "c"])
    loss = row_losses(multi, np.array([[2.0], [np.nan]]), np.array([[0.2, 0.3, 0.5]] * 2))
    assert loss[0] == pytest.approx(-np.log(0.5)) and np.isnan(loss[1])
    reg = TaskSpec("regression", ["a", "b"])
    loss = row_losses(reg, np.array([[1.0, np.nan]]), np.array([[3.0, 0.0]]), np.array([2.0, 1]))
    assert loss[0] == pytest.approx(1.0)
