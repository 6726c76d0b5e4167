"""Figures for the report, returned as inline SVG strings (no files, no external resources).

Every public function is robust to missing labels (``NaN``), empty inputs and single-class test
sets: instead of raising it returns a small "not available: <reason>" SVG. Figures are built
with :class:`matplotlib.figure.Figure` directly: no pyplot state and no GUI backend, so the
global matplotlib backend is left alone (the SVG canvas needs none). Panels of different models
in one figure share their axes. Learning curves are in :mod:`scifm.evaluation.curves`, the
interactive (Plotly) figures in :mod:`scifm.evaluation.interactive`.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import (
    auc,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

_RC = {"svg.fonttype": "none", "svg.hashsalt": "scifm", "font.size": 9}
_SVG_START = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')


def not_available(reason: str) -> str:
    """A small SVG saying that a figure is not available and why."""
    text = html.escape(f"not available: {reason}")
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="420" height="40" '
            'viewBox="0 0 420 40" class="na"><text x="8" y="24" font-size="13" '
            f'fill="#777" font-family="sans-serif">{text}</text></svg>')


def to_svg(fig: Figure) -> str:
    """Serialise ``fig`` to an inline SVG with document-unique element ids."""
    with matplotlib.rc_context(_RC):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
    svg = _METADATA.sub("", _SVG_START.sub("", buf.getvalue(), count=1)).strip()
    prefix = "f" + hashlib.sha1(svg.encode()).hexdigest()[:8] + "-"
    for old in sorted(set(_ID.findall(svg)), key=len, reverse=True):
        new = prefix + old
        svg = (svg.replace(f'id="{old}"', f'id="{new}"').replace(f"#{old})", f"#{new})")
               .replace(f'href="#{old}"', f'href="#{new}"'))
    return svg


def new_figure(w: float, h: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(w, h), layout="constrained")


def safe_figure(fn: Callable[..., str]) -> Callable[..., str]:
    """Turn any exception of a plotting function into a "not available" figure."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        try:
            with matplotlib.rc_context(_RC):
                return fn(*args, **kwargs)
        except Exception as err:  # a figure must never break a report
            logger.warning("figure %s failed: %s", fn.__name__, err, exc_info=True)
            return not_available(f"{fn.__name__} failed ({type(err).__name__})")
    return wrapper


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _labels_for_first_task(task: TaskSpec, y_true: np.ndarray,
                           y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Valid true labels, predicted scores and class names of the first task."""
    y_true = np.asarray(y_true, float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, float).reshape(len(y_pred), -1)
    if task.task_type == "multiclass":
        m = np.isfinite(y_true[:, 0]) & np.isfinite(y_pred).all(1)
        return y_true[m, 0].astype(int), y_pred[m], list(task.classes)
    m = np.isfinite(y_true[:, 0]) & np.isfinite(y_pred[:, 0])
    names = list(task.classes) if len(task.classes) == 2 else ["0", "1"]
    return y_true[m, 0].astype(int), y_pred[m, 0], names


@safe_figure
def confusion_matrix_plot(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray,
                          title: str = "") -> str:
    """Confusion matrix (counts) of the first binary task (threshold 0.5) or of a multiclass task.

    Parameters
    ----------
    y_true : np.ndarray, shape (n, n_tasks)
    y_pred : np.ndarray, shape (n, n_outputs)
        Probabilities, as returned by ``Predictor.predict``.
    """
    if not task.is_classification:
        return not_available("confusion matrix needs a classification task")
    y, p, names = _labels_for_first_task(task, y_true, y_pred)
    if y.size == 0:
        return not_available("no labelled test rows")
    yhat = p.argmax(1) if p.ndim == 2 else (p >= 0.5).astype(int)
    cm = confusion_matrix(y, yhat, labels=np.arange(len(names)))
    k = len(names)
    fig = new_figure(1.6 + 0.45 * k, 1.4 + 0.45 * k)
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(k), names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    tgt = "" if task.task_type == "multiclass" else f" ({task.target_cols[0]})"
    ax.set_title(f"{title}{tgt}" if title else f"confusion matrix{tgt}")
    return to_svg(fig)


@safe_figure
def roc_pr_curves(task: TaskSpec, y_true: np.ndarray,
                  y_pred_by_model: Mapping[str, np.ndarray]) -> str:
    """ROC and precision-recall curves side by side, one curve per model, AUC in the legend.

    Binary tasks use the first target; multiclass tasks use the micro-average over one-vs-rest
    indicators.
    """
    if not task.is_classification:
        return not_available("ROC/PR curves need a classification task")
    if not y_pred_by_model:
        return not_available("no predictions")
    fig = new_figure(9, 3.6)
    ax_roc, ax_pr = fig.subplots(1, 2)
    drawn = 0
    for name, pred in y_pred_by_model.items():
        y, p, names = _labels_for_first_task(task, y_true, pred)
        if p.ndim == 2:  # multiclass: micro-average one-vs-rest
            y = (y[:, None] == np.arange(len(names))[None, :]).astype(int).ravel()
            p = p.ravel()
        if y.size == 0 or len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC={auc(fpr, tpr):.3f})")
        ax_pr.step(rec, prec, where="post",
                   label=f"{name} (AP={average_precision_score(y, p):.3f})")
        drawn += 1
    if not drawn:
        return not_available("ROC/PR undefined: the test set has a single class")
    ax_roc.plot([0, 1], [0, 1], ls="--", color="#999", lw=0.8)
    suffix = " (micro-avg)" if task.task_type == "multiclass" else f" ({task.target_cols[0]})"
    for ax, t, xl, yl in ((ax_roc, "ROC", "false positive rate", "true positive rate"),
                          (ax_pr, "precision-recall", "recall", "precision")):
        ax.set(title=t + suffix, xlabel=xl, ylabel=yl, xlim=(-0.01, 1.01), ylim=(-0.01, 1.02))
        ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "lower left")
    return to_svg(fig)


def _regression_xy(y_true: np.ndarray, y_pred_by_model: Mapping[str, np.ndarray],
                   target: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{model: (true, predicted)}`` of one target, rows with both values finite."""
    yt = np.asarray(y_true, float).reshape(len(y_true), -1)[:, target]
    out = {}
    for name, pred in y_pred_by_model.items():
        yp = np.asarray(pred, float).reshape(len(pred), -1)[:, target]
        m = np.isfinite(yt) & np.isfinite(yp)
        out[name] = (yt[m], yp[m])
    return out


def fit_title(name: str, t: np.ndarray, p: np.ndarray) -> str:
    """``name: RMSE=…, R²=…`` of one model's predictions."""
    rmse = float(np.sqrt(np.mean((p - t) ** 2)))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1 - float(np.sum((p - t) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return f"{name}: RMSE={rmse:.3g}, R²={r2:.3f}"


def _regression_panels(task: TaskSpec, y_true: np.ndarray,
                       y_pred_by_model: Mapping[str, np.ndarray], target: int,
                       residual: bool, unit: str = "") -> str:
    """One panel per model, all on the same axes (so that the models can be compared)."""
    if task.is_classification:
        return not_available("needs a regression task")
    if not y_pred_by_model:
        return not_available("no predictions")
    xy = _regression_xy(y_true, y_pred_by_model, target)
    fig = new_figure(3.3 * len(xy), 3.3)
    axes = fig.subplots(1, len(xy), squeeze=False, sharex=True, sharey=True)[0]
    finite = [v for t, p in xy.values() for v in (t, p) if v.size]
    lo = float(min(v.min() for v in finite)) if finite else 0.0
    hi = float(max(v.max() for v in finite)) if finite else 1.0
    pad = 0.03 * (hi - lo or 1.0)
    u = f" ({unit})" if unit else ""
    for ax, (name, (t, p)) in zip(axes, xy.items(), strict=True):
        if t.size == 0:
            ax.set_title(f"{name}: no labelled rows")
            continue
        alpha = 0.7 if t.size < 500 else 0.3
        if residual:
            ax.scatter(p, p - t, s=8, alpha=alpha)
            ax.axhline(0, color="#999", ls="--", lw=0.8)
            ax.set(xlabel=f"predicted{u}", xlim=(lo - pad, hi + pad))
        else:
            ax.scatter(t, p, s=8, alpha=alpha)
            ax.plot([lo, hi], [lo, hi], color="#999", ls="--", lw=0.8)
            ax.set(xlabel=f"true{u}", xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad),
                   aspect="equal")
        ax.set_title(fit_title(name, t, p), fontsize=9)
    axes[0].set_ylabel(f"predicted - true{u}" if residual else f"predicted{u}")
    fig.suptitle(("residuals" if residual else "parity") + f" ({task.target_cols[target]})"
                 + ("; shared axes" if len(xy) > 1 else ""))
    return to_svg(fig)


@safe_figure
def parity_plot(task: TaskSpec, y_true: np.ndarray, y_pred_by_model: Mapping[str, np.ndarray],
                target: int = 0, unit: str = "") -> str:
    """Predicted versus true values of one target, one panel per model, with the y = x line.

    Parameters
    ----------
    y_true : np.ndarray, shape (n, n_tasks)
    y_pred_by_model : dict[str, np.ndarray of shape (n, n_tasks)]
    target : int
        Column index of the target to plot.
    """
    return _regression_panels(task, y_true, y_pred_by_model, target, residual=False, unit=unit)


@safe_figure
def residual_plot(task: TaskSpec, y_true: np.ndarray, y_pred_by_model: Mapping[str, np.ndarray],
                  target: int = 0, unit: str = "") -> str:
    """Residuals (predicted - true) versus predicted values, one panel per model, shared axes."""
    return _regression_panels(task, y_true, y_pred_by_model, target, residual=True, unit=unit)


@safe_figure
def histogram(values: Sequence[float] | np.ndarray, title: str, xlabel: str, bins: Any = 30,
              weights: Sequence[float] | None = None) -> str:
    """Histogram of finite ``values`` (non-finite values are dropped).

    ``bins`` and ``weights`` are passed to :meth:`matplotlib.axes.Axes.hist`, so a precomputed
    histogram can be drawn with ``values=bin_centres, bins=edges, weights=counts``.
    """
    v = np.asarray(values, float).ravel()
    w = None if weights is None else np.asarray(weights, float).ravel()
    keep = np.isfinite(v) if w is None else np.isfinite(v) & np.isfinite(w)
    v = v[keep]
    w = None if w is None else w[keep]
    if v.size == 0:
        return not_available(f"{title}: no values")
    fig = new_figure(4.8, 2.8)
    ax = fig.subplots()
    ax.hist(v, bins=bins, weights=w, color="#4a7ab5", edgecolor="white", lw=0.5)
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    return to_svg(fig)


@safe_figure
def bar_counts(counts: Mapping[str, int | float], title: str, sort: bool = True) -> str:
    """Horizontal bar chart of ``{category: count}`` (at most 30 bars; largest first, or in the
    given order with ``sort=False``), each bar labelled with its count and share."""
    items = [(str(k), float(v)) for k, v in counts.items() if is_number(v)]
    items = (sorted(items, key=lambda kv: -kv[1]) if sort else items)[:30]
    if not items:
        return not_available(f"{title}: nothing to count")
    fig = new_figure(4.8, 1.0 + 0.28 * len(items))
    ax = fig.subplots()
    labels = [k if len(k) <= 40 else k[:37] + "..." for k, _ in items][::-1]
    vals = [v for _, v in items][::-1]
    bars = ax.barh(range(len(items)), vals, color="#4a7ab5")
    total = sum(vals) or 1.0
    ax.bar_label(bars, labels=[f"{v:g} ({100 * v / total:.0f}%)" for v in vals], fontsize=7,
                 padding=2)
    ax.set_yticks(range(len(items)), labels)
    ax.set_title(title)
    ax.set_xlabel("count")
    ax.margins(x=0.15)
    return to_svg(fig)


@safe_figure
def split_histograms(values_by_split: Mapping[str, Sequence[float] | np.ndarray], xlabel: str,
                     bins: int = 30) -> str:
    """Small multiples, one histogram per split (``train`` / ``val`` / ``test``), stacked on a
    shared x axis with the same bins, so the distributions can be compared at a glance."""
    parts = {k: np.asarray(v, float).ravel() for k, v in values_by_split.items()}
    parts = {k: v[np.isfinite(v)] for k, v in parts.items()}
    parts = {k: v for k, v in parts.items() if v.size}
    if not parts:
        return not_available(f"{xlabel}: no values")
    edges = np.histogram_bin_edges(np.concatenate(list(parts.values())), bins=bins)
    fig = new_figure(5.6, 0.5 + 1.25 * len(parts))
    axes = fig.subplots(len(parts), 1, sharex=True, squeeze=False)[:, 0]
    colours = {"train": "#4a7ab5", "val": "#e69500", "test": "#3a9a5b"}
    for ax, (name, v) in zip(axes, parts.items(), strict=True):
        ax.hist(v, bins=edges, color=colours.get(name, "#777"), edgecolor="white", lw=0.4)
        ax.set_ylabel(f"{name}\nn={v.size:,}", fontsize=8)
        ax.axvline(float(np.median(v)), color="#333", ls=":", lw=0.9)
    axes[-1].set_xlabel(xlabel)
    return to_svg(fig)
