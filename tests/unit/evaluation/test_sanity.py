"""A model whose output collapsed to one class or value is named; a healthy one is not."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.evaluation.metrics import compute_metrics, evaluate_predictions
from scifm.evaluation.sanity import collapse_warnings
from scifm.tasks import TaskSpec

BIN = TaskSpec("binary", ["active"], ["0", "1"])
REG = TaskSpec("regression", ["logp"])
MULTI = TaskSpec("multiclass", ["kind"], ["a", "b", "c"])
TWO = TaskSpec("binary", ["t1", "t2"], ["0", "1"])

rng = np.random.default_rng(0)
Y = (np.arange(205) % 2).astype(float)[:, None]  # both classes


def _healthy_probs(y: np.ndarray) -> np.ndarray:
    return np.clip(0.3 * y + 0.7 * rng.random(y.shape), 0, 1)


def test_one_class_for_every_row_is_named_with_its_evidence():
    p = np.full((205, 1), 0.7) + rng.normal(0, 0.001, (205, 1))  # the transformer
    m = evaluate_predictions(BIN, Y, p, n_bootstrap=50)
    (w,) = collapse_warnings(BIN, p, Y, m, "test")
    assert w.startswith("predicts class 1 for 205/205 test rows (MCC 0.000, ROC-AUC")
    assert "collapsed to one class" in w and "barely vary" in w


def test_nearly_one_class_needs_labels_that_are_less_lopsided():
    p = np.full((205, 1), 0.2)
    p[:5] = 0.9  # 200/205 = 97.6% class 0 ...
    p += rng.normal(0, 0.05, p.shape)
    (w,) = collapse_warnings(BIN, p, Y, compute_metrics(BIN, Y, p))
    assert "200/205" in w and "(labels: 50% class 0; MCC" in w and "nearly collapsed" in w
    lopsided = np.zeros((205, 1))
    lopsided[:3] = 1  # the labels are 98.5% class 0: predicting it is no collapse
    assert collapse_warnings(BIN, p, lopsided) == []


def test_healthy_classifier_and_one_class_data_give_no_warning():
    assert collapse_warnings(BIN, _healthy_probs(Y), Y) == []
    ones = np.ones((30, 1))
    assert collapse_warnings(BIN, 0.6 + 0.3 * rng.random((30, 1)), ones) == []


def test_flat_probabilities_without_a_class_collapse():
    p = 0.5 + rng.normal(0, 0.003, (205, 1))  # both classes predicted, no signal at all
    (w,) = collapse_warnings(BIN, p, Y, split="validation")
    assert "barely vary" in w and "205 validation rows" in w


@pytest.mark.parametrize("scale, expect", [(0.0, "same value"), (0.01, "barely vary"),
                                           (0.5, None)])
def test_regression_spread_against_the_labels(scale, expect):
    y = rng.normal(2.0, 1.0, (100, 1))
    p = 2.0 + scale * (y - 2.0)
    out = collapse_warnings(REG, p, y, evaluate_predictions(REG, y, p, n_bootstrap=0))
    if expect is None:
        assert out == []
    else:
        (w,) = out
        assert expect in w and "R²" in w and "100 test rows" in w


def test_regression_constant_without_labels():
    (w,) = collapse_warnings(REG, np.full((10, 1), 3.25))
    assert "same value 3.25 for all 10" in w


def test_multiclass_collapse():
    y = (np.arange(90) % 3).astype(float)[:, None]
    p = np.tile([0.2, 0.5, 0.3], (90, 1))
    p[:, 1] += rng.normal(0, 0.05, 90)
    (w,) = collapse_warnings(MULTI, p, y)
    assert "predicts class b for 90/90" in w
    healthy = np.eye(3)[y[:, 0].astype(int)] * 0.6 + 0.4 * rng.random((90, 3))
    assert collapse_warnings(MULTI, healthy, y) == []


def test_multitask_names_the_collapsed_task_only():
    y = np.stack([Y[:, 0], 1 - Y[:, 0]], axis=1)
    p = np.stack([_healthy_probs(Y)[:, 0], np.full(205, 0.1)], axis=1)
    m = evaluate_predictions(TWO, y, p, n_bootstrap=20)
    (w,) = collapse_warnings(TWO, p, y, m)
    assert w.startswith("target 't2': predicts class 0 for 205/205 test rows (MCC 0.000")


def test_missing_labels_are_left_out_and_nan_predictions_counted():
    y = Y.copy()
    y[::2] = np.nan  # only class 1 labelled: one predicted class matches the labels
    assert collapse_warnings(BIN, np.full((205, 1), 0.9) + rng.normal(0, 0.1, (205, 1)), y) == []
    p = _healthy_probs(Y)
    p[:3] = np.nan
    (w,) = collapse_warnings(BIN, p, Y)
    assert w == "3/205 test predictions are NaN or infinite"
    assert collapse_warnings(REG, np.full((4, 1), np.nan), np.ones((4, 1))) == [
        "4/4 test predictions are NaN or infinite"]


def test_token_model_that_tags_every_word_o_is_flagged() -> None:
    from scifm.evaluation.sanity import token_collapse_warnings

    true = [["B-Chem", "O", "O", "B-Dis", "I-Dis"]] * 10  # 40% O
    collapsed = [["O"] * 5] * 10
    (line,) = token_collapse_warnings(true, collapsed, "words")
    assert "'O' for 50/50 scored test words" in line and "give it to 40%" in line
    assert token_collapse_warnings(true, true, "words") == []  # a healthy model
    mostly_o = [["O"] * 5] * 10  # the labels themselves are all O: nothing to flag
    assert token_collapse_warnings(mostly_o, collapsed, "words") == []


def test_token_collapse_skips_unscored_residues_and_tiny_sets() -> None:
    from scifm.evaluation.sanity import token_collapse_warnings

    true = [["H", "E", None, "C"] * 8]  # masked residues (None) are not scored
    pred = [["C", "C", "H", "C"] * 8]
    (line,) = token_collapse_warnings(true, pred, "residues")
    assert "'C' for 24/24 scored test residues" in line
    assert token_collapse_warnings([["H", "E"]], [["C", "C"]]) == []  # too few to judge
