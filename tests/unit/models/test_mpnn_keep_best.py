"""An MPNN fitted under a deadline that keeps the best (``fit_deadline(..., keep_best=True)``,
the ``auto`` holdout search): it ends at the deadline with its best epoch instead of raising,
shortens its epochs and learning-rate decay to what the time left affords after the first
epoch, and gives up (``TimeUp``) when fewer than ``MIN_EPOCHS`` would fit."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from scifm.tasks import TaskSpec
from scifm.utils.deadline import TimeUp, fit_deadline, keeps_best
from tests.conftest import make_molecules


@pytest.fixture(scope="module")
def mols():
    pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed")
    return make_molecules(30)


def _mpnn(**params):
    from scifm.models.mpnn import MPNNPredictor

    return MPNNPredictor(TaskSpec("regression", ["logp"]), "smiles",
                         {"hidden": 32, "ffn_hidden": 32, "batch_size": 10, "threads": 1,
                          **params}, seed=0)


def test_keeps_best_only_inside_a_deadline_that_says_so():
    assert not keeps_best()
    with fit_deadline(None, keep_best=True):
        assert not keeps_best()  # no deadline: nothing to keep the best for
    with fit_deadline(time.time() + 60, keep_best=True):
        assert keeps_best()
        with fit_deadline(time.time() + 30):
            assert not keeps_best()
        assert keeps_best()
    assert not keeps_best()


def test_deadline_that_keeps_the_best_ends_training_without_raising(mols, monkeypatch):
    monkeypatch.setattr("scifm.models.mpnn_build.MIN_EPOCHS", 1)
    x, y = mols["smiles"].tolist(), mols[["logp"]].to_numpy()
    with fit_deadline(time.time() + 1.5, keep_best=True):
        model = _mpnn(epochs=100_000, n_models=3).fit(x, y)
    assert 1 <= len({r.get("member", 0) for r in model.history_}) <= 3
    assert len(model.history_) < 100_000
    assert np.isfinite(model.predict(x)).all()
    # without keep_best the same deadline raises, as before
    with fit_deadline(time.time() + 1.5), pytest.raises(TimeUp):
        _mpnn(epochs=100_000).fit(x, y)


def test_schedule_is_shortened_to_the_epochs_that_fit(mols, monkeypatch):
    import chemprop.schedulers

    from scifm.models import mpnn_build as mb

    calls = []
    real = chemprop.schedulers.build_NoamLike_LRSched

    def spy(opt, warmup_steps, cooldown_steps, *lrs):
        calls.append((warmup_steps, cooldown_steps))
        return real(opt, warmup_steps, cooldown_steps, *lrs)

    clock = iter([0.0] + [1.0] * 1000)  # the first epoch "takes" 1 s
    monkeypatch.setattr(chemprop.schedulers, "build_NoamLike_LRSched", spy)
    monkeypatch.setattr(mb, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(mb, "seconds_left", lambda: 4.5)  # 1 + 4 more epochs fit
    monkeypatch.setattr(mb, "MIN_EPOCHS", 3)
    x, y = mols["smiles"].tolist(), mols[["logp"]].to_numpy()
    with fit_deadline(time.time() + 3600, keep_best=True):
        model = _mpnn(epochs=50, warmup_epochs=2).fit(x, y)
    assert len(model.history_) == 5
    steps = 3  # 30 molecules in batches of 10
    assert calls[-1] == (2 * steps, 3 * steps)  # warm-up kept, decay over the 3 epochs after it


def test_too_few_epochs_give_up(mols, monkeypatch):
    monkeypatch.setattr("scifm.models.mpnn_build.seconds_left", lambda: 0.0)
    x, y = mols["smiles"].tolist(), mols[["logp"]].to_numpy()
    with fit_deadline(time.time() + 3600, keep_best=True), \
            pytest.raises(TimeUp, match="given up"):
        _mpnn(epochs=50).fit(x, y)
