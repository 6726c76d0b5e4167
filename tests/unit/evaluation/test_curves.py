"""Learning curves: x axis counts what the model counted, the loss scale is named, the best
point is marked, and no panel is empty."""

from __future__ import annotations

from scifm.evaluation.curves import curve_axes, curves_html, family_curves
from scifm.tasks import TaskSpec
from tests.unit.evaluation.report_fixtures import lightgbm_history, transformer_history

REG = TaskSpec("regression", ["dG"])
BIN = TaskSpec("binary", ["active"])


def test_axes_of_boosted_and_trainer_families() -> None:
    gbm = curve_axes("lightgbm", lightgbm_history(), REG, "kcal/mol")
    assert (gbm.x_label, gbm.loss_label, gbm.best_key) == (
        "boosting round", "MSE ((kcal/mol)²)", "val_loss")
    tr = curve_axes("transformer", transformer_history(), REG, "kcal/mol")
    assert (tr.x_label, tr.loss_label, tr.best_key, tr.metric_unit) == (
        "epoch", "MSE (standardised target)", "val_rmse", "kcal/mol")
    clf = curve_axes("transformer", transformer_history(metric="val_roc_auc"), BIN)
    assert clf.loss_label == "log loss" and clf.best_key == "val_roc_auc"
    unknown = curve_axes("mystery", [{"epoch": 1, "train_loss": 1.0},
                                     {"epoch": 2, "train_loss": 0.5}], REG)
    assert unknown.x_label == "epoch" and unknown.loss_label == "MSE"  # no scale claimed


def test_best_point_marked_and_no_empty_panel() -> None:
    hist = transformer_history(metric="val_roc_auc")  # roc_auc: higher is better
    for h, v in zip(hist, (0.7, 0.9, 0.8, 0.75, 0.72), strict=True):
        h["val_roc_auc"] = v
    svg = family_curves("transformer", hist, curve_axes("transformer", hist, BIN))
    assert "best epoch 2 (highest val roc_auc)" in svg
    assert "transformer: loss" in svg and "transformer: validation metrics" in svg
    gbm = lightgbm_history()
    svg = family_curves("lightgbm", gbm, curve_axes("lightgbm", gbm, REG))
    best = min(gbm, key=lambda h: h["val_loss"])["round"]
    assert f"best recorded boosting round {best} (lowest val loss)" in svg
    for h in gbm:  # loss_history flags the true best round: no longer "recorded"
        h["best"] = h["round"] == best
    svg = family_curves("lightgbm", gbm, curve_axes("lightgbm", gbm, REG))
    assert f"best boosting round {best} (lowest val loss)" in svg
    assert "validation metrics" not in svg and "no " not in svg  # one panel: loss only


def test_models_without_history_get_one_line() -> None:
    html = curves_html({"lightgbm": lightgbm_history(), "rf": [], "knn": []}, REG)
    assert html.count("<svg") == 1
    assert "No learning curve recorded for rf, knn" in html
