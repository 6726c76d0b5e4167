"""Figures are inline SVG, robust to NaN labels and single-class test sets."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scifm.evaluation import plots
from scifm.tasks import TaskSpec

BINARY = TaskSpec("binary", ["active"])
MULTI = TaskSpec("multiclass", ["c"], ["alpha", "beta", "gamma"])
REG = TaskSpec("regression", ["logS"])


def _is_svg(s: str) -> bool:
    return s.startswith("<svg") and s.rstrip().endswith("</svg>")


def _ids(s: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', s))


def test_roc_pr_curves_embed_auc_and_escape_names() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (80, 1)).astype(float)
    y[:5] = np.nan
    good = np.clip(0.5 * np.nan_to_num(y) + 0.5 * rng.random((80, 1)), 0, 1)
    svg = plots.roc_pr_curves(BINARY, y, {"<b>model</b>": good})
    assert _is_svg(svg)
    assert "&lt;b&gt;model&lt;/b&gt;" in svg and "<b>" not in svg
    from sklearn.metrics import roc_auc_score

    m = ~np.isnan(y[:, 0])
    assert f"AUC={roc_auc_score(y[m, 0], good[m, 0]):.3f}" in svg
    assert "<?xml" not in svg and "DOCTYPE" not in svg


def test_single_class_gives_not_available_figure() -> None:
    y = np.zeros((20, 1))
    svg = plots.roc_pr_curves(BINARY, y, {"m": np.full((20, 1), 0.3)})
    assert _is_svg(svg) and "not available" in svg and "single class" in svg


def test_confusion_matrix_counts() -> None:
    y = np.array([0, 0, 1, 2, 2, 2], float)[:, None]
    p = np.eye(3)[[0, 1, 1, 2, 2, 0]]
    svg = plots.confusion_matrix_plot(MULTI, y, p)
    texts = re.findall(r">\s*(\d+)\s*</text>", svg)
    # the 9 cell annotations, row-major: [[1,1,0],[0,1,0],[1,0,2]]
    assert [int(t) for t in texts[:9]] == [1, 1, 0, 0, 1, 0, 1, 0, 2]
    assert "gamma" in svg
    assert "not available" in plots.confusion_matrix_plot(REG, y, p)


def test_regression_plots_and_ids_unique_across_figures() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 1))
    y[0] = np.nan
    preds = {"a": y + 0.1, "b": rng.normal(size=(50, 1))}
    par = plots.parity_plot(REG, y, preds)
    res = plots.residual_plot(REG, y, preds)
    assert _is_svg(par) and _is_svg(res)
    m = ~np.isnan(y[:, 0])
    assert "RMSE=0.1" in par and "R²=" in par
    assert f"RMSE={np.sqrt(np.mean((preds['b'][m] - y[m]) ** 2)):.3g}" in par
    assert not (_ids(par) & _ids(res))  # several SVGs can live in one HTML page


def test_histogram_and_bars() -> None:
    h = plots.histogram([0.1, 0.5, np.nan, 0.9], "nn similarity", "Tanimoto")
    assert _is_svg(h) and "nn similarity" in h
    assert "not available" in plots.histogram([np.nan], "t", "x")
    b = plots.bar_counts({"invalid SMILES": 7, "empty": 2}, "rejections")
    assert "invalid SMILES" in b and "not available" not in b and ">7 (78%)<" in b
    assert "not available" in plots.bar_counts({}, "none")
    s = plots.split_histograms({"train": [1.0, 2.0, 3.0], "test": [2.0, np.nan]}, "dG (kcal/mol)")
    assert ">n=3<" in s and ">n=1<" in s and "dG (kcal/mol)" in s


def test_failures_never_raise() -> None:
    # wrong shapes inside a plot are turned into a "not available" figure
    svg = plots.parity_plot(REG, np.zeros((5, 1)), {"a": np.zeros((3, 1))})
    assert "not available" in svg


@pytest.mark.parametrize("reason", ["<script>alert(1)</script>"])
def test_not_available_escapes(reason: str) -> None:
    assert "<script>" not in plots.not_available(reason)
