"""The report's test-prediction section: interactive parity plots (regression) or ROC and
precision-recall curves (classification), with each input on hover, residuals and confusion
matrices; panels of different models side by side share their axes.

The interactive figures (:mod:`scifm.evaluation.interactive`) have a static SVG twin in
``<noscript>`` for readers without JavaScript.
"""

from __future__ import annotations

import numpy as np

from scifm.evaluation import interactive, plots
from scifm.evaluation.report_data import ModelResult, ReportData
from scifm.evaluation.report_format import esc, fig

__all__ = ["INTERACTIVE_TARGETS", "predictions_section", "test_inputs"]

INTERACTIVE_TARGETS = 3
"""Regression targets with an interactive parity plot (the next ones, up to 10, are static)."""
_MAX_TARGETS = 10


def test_inputs(d: ReportData, n: int) -> list[str]:
    """The test inputs in the order of the test labels ([] when they are not known)."""
    inputs = d.split_inputs.get("test") or []
    return list(inputs) if len(inputs) == n else []


def _interactive(figure: object, static: str) -> str:
    if figure is None:
        return fig(static)
    return (interactive.figure_html(figure) + f"<noscript>{fig(static)}</noscript>")


def _classification(d: ReportData, preds: dict[str, np.ndarray], models: dict[str, ModelResult],
                    y_true: np.ndarray, inputs: list[str]) -> list[str]:
    t = d.task
    static = plots.roc_pr_curves(t, y_true, preds)
    roc = interactive.roc_pr_figure(t, y_true, preds, inputs)
    return ["<h3>ROC &amp; precision-recall</h3>", _interactive(roc, static),
            "<h3>Confusion matrices (threshold 0.5 / most probable class)</h3><div class='row'>"
            + "".join(fig(plots.confusion_matrix_plot(t, m.y_true, m.y_pred, title=n))
                      for n, m in models.items()) + "</div>"]


def _regression(d: ReportData, preds: dict[str, np.ndarray], y_true: np.ndarray,
                inputs: list[str]) -> list[str]:
    t, out = d.task, []
    for j, tgt in enumerate(t.target_cols[:_MAX_TARGETS]):
        unit = d.units.get(tgt, "")
        label = f"{tgt} ({unit})" if unit else tgt
        out.append(f"<h3>Parity &amp; residuals: {esc(label)}</h3>")
        static = plots.parity_plot(t, y_true, preds, target=j, unit=unit)
        if j < INTERACTIVE_TARGETS:
            out.append(_interactive(interactive.parity_figure(t, y_true, preds, inputs, j, unit),
                                    static))
        else:
            out.append(fig(static))
        out.append(fig(plots.residual_plot(t, y_true, preds, target=j, unit=unit)))
    if t.n_tasks > _MAX_TARGETS:
        out.append(f"<p class='ci'>{t.n_tasks - _MAX_TARGETS} further targets not plotted.</p>")
    return out


def predictions_section(d: ReportData) -> str:
    """Test predictions: how the predicted values or scores relate to the labels."""
    out = ['<section id="predictions"><h2>Test predictions</h2>']
    models = {n: m for n, m in d.models.items() if m.y_true is not None and m.y_pred is not None}
    if not models:
        return out[0] + "<p>No test predictions available.</p></section>"
    y_true = next(iter(models.values())).y_true
    preds = {n: m.y_pred for n, m in models.items()}
    inputs = test_inputs(d, len(y_true))
    hover = "its input, " if inputs else ""
    out.append(f"<p class='ci'>Interactive: hover a point for {hover}its values, drag to zoom, "
               "double-click to reset. Panels of different models share their axes.</p>")
    if d.task.is_classification:
        out += _classification(d, preds, models, y_true, inputs)
    else:
        out += _regression(d, preds, y_true, inputs)
    return "".join(out) + "</section>"
