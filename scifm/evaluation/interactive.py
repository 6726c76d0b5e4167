"""Interactive figures of the report (Plotly): parity (regression), ROC and precision-recall
(classification), with the input (SMILES / sequence / text, truncated) of each point on hover.

A figure is a ``<div class="plotly-fig">`` and its Plotly JSON in a ``<script
type="application/json">`` block; :mod:`scifm.evaluation.report_page` embeds plotly.js once,
inline, and draws every such figure when the page loads (no CDN: the page works offline). Every
user string (model names, inputs, target names) is HTML-escaped before it enters the JSON,
because Plotly renders a subset of HTML in hover texts and titles; the JSON itself is escaped for
a ``<script>`` block (``<``, ``>``, ``&``, U+2028/9 as ``\\uXXXX``), so no input can close it.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from scifm.evaluation.plots import fit_title
from scifm.tasks import TaskSpec

__all__ = ["MAX_POINTS", "figure_html", "parity_figure", "roc_pr_figure", "script_json"]

MAX_POINTS = 3000
"""Points per model drawn in a parity plot (a larger test set is subsampled, said in the title)."""
_HOVER_CHARS = 80
_COLOURS = ("#4a7ab5", "#e69500", "#3a9a5b", "#c0392b", "#8e44ad", "#7f8c8d")
_LAYOUT = dict(template="none", font=dict(family="system-ui, sans-serif", size=12),
               margin=dict(l=60, r=20, t=50, b=50), hoverlabel=dict(align="left"),
               legend=dict(orientation="h", y=-0.22), plot_bgcolor="white")
_AXIS = dict(showgrid=True, gridcolor="#eee", zeroline=False, showline=True, linecolor="#999",
             mirror=True, ticks="outside")


def script_json(text: str) -> str:
    """JSON text made safe inside a ``<script>`` element (still the same JSON value)."""
    for ch, rep in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def _hover(s: object) -> str:
    """A user string for a hover label: truncated and HTML-escaped (Plotly renders some HTML)."""
    s = str(s)
    return html.escape(s if len(s) <= _HOVER_CHARS else s[:_HOVER_CHARS - 1] + "…", quote=True)


def figure_html(fig: go.Figure, height: int = 420) -> str:
    """The ``<div>`` of one figure and its escaped JSON, drawn by the page's loader script."""
    payload = script_json(fig.to_json())
    fid = "plotly-" + hashlib.sha1(payload.encode()).hexdigest()[:10]
    return (f'<div class="plotly-fig" id="{fid}" style="height:{int(height)}px"></div>'
            f'<script type="application/json" class="plotly-data" data-target="{fid}">'
            f"{payload}</script>")


def _subsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, limit, replace=False))


def _thin(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Evenly spaced indices of a curve's points, both ends kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def parity_figure(task: TaskSpec, y_true: np.ndarray, y_pred_by_model: Mapping[str, np.ndarray],
                  inputs: Sequence[str], target: int = 0, unit: str = "") -> go.Figure:
    """Predicted versus true values, one panel per model on shared axes, the y = x line, and
    each point's input, true and predicted value on hover."""
    names = list(y_pred_by_model)
    fig = make_subplots(rows=1, cols=len(names), shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.04, subplot_titles=[_hover(n) for n in names])
    yt = np.asarray(y_true, float).reshape(len(y_true), -1)[:, target]
    u = f" ({unit})" if unit else ""
    lo, hi, titles = np.inf, -np.inf, []
    for i, name in enumerate(names, start=1):
        yp = np.asarray(y_pred_by_model[name], float).reshape(len(yt), -1)[:, target]
        rows = np.flatnonzero(np.isfinite(yt) & np.isfinite(yp))
        shown = rows[_subsample(len(rows))]
        if rows.size:
            lo, hi = min(lo, yt[rows].min(), yp[rows].min()), max(hi, yt[rows].max(),
                                                                 yp[rows].max())
            titles.append(fit_title(name, yt[rows], yp[rows])
                          + (f" ({len(shown):,} of {len(rows):,} shown)"
                             if len(shown) < len(rows) else ""))
        else:
            titles.append(f"{name}: no labelled rows")
        custom = [[_hover(inputs[j]) if j < len(inputs) else "", f"{yp[j] - yt[j]:+.3g}"]
                  for j in shown]
        fig.add_trace(go.Scatter(
            x=yt[shown], y=yp[shown], mode="markers", name=_hover(name), customdata=custom,
            marker=dict(size=6, opacity=0.7, color=_COLOURS[(i - 1) % len(_COLOURS)]),
            hovertemplate=("%{customdata[0]}<br>true %{x:.3g}, predicted %{y:.3g}<br>error "
                           "%{customdata[1]}<extra>" + _hover(name) + "</extra>")), 1, i)
    if np.isfinite(lo):
        pad = 0.03 * ((hi - lo) or 1.0)
        rng = [float(lo - pad), float(hi + pad)]
        for i in range(1, len(names) + 1):
            fig.add_trace(go.Scatter(x=rng, y=rng, mode="lines", hoverinfo="skip",
                                     showlegend=False, line=dict(color="#999", dash="dash",
                                                                 width=1)), 1, i)
        fig.update_xaxes(range=rng, title_text=f"true{u}", **_AXIS)
        fig.update_yaxes(range=rng, **_AXIS)
        fig.update_yaxes(title_text=f"predicted{u}", row=1, col=1)
    for ann, text in zip(fig.layout.annotations, titles, strict=False):
        ann.text, ann.font.size = html.escape(text), 12  # RMSE and R² above each panel
    tgt = html.escape(str(task.target_cols[target]))
    fig.update_layout(**_LAYOUT, title=dict(text=f"parity: {tgt} (dashed: y = x)",
                                            font=dict(size=13)), showlegend=False)
    return fig


def _point_rows(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each curve threshold, a row whose score equals it (-1 for the ``inf`` start)."""
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    pos = np.clip(np.searchsorted(s, thresholds), 0, max(len(s) - 1, 0))
    return np.where(np.isfinite(thresholds) & (s[pos] == thresholds), order[pos], -1)


def _classification_scores(task: TaskSpec, y_true: np.ndarray,
                           pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores and input row of the first binary task or of the one-vs-rest
    micro-average of a multiclass task."""
    y = np.asarray(y_true, float).reshape(len(y_true), -1)[:, 0]
    p = np.asarray(pred, float).reshape(len(pred), -1)
    rows = np.arange(len(y))
    if task.task_type == "multiclass":
        m = np.isfinite(y) & np.isfinite(p).all(1)
        k = p.shape[1]
        onehot = (y[m, None] == np.arange(k)[None, :]).astype(int)
        return onehot.ravel(), p[m].ravel(), np.repeat(rows[m], k)
    m = np.isfinite(y) & np.isfinite(p[:, 0])
    return y[m].astype(int), p[m, 0], rows[m]


def roc_pr_figure(task: TaskSpec, y_true: np.ndarray, y_pred_by_model: Mapping[str, np.ndarray],
                  inputs: Sequence[str]) -> go.Figure | None:
    """ROC and precision-recall curves side by side (both on [0, 1] axes), one colour per model;
    hovering a point shows its threshold and the input whose score it is. None when the test
    set has a single class."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    labels = np.asarray(task.classes or ["0", "1"], dtype=object)
    drawn = 0
    for i, (name, pred) in enumerate(y_pred_by_model.items()):
        y, p, row = _classification_scores(task, y_true, pred)
        if y.size == 0 or len(np.unique(y)) < 2:
            continue
        colour, nm = _COLOURS[i % len(_COLOURS)], _hover(name)
        fpr, tpr, thr = roc_curve(y, p)
        prec, rec, pthr = precision_recall_curve(y, p)
        pthr = np.append(pthr, np.inf)
        for col, xs, ys, th, label, axes in (
                (1, fpr, tpr, thr, f"{nm} (AUC={auc(fpr, tpr):.3f})", ("FPR", "TPR")),
                (2, rec, prec, pthr, f"{nm} (AP={average_precision_score(y, p):.3f})",
                 ("recall", "precision"))):
            keep = _thin(len(xs))  # a large test set: a few thousand curve points
            xs, ys, th = xs[keep], ys[keep], th[keep]
            at = _point_rows(p, th)
            custom = [[f"{t:.3g}" if np.isfinite(t) else "—",
                       _hover(inputs[row[a]]) if a >= 0 and row[a] < len(inputs) else "",
                       _hover(_true_class(task, y_true, row[a], labels)) if a >= 0 else "—"]
                      for t, a in zip(th, at, strict=True)]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers", name=label, legendgroup=nm,
                line=dict(color=colour, shape="hv" if col == 2 else "linear"),
                marker=dict(size=4), customdata=custom,
                hovertemplate=(f"score ≥ %{{customdata[0]}}<br>{axes[0]} %{{x:.3f}}, "
                               f"{axes[1]} %{{y:.3f}}<br>"
                               "%{customdata[1]} (true: %{customdata[2]})<extra>" + nm
                               + "</extra>")), 1, col)
        drawn += 1
    if not drawn:
        return None
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", hoverinfo="skip",
                             showlegend=False, line=dict(color="#999", dash="dash", width=1)), 1, 1)
    fig.update_xaxes(range=[-0.01, 1.01], **_AXIS)
    fig.update_yaxes(range=[-0.01, 1.02], **_AXIS)
    fig.update_xaxes(title_text="false positive rate", row=1, col=1)
    fig.update_yaxes(title_text="true positive rate", row=1, col=1)
    fig.update_xaxes(title_text="recall", row=1, col=2)
    fig.update_yaxes(title_text="precision", row=1, col=2)
    what = ("micro-average over classes" if task.task_type == "multiclass"
            else html.escape(str(task.target_cols[0])))
    fig.update_layout(**_LAYOUT, title=dict(text=f"ROC (left) and precision-recall (right): "
                                                 f"{what}", font=dict(size=13)))
    return fig


def _true_class(task: TaskSpec, y_true: np.ndarray, row: int, labels: np.ndarray) -> str:
    v = np.asarray(y_true, float).reshape(len(y_true), -1)[row, 0]
    return str(labels[int(v)]) if np.isfinite(v) and int(v) < len(labels) else "?"
