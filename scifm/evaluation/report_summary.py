"""The summary card at the top of the report: data, task, split, the selected model with its
primary test metric and interval, what it is compared with (the other families and a trivial
baseline computed from the labels) and every warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from scifm.evaluation.metrics import evaluate_predictions, primary_metric
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, num, value_ci, warnings_box

__all__ = ["all_warnings", "selected_model", "summary_card", "trivial_baseline"]

_MAX_WARNINGS = 8


def selected_model(d: ReportData) -> str | None:
    """The model the run selected: ★ in the leaderboard, else the best validation primary metric
    (ties and no validation: the first), as :func:`scifm.evaluation.scoring.select_family`."""
    for row in d.leaderboard:
        if row.get("selected") and row.get("family") in d.models:
            return str(row["family"])
    if not d.models:
        return None
    prim, higher = primary_metric(d.task)
    best, score = next(iter(d.models)), None
    for name, m in d.models.items():
        v = (m.metrics.get("val") or {}).get(prim)
        if v is None or not math.isfinite(float(v)):
            continue
        if score is None or (v > score if higher else v < score):
            best, score = name, float(v)
    return best


def trivial_baseline(d: ReportData) -> tuple[str, dict[str, Any]] | None:
    """``(description, {"value", "ci95"})`` of the primary test metric of a model that ignores
    its input: the training mean (regression) or the training class frequencies
    (classification: ROC-AUC 0.5, macro-F1 of always predicting the majority class)."""
    train, test = d.split_y.get("train"), d.split_y.get("test")
    if test is None:
        test = next((m.y_true for m in d.models.values() if m.y_true is not None), None)
    if train is None or test is None or not len(train) or not len(test):
        return None
    t = d.task
    train = np.asarray(train, float).reshape(len(train), -1)
    test = np.asarray(test, float).reshape(len(test), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if t.task_type == "multiclass":
            freq = np.bincount(train[np.isfinite(train[:, 0]), 0].astype(int),
                               minlength=len(t.classes)).astype(float)
            const, what = freq / max(freq.sum(), 1.0), "majority class (training frequencies)"
        else:
            const = np.nanmean(train, axis=0)
            what = ("training-mean predictor" if t.task_type == "regression"
                    else "constant predictor (training prevalence)")
        pred = np.tile(const, (len(test), 1))
        try:
            res = evaluate_predictions(t, test, pred, n_bootstrap=200, seed=0)
        except Exception:  # noqa: BLE001 - no baseline rather than no report
            return None
    entry = res.get(primary_metric(t)[0])
    return (what, entry) if isinstance(entry, Mapping) else None


def all_warnings(d: ReportData) -> list[str]:
    """Reviewer, data, split and leakage warnings, each once, in that order."""
    items = [*d.warnings, *(d.data_report.get("warnings") or []),
             *(d.split.get("warnings") or []), *(d.leakage.get("warnings") or []),
             *(d.evaluation_audit.get("warnings") or [])]
    return list(dict.fromkeys(str(w) for w in items if w))


def _tile(label: str, big: str, sub: str = "", cls: str = "") -> str:
    return (f'<div class="tile {cls}"><div class="label">{label}</div><div class="big">{big}'
            f'</div><div class="sub">{sub}</div></div>')


def _metric_tile(label: str, entry: Any, sub: str, cls: str = "") -> str:
    """A tile with a metric value in large type and its interval below."""
    if not isinstance(entry, Mapping):
        return _tile(label, num(entry), sub, cls)
    ci = entry.get("ci95") or []
    interval = (f"<span class='ci'>95% CI [{num(ci[0])}, {num(ci[1])}]</span><br>"
                if len(ci) == 2 and all(c is not None and math.isfinite(float(c)) for c in ci)
                else "")
    return _tile(label, num(entry.get("value")), interval + sub, cls)


def _data_tile(d: ReportData) -> str:
    r = d.data_report
    used = r.get("n_rows_out", r.get("n_valid"))
    rejected = r.get("n_rejected", r.get("n_invalid"))
    src = (d.dataset_path or r.get("source") or "").replace("\\", "/").rsplit("/", 1)[-1]
    sub = f"{num(r.get('n_rows_in'))} rows read, {num(rejected)} rejected" if r else ""
    return _tile("Data", f"{num(used)} rows" if used is not None else "—",
                 f"{esc(src)}<br>{sub}" if src else sub)


def _task_tile(d: ReportData) -> str:
    t = d.task
    targets = ", ".join(f"{c} ({d.units[c]})" if c in d.units else c for c in t.target_cols)
    sub = esc(targets)
    if t.classes:
        sub += "<br>classes: " + esc(", ".join(map(str, t.classes)))
    if d.modality:
        sub += f"<br>input: {esc(d.modality)}"
    return _tile("Task", esc(t.task_type), sub)


def _split_tile(d: ReportData) -> str:
    sizes = d.split.get("sizes") or {}
    sub = " / ".join(f"{esc(k)} {num(v)}" for k, v in sizes.items())
    return _tile("Split", esc(d.split.get("method", "—")), sub)


def _model_tiles(d: ReportData, best: str) -> list[str]:
    prim, _ = primary_metric(d.task)
    has_val = any((m.metrics.get("val") or {}).get(prim) is not None for m in d.models.values())
    how = ("selected on validation" if has_val else "first model (no validation metrics)"
           ) if len(d.models) > 1 else "model"
    tiles = [_metric_tile(f"{how}: test {esc(prim)}", d.models[best].metrics.get(prim),
                          f"<b>{esc(best)}</b>", "best")]
    for name, m in d.models.items():
        if name == best:
            continue
        cmp = next((c for c in d.comparisons if {c.get("model_a"), c.get("model_b")}
                    == {best, name} and c.get("metric", prim) == prim), None)
        sub = f"{esc(name)}"
        if cmp is not None:
            sign = 1 if cmp.get("model_a") == best else -1
            ci = [sign * float(x) for x in (cmp.get("ci95") or [math.nan] * 2)]
            p = cmp.get("p_a_better")
            p = p if sign == 1 or p is None else 1 - float(p)
            delta = {"value": sign * float(cmp.get("delta", math.nan)), "ci95": sorted(ci)}
            sub += (f"<br>{esc(best)} − {esc(name)}: {value_ci(delta)}, "
                    f"P({esc(best)} better) {num(p)}")
        tiles.append(_metric_tile(f"compared: test {esc(prim)}", m.metrics.get(prim), sub))
    return tiles


def summary_card(d: ReportData) -> str:
    """The summary card (a ``<section id="summary">``)."""
    tiles = [_data_tile(d), _task_tile(d), _split_tile(d)]
    best = selected_model(d)
    if best is not None:
        tiles[:0] = _model_tiles(d, best)
    base = trivial_baseline(d)
    if base is not None:
        prim, _ = primary_metric(d.task)
        tiles.insert(len(d.models), _metric_tile(f"trivial baseline: test {esc(prim)}",
                                                 base[1], esc(base[0])))
    warn = all_warnings(d)
    shown = warn[:_MAX_WARNINGS]
    if len(warn) > len(shown):
        shown.append(f"… and {len(warn) - len(shown)} more in the sections below")
    note = ("" if warn else "<p class='ci'>No warnings from the data checks, the split audit or "
            "the model review.</p>")
    return (f'<section id="summary" class="card"><h2>Summary</h2><div class="tiles">'
            f'{"".join(tiles)}</div>{warnings_box(shown)}{note}</section>')
