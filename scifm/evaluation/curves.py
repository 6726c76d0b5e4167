"""Learning curves of the report: one inline SVG per model, axes that say what was counted.

A training history is a list of records ``{"epoch" | "round" | "step": x, "train_loss": ...,
"val_loss": ..., "val_<metric>": ...}``. What ``x`` counts depends on the model: a
``transformers.Trainer`` family counts epochs, a gradient-boosted family (LightGBM, XGBoost: their
``loss_history`` rows are keyed ``epoch`` too) counts boosting rounds. The loss is on a scale of
its own: a Trainer regression head is trained on standardised targets, LightGBM's ``l2`` is the
MSE in target units squared; the y axis says which. The best checkpoint / iteration is marked;
a model without any recorded curve gets no (empty) panel.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from scifm.config.registry import FAMILIES
from scifm.evaluation.metrics import higher_is_better, primary_metric
from scifm.evaluation.plots import is_number, new_figure, not_available, safe_figure, to_svg
from scifm.tasks import TaskSpec

__all__ = ["CurveAxes", "curve_axes", "curves_html", "family_curves"]

_X_KEYS = ("round", "step", "epoch")
_LOSS_NAME = {"regression": "MSE", "binary": "log loss", "multiclass": "log loss"}


@dataclass(frozen=True)
class CurveAxes:
    """What the axes of one model's learning curves mean."""

    x_key: str
    """The history key plotted on x (``epoch``, ``round`` or ``step``)."""
    x_label: str
    """``epoch``, ``boosting round`` or ``optimiser step``."""
    loss_label: str
    """y label of the loss panel, with its scale, e.g. ``MSE (standardised target)``."""
    metric_unit: str = ""
    """Unit of the error metrics (``rmse`` / ``mae``) of a regression target; empty if unknown."""
    best_key: str | None = None
    """History key the best checkpoint / iteration is chosen on (``val_rmse``, ``val_loss``)."""


def _trainer_family(name: str) -> bool | None:
    """A ``transformers.Trainer`` family (counts epochs; standardised regression targets)?
    None for a family that is not registered here."""
    try:
        return bool(FAMILIES.get(name).distributed)
    except Exception:  # noqa: BLE001 - an unknown (e.g. unregistered plug-in) family
        return None


def _x_label(x_key: str, trainer: bool | None, history: Sequence[Mapping[str, Any]]) -> str:
    if x_key == "step":
        return "optimiser step"
    if x_key == "round" or (x_key == "epoch" and trainer is False):
        return "boosting round"
    if trainer is None:  # an unknown family: epochs when they count 1, 2, 3...
        xs = [h.get(x_key) for h in history]
        return "epoch" if xs == list(range(1, len(xs) + 1)) else "iteration"
    return "epoch"


def curve_axes(family: str, history: Sequence[Mapping[str, Any]], task: TaskSpec | None,
               unit: str = "", loss: str | None = None,
               best_metric: str | None = None) -> CurveAxes:
    """The axes of ``family``'s curves: x counter, loss scale and the key the best point is on.

    ``task`` None (token classification): pass ``loss`` (its name) and ``best_metric`` (what
    the best checkpoint is chosen on, e.g. ``entity_f1``)."""
    keys = {k for h in history for k in h}
    x_key = next((k for k in _X_KEYS if k in keys), "epoch")
    trainer = _trainer_family(family)
    x_label = _x_label(x_key, trainer, history)
    regression = task is not None and task.task_type == "regression"
    if loss is None:
        loss = _LOSS_NAME.get(task.task_type, "loss") if task is not None else "loss"
        if regression and trainer is not None:
            loss += " (standardised target)" if trainer else (
                f" (({unit})²)" if unit else " (target units²)")
    prim = best_metric or (primary_metric(task)[0] if task is not None else "loss")
    best = f"val_{prim}" if trainer is not False and f"val_{prim}" in keys else (
        "val_loss" if "val_loss" in keys else None)
    return CurveAxes(x_key, x_label, loss, unit if regression else "", best)


def _best_point(history: Sequence[Mapping[str, Any]], axes: CurveAxes) -> tuple[float, str] | None:
    """``(x, label)`` of the best recorded point, or None."""
    if axes.best_key is None:
        return None
    pts = [(float(h[axes.x_key]), float(h[axes.best_key])) for h in history
           if is_number(h.get(axes.x_key)) and is_number(h.get(axes.best_key))
           and math.isfinite(float(h[axes.best_key]))]
    if not pts:
        return None
    metric = axes.best_key[len("val_"):]
    higher = metric != "loss" and higher_is_better(metric)
    x, _ = (max if higher else min)(pts, key=lambda p: p[1])
    flagged = [float(h[axes.x_key]) for h in history if h.get("best")]
    exact = axes.x_label == "epoch" or (flagged and flagged[0] == x)  # loss_history's best
    what = axes.x_label if exact else "recorded " + axes.x_label
    rule = f"{'highest' if higher else 'lowest'} val {metric}"
    return x, f"best {what} {x:g} ({rule})"


def _series(history: Sequence[Mapping[str, Any]], x_key: str,
            key: str) -> tuple[list[float], list[float]]:
    pts = [(float(h[x_key]), float(h[key])) for h in history
           if is_number(h.get(x_key)) and is_number(h.get(key)) and math.isfinite(float(h[key]))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _metric_label(keys: list[str], unit: str) -> str:
    names = sorted({k.removeprefix("val_").removeprefix("train_") for k in keys})
    text = ", ".join(names)
    in_units = unit and all(n in ("rmse", "mae") for n in names)
    return f"{text} ({unit})" if in_units else text


@safe_figure
def family_curves(name: str, history: Sequence[Mapping[str, Any]], axes: CurveAxes) -> str:
    """The loss panel (and a metrics panel when metrics were recorded) of one model.

    Parameters
    ----------
    name
        The model family (panel titles).
    history
        Its records (see the module docstring).
    axes
        From :func:`curve_axes`.
    """
    keys = sorted({k for h in history for k, v in h.items()
                   if k not in _X_KEYS and is_number(v)})
    loss_keys = [k for k in keys if "loss" in k and _series(history, axes.x_key, k)[0]]
    metric_keys = [k for k in keys if "loss" not in k and _series(history, axes.x_key, k)[0]]
    panels = [(loss_keys, axes.loss_label)] if loss_keys else []
    if metric_keys:
        panels.append((metric_keys, _metric_label(metric_keys, axes.metric_unit)))
    if not panels:
        return not_available(f"{name}: no curve recorded")
    fig = new_figure(4.4 * len(panels), 2.9)
    best = _best_point(history, axes)
    for i, (ax, (pkeys, ylabel)) in enumerate(zip(np.atleast_1d(fig.subplots(1, len(panels))),
                                                  panels, strict=True)):
        for key in pkeys:
            xs, ys = _series(history, axes.x_key, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=key)
        if best is not None:
            ax.axvline(best[0], color="#c0392b", ls="--", lw=0.9, label=best[1])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel=axes.x_label, ylabel=ylabel,
               title=f"{name}: {'loss' if i == 0 and loss_keys else 'validation metrics'}")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    return to_svg(fig)


def curves_html(histories: Mapping[str, Sequence[Mapping[str, Any]]], task: TaskSpec | None,
                unit: str = "", loss: str | None = None, best_metric: str | None = None) -> str:
    """The curves of every model with a history, a caption saying what the axes count and
    where the best point is, and one line naming the models without a curve (arguments as
    :func:`curve_axes`)."""
    out = []
    for name, hist in histories.items():
        if not hist:
            continue
        axes = curve_axes(name, hist, task, unit, loss, best_metric)
        best = _best_point(hist, axes)
        kept = ("the checkpoint of the best epoch is the model kept" if axes.x_label == "epoch"
                else "early stopping keeps the best iteration; about ten rounds are drawn, "
                "the best among them" if any(h.get("best") for h in hist)
                else "early stopping keeps the best iteration; only about ten rounds are recorded")
        caption = (f"x: {axes.x_label}s; loss: {axes.loss_label}"
                   + (f"; dashed line: {best[1]} ({kept})" if best else ""))
        out.append(f'<div class="fig">{family_curves(name, hist, axes)}'
                   f"<p class='ci'>{html.escape(name)}: {html.escape(caption)}.</p></div>")
    none = [n for n, h in histories.items() if not h]
    if none:
        out.append(f"<p class='ci'>No learning curve recorded for {html.escape(', '.join(none))} "
                   "(not trained iteratively, or without validation rows).</p>")
    return "".join(out)
