import numpy as np

from scifm.evaluation.tables import prediction_frame
from scifm.tasks import TaskSpec


def test_binary_frame_decodes_labels_and_keeps_probabilities():
    task = TaskSpec("binary", ["tox"], ["inactive", "active"])
    y_pred = np.array([[0.9], [0.2], [0.5]])
    y_true = np.array([[1.0], [np.nan], [0.0]])
    df = prediction_frame(task, ["a", "b", "c"], ["C", "CC", "CCC"], y_pred, y_true)
    assert list(df.columns) == ["id", "input", "true_tox", "pred_tox", "prob_tox"]
    assert df["pred_tox"].tolist() == ["active", "inactive", "active"]
    assert df["true_tox"][[0, 2]].tolist() == ["active", "inactive"]
    assert df["true_tox"].isna().tolist() == [False, True, False]
    assert df["prob_tox"].tolist() == [0.9, 0.2, 0.5]


def test_multiclass_frame_has_one_probability_per_class():
    task = TaskSpec("multiclass", ["label"], ["background", "method", "result"])
    y_pred = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    df = prediction_frame(task, ["1", "2"], ["x", "y"], y_pred, np.array([[1.0], [2.0]]))
    assert df["pred_label"].tolist() == ["method", "background"]
    assert df["true_label"].tolist() == ["method", "result"]
    assert df[["prob_background", "prob_method", "prob_result"]].to_numpy().sum(1) == \
        __import__("pytest").approx([1.0, 1.0])


def test_regression_frame_multi_target():
    task = TaskSpec("regression", ["a", "b"])
    y_pred = np.array([[1.0, 2.0]])
    df = prediction_frame(task, ["0"], ["C"], y_pred, np.array([[1.5, np.nan]]))
    assert df.loc[0, "pred_a"] == 1.0 and df.loc[0, "pred_b"] == 2.0
    assert df.loc[0, "true_a"] == 1.5 and np.isnan(df.loc[0, "true_b"])
