"""The report's examples section: the best and worst predicted test inputs of the selected model.

Molecules are drawn (RDKit SVG, :mod:`scifm.evaluation.drawings`) with their true and predicted
values, and each of the worst is shown beside its nearest training molecules (Morgan / Tanimoto
similarity and their labels): a badly predicted molecule with no close training neighbour is
out of domain, one with close neighbours of very different labels sits on an activity cliff.
Sequences and texts are listed, truncated, in a table. Bounded: :data:`N_SHOWN` best and worst,
:data:`N_NEIGHBOURS` neighbours each.
"""

from __future__ import annotations

import warnings

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.evaluation.drawings import Neighbours, molecule_svg
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, num, table
from scifm.evaluation.report_predictions import test_inputs
from scifm.evaluation.report_summary import selected_model
from scifm.tasks import TaskSpec

__all__ = ["N_NEIGHBOURS", "N_SHOWN", "examples_section", "prediction_errors"]

N_SHOWN = 6
N_NEIGHBOURS = 3
_CHARS = 60


def prediction_errors(task: TaskSpec, y_true: np.ndarray,
                      y_pred: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-row error (NaN: no label) and what it is: the absolute error (one regression target),
    the mean absolute error in standard deviations (several), or 1 − P(true class)."""
    yt = np.asarray(y_true, float).reshape(len(y_true), -1)
    yp = np.asarray(y_pred, float).reshape(len(y_pred), -1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without any label: NaN
        if task.task_type == "regression":
            err = np.abs(yp - yt)
            if task.n_tasks == 1:
                return err[:, 0], "absolute error"
            sd = np.nanstd(yt, axis=0)
            return (np.nanmean(err / np.where(sd > 0, sd, 1.0), axis=1),
                    "mean absolute error in standard deviations")
        if task.task_type == "binary":
            p_true = np.where(yt == 1, yp, 1 - yp)
            p_true[~np.isfinite(yt)] = np.nan
            return 1 - np.nanmean(p_true, axis=1), "1 − P(true class)"
        y = yt[:, 0]
        ok = np.isfinite(y)
        p = np.full(len(y), np.nan)
        p[ok] = yp[np.flatnonzero(ok), y[ok].astype(int)]
        return 1 - p, "1 − P(true class)"


def _value(task: TaskSpec, d: ReportData, yt: np.ndarray, yp: np.ndarray) -> str:
    """``true … · predicted …`` of one row (first two targets), HTML."""
    if task.task_type == "regression":
        parts = []
        for j, c in enumerate(task.target_cols[:2]):
            unit = f" {esc(d.units[c])}" if d.units.get(c) else ""
            name = f"{esc(c)}: " if task.n_tasks > 1 else ""
            parts.append(f"{name}true {num(yt[j])} · pred {num(yp[j])}{unit}")
        return "<br>".join(parts)
    names = list(task.classes or ["0", "1"])
    if not np.isfinite(yt[0]):
        return "no label"
    k = int(yt[0])
    if task.task_type == "binary":
        return f"true: {esc(names[k])} · P({esc(names[1])})={num(yp[0])}"
    pred = names[int(np.argmax(yp))]
    return f"true: {esc(names[k])} · P={num(yp[k])} · predicted: {esc(pred)}"


def _short(s: str, n: int = _CHARS) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def _card(smiles: str, caption: str, cls: str = "") -> str:
    svg = molecule_svg(smiles) or "<p class='ci'>(not drawable)</p>"
    return (f'<div class="mol-card {cls}">{svg}<div class="cap">{caption}<br>'
            f"<code>{esc(_short(smiles))}</code></div></div>")


def _ranked(err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(np.isfinite(err))
    order = rows[np.argsort(err[rows], kind="stable")]
    k = min(N_SHOWN, len(order) // 2)
    return order[:k], order[::-1][:k]


def _label(d: ReportData, y: np.ndarray) -> str:
    """``label …`` of a training row (first two targets), HTML."""
    t = d.task
    if t.is_classification:
        names = list(t.classes or ["0", "1"])
        return f"label: {esc(names[int(y[0])])}" if np.isfinite(y[0]) else "no label"
    return ", ".join(f"label {num(y[j])}" + (f" {esc(d.units[c])}" if d.units.get(c) else "")
                     for j, c in enumerate(t.target_cols[:2]))


def _neighbours(d: ReportData, smiles: str, index: Neighbours) -> str:
    train_y = d.split_y.get("train")
    train = d.split_inputs.get("train") or []
    cards = []
    for row, sim in index.nearest(smiles, N_NEIGHBOURS):
        label = ""
        if train_y is not None and row < len(train_y):
            label = "<br>" + _label(d, np.asarray(train_y[row], float).ravel())
        cards.append(_card(train[row], f"train · Tanimoto {sim:.2f}{label}"))
    return "".join(cards) or "<p class='ci'>no training neighbour found</p>"


def _molecules(d: ReportData, name: str, inputs: list[str], err: np.ndarray,
               what: str, yt: np.ndarray, yp: np.ndarray) -> str:
    best, worst = _ranked(err)
    cap = [f"{_value(d.task, d, yt[i], yp[i])}<br>{esc(what)} {num(err[i])}" for i in
           range(len(err))]
    out = [f"<h3>Best predicted test molecules ({esc(name)})</h3><div class='mols'>"
           + "".join(_card(inputs[i], cap[i]) for i in best) + "</div>"]
    train = d.split_inputs.get("train") or []
    index = Neighbours(train) if train else None
    sub = " (shaded: its nearest training molecules)" if index is not None else ""
    out.append(f"<h3>Worst predicted test molecules ({esc(name)}){sub}</h3>")
    if index is not None and index.subsampled:
        out.append(f"<p class='ci'>Neighbours searched among a random subset of "
                   f"{len(train):,} training molecules.</p>")
    for i in worst:
        nbrs = _neighbours(d, inputs[i], index) if index is not None else ""
        out.append(f"<div class='nbrs'>{_card(inputs[i], cap[i], 'query')}{nbrs}</div>")
    return "".join(out)


def _sequences(d: ReportData, name: str, inputs: list[str], err: np.ndarray, what: str,
               yt: np.ndarray, yp: np.ndarray) -> str:
    best, worst = _ranked(err)
    out = []
    for title, rows in (("Best", best), ("Worst", worst)):
        out.append(f"<h3>{title} predicted test inputs ({esc(name)})</h3>" + table(
            ("input", "values", esc(what)),
            [(f"<code>{esc(_short(inputs[i], 80))}</code>", _value(d.task, d, yt[i], yp[i]),
              num(err[i])) for i in rows]))
    return "".join(out)


def examples_section(d: ReportData) -> str:
    """Best and worst predicted test inputs of the selected model (molecules drawn)."""
    name = selected_model(d)
    m = d.models.get(name) if name else None
    if m is None or m.y_true is None or m.y_pred is None:
        return ""
    inputs = test_inputs(d, len(m.y_true))
    if not inputs:
        return ""
    yt = np.asarray(m.y_true, float).reshape(len(m.y_true), -1)
    yp = np.asarray(m.y_pred, float).reshape(len(m.y_pred), -1)
    err, what = prediction_errors(d.task, yt, yp)
    draw = d.modality in MODALITIES and MODALITIES.get(d.modality).draws_molecules
    body = (_molecules if draw else _sequences)(d, name, inputs, err, what, yt, yp)
    title = "Molecules: best and worst predicted" if draw else "Best and worst predicted inputs"
    return (f'<section id="examples"><h2>{title}</h2><p class="ci">Test rows of the selected '
            f"model ranked by {esc(what)}.</p>{body}</section>")
