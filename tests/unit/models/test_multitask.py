"""Label conventions shared by the multi-task estimators (LightGBM and the scikit-learn wrapper)."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.models.multitask import check_labels, loss_history, multiclass_count


def test_labels_are_n_by_tasks_with_nan_kept():
    assert check_labels([1.0, np.nan], "M").shape == (2, 1)
    assert np.isnan(check_labels([[1.0, np.nan]], "M")[0, 1])
    with pytest.raises(ValueError, match="M requires y"):
        check_labels(None, "M")


@pytest.mark.parametrize(("y", "n", "match"), [
    (np.array([[0.0, 1.0]]), None, "exactly one target column"),
    (np.array([[0.5], [1.0]]), None, "class indices"),
    (np.array([[0.0], [3.0]]), 3, r"lie in 0\.\.2"),
])
def test_multiclass_count_refuses_bad_labels(y, n, match):
    with pytest.raises(ValueError, match=match):
        multiclass_count(y, n)


def test_multiclass_count_and_loss_history():
    assert multiclass_count(np.array([[0.0], [2.0], [np.nan]]), None) == 3
    curves = [{"train": list(np.linspace(1, 0.1, 50)), "val": [0.5] * 40},
              {"train": list(np.linspace(2, 0.2, 50))}]
    history = loss_history(curves)
    assert len(history) == 11 and history[-1]["round"] == 50  # ten samples + the best round
    assert [h["round"] for h in history if h.get("best")] == [1]  # flat val: the first
    assert history[-1]["train_loss"] == pytest.approx(0.15) and history[-1]["val_loss"] == 0.5
    assert loss_history([]) == []
