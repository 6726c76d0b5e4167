"""A self-contained HTML report of one study: data, split & leakage audit, results, plots, config.

The HTML has inline CSS and inline SVG only (no scripts, fonts or other external resources), so
the single file can be mailed or archived. Every string that comes from the user (title, paths,
column names, model names, rejection reasons, config) is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import math
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from scifm.evaluation import plots
from scifm.evaluation.metrics import higher_is_better, metric_names, primary_metric
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

_ENV_PACKAGES = ("scifm", "numpy", "pandas", "scikit-learn", "torch", "transformers", "rdkit",
                 "lightgbm", "mlflow")
_STAT_KEYS = ("n", "count", "mean", "std", "min", "q25", "median", "q75", "max")


@dataclass
class ModelResult:
    """What the report needs from one trained model family."""

    metrics: dict[str, Any]
    """``evaluate_predictions`` output on the test set, plus an optional ``"val"`` dict
    ``{metric: float}`` of validation metrics."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per-epoch records, e.g. ``{"epoch": 1, "train_loss": ..., "val_loss": ...}``."""
    y_true: np.ndarray | None = None
    """Test labels, ``n x n_tasks``."""
    y_pred: np.ndarray | None = None
    """Test predictions, ``n x n_outputs`` (see :mod:`scifm.tasks`)."""
    fit_seconds: float | None = None
    n_parameters: int | None = None
    n_trainable_parameters: int | None = None
    """Set when fewer than all parameters were trained (PEFT, frozen layers)."""


@dataclass
class ReportData:
    """Everything shown in the report; the dict fields are read tolerantly (missing keys are
    skipped)."""

    title: str
    task: TaskSpec
    data_report: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    leakage: dict[str, Any] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    config_yaml: str = ""
    extra_notes: list[str] = field(default_factory=list)
    dataset_path: str | None = None
    modality: str | None = None
    command: str | None = None
    rejected_rows_file: str | None = None
    created: str | None = None
    """Timestamp shown in the header; defaults to now (UTC)."""
    environment: dict[str, str] | None = None
    """Package versions; defaults to the installed versions of the main dependencies."""
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    """``scifm auto``: leaderboard rows (:mod:`scifm.tuning.leaderboard`); shown when non-empty."""


# --------------------------------------------------------------------------- formatting helpers
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _trained(m: ModelResult) -> str:
    """``74,883 (0.33%)`` when only part of the model was trained, else ``all``."""
    k, n = m.n_trainable_parameters, m.n_parameters
    if k is None or not n or k >= n:
        return "all" if n else "—"
    return f"{k:,} ({100 * k / n:.2f}%)"


def _num(x: Any) -> str:
    """A number for display: 3 decimals, ``n/a`` for None/NaN, integers with separators."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.3g}"
    return f"{v:.3f}"


def _value_ci(entry: Any) -> str:
    """``0.912 [0.881, 0.940]`` from ``{"value": ..., "ci95": [lo, hi]}``."""
    if not isinstance(entry, Mapping):
        return _num(entry)
    ci = entry.get("ci95") or [None, None]
    text = _num(entry.get("value"))
    if len(ci) == 2 and all(c is not None and math.isfinite(float(c)) for c in ci):
        text += f' <span class="ci">[{_num(ci[0])}, {_num(ci[1])}]</span>'
    return text


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table from already-escaped cell HTML."""
    header = list(header)
    head = ("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>"
            if any(header) else "")
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def _kv(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = [(_e(k), _num(v) if not isinstance(v, str) else _e(v)) for k, v in pairs
            if v is not None]
    return _table(("", ""), rows, "kv") if rows else ""


def _scalars(d: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, Any]]:
    skip = set(skip)
    return [(k, v) for k, v in d.items()
            if k not in skip and isinstance(v, (str, int, float, bool, np.number))]


def _fig(svg: str) -> str:
    return f'<div class="fig">{svg}</div>' if svg else ""


def _warnings(items: Iterable[Any]) -> str:
    items = [i for i in items if i]
    if not items:
        return ""
    return '<div class="warn"><b>Warnings</b><ul>' + "".join(
        f"<li>{_e(i)}</li>" for i in items) + "</ul></div>"


def _best(values: dict[str, float], metric: str) -> set[str]:
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if len(finite) < 2:
        return set()
    best = (max if higher_is_better(metric) else min)(finite.values())
    return {k for k, v in finite.items() if v == best}


def _metric_rows(metrics: Iterable[str], cells: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows ``metric | model...`` with the best value per row in bold."""
    rows = []
    for met in metrics:
        vals = {}
        for name, ms in cells.items():
            e = ms.get(met)
            v = e.get("value") if isinstance(e, Mapping) else e
            vals[name] = float(v) if v is not None else math.nan
        best = _best(vals, met)
        arrow = "↑" if higher_is_better(met) else "↓"
        row = [f"{_e(met)} {arrow}"]
        for name, ms in cells.items():
            c = _value_ci(ms.get(met))
            row.append(f"<b>{c}</b>" if name in best else c)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- sections
def _header(d: ReportData) -> str:
    t = d.task
    task = f"{t.task_type} on {', '.join(t.target_cols)}"
    if t.classes:
        task += f" (classes: {', '.join(map(str, t.classes))})"
    pairs = [("created", d.created or _dt.datetime.now(_dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")), ("dataset", d.dataset_path), ("modality", d.modality),
        ("task", task), ("command", d.command)]
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" if k == "command"
                   else f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs if v)
    return f"<header><h1>{_e(d.title)}</h1><table class='kv'>{rows}</table></header>"


def _data_section(d: ReportData) -> str:
    r = d.data_report
    out = ["<section><h2>1. Data &amp; cleaning</h2>"]
    out.append(_kv([("rows in", r.get("n_rows_in")), ("valid rows", r.get("n_valid")),
                    ("rejected rows", r.get("n_invalid")),
                    ("duplicate groups", r.get("n_duplicate_groups")),
                    ("conflicting duplicate groups", r.get("n_conflicting_groups")),
                    ("duplicate policy", r.get("duplicate_policy"))]))
    reasons = r.get("invalid_reasons") or {}
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: -float(kv[1]))[:15]
        out.append("<h3>Top rejection reasons</h3>")
        out.append(_table(("reason", "rows"), [(_e(k), _num(v)) for k, v in top]))
    missing = r.get("n_missing_labels") or {}
    if isinstance(missing, Mapping) and missing:
        out.append("<h3>Missing labels</h3>")
        out.append(_table(("target", "rows without label"),
                          [(_e(k), _num(v)) for k, v in missing.items()]))
    targets = r.get("targets") or {}
    if targets:
        out.append("<h3>Target distribution</h3>")
    for name, stats in targets.items():
        if not isinstance(stats, Mapping):
            continue
        counts = stats.get("counts", stats)
        if d.task.is_classification and isinstance(counts, Mapping):
            out.append(_fig(plots.bar_counts(counts, f"class balance: {name}")))
        else:
            keys = [k for k in _STAT_KEYS if k in stats] + [
                k for k in stats if k not in _STAT_KEYS and not isinstance(stats[k], (list, dict))]
            out.append(f"<p><b>{_e(name)}</b></p>" + _table(
                [_e(k) for k in keys], [[_num(stats[k]) for k in keys]]))
    if not d.task.is_classification:
        first = next((m for m in d.models.values() if m.y_true is not None), None)
        if first is not None:
            yt = np.asarray(first.y_true, float).reshape(len(first.y_true), -1)
            for j, name in enumerate(d.task.target_cols):
                out.append(_fig(plots.histogram(yt[:, j], f"test-set {name}", name)))
    known = {"n_rows_in", "n_valid", "n_invalid", "n_duplicate_groups", "n_conflicting_groups",
             "duplicate_policy"}
    other = _scalars(r, known)
    if other:
        out.append("<h3>Other details</h3>" + _kv(other))
    out.append(_warnings(r.get("warnings") or []))
    return "".join(out) + "</section>"


def _split_section(d: ReportData) -> str:
    s, lk = d.split, d.leakage
    out = ["<section><h2>2. Split &amp; leakage audit</h2>"]
    out.append(_kv([("method", s.get("method")), ("seed", s.get("seed"))]
                   + _scalars(s, ("method", "seed"))))
    sizes = s.get("sizes") or {}
    if sizes:
        total = sum(float(v) for v in sizes.values()) or 1.0
        out.append(_table(("split", "rows", "fraction"),
                          [(_e(k), _num(v), f"{100 * float(v) / total:.1f}%")
                           for k, v in sizes.items()]))
    dup = lk.get("exact_duplicates")
    if isinstance(dup, Mapping) and dup:
        out.append("<h3>Exact duplicates across splits</h3>")
        out.append(_table(("pair", "count"), [
            (_e(k), _num(v) if not isinstance(v, (list, dict)) else _e(v))
            for k, v in dup.items()]))
    elif dup is not None:
        out.append(f"<p>Exact duplicates across splits: {_num(dup)}</p>")
    nn = lk.get("nn_similarity") or {}
    if isinstance(nn, Mapping) and nn:
        out.append("<h3>Nearest-neighbour similarity (test to train)</h3>")
        out.append(_kv(_scalars(nn)))
        hist = nn.get("histogram")
        if isinstance(nn.get("values"), (list, tuple, np.ndarray)) and len(nn["values"]):
            out.append(_fig(plots.histogram(nn["values"], "test-to-train nearest neighbour",
                                            "similarity", bins=np.linspace(0, 1, 21))))
        elif isinstance(hist, Mapping):
            edges = np.asarray(hist.get("bin_edges", hist.get("edges", [])), float)
            counts = hist.get("counts", [])
            if len(edges) == len(counts) + 1 and len(counts):
                out.append(_fig(plots.histogram((edges[:-1] + edges[1:]) / 2,
                                                "test-to-train nearest neighbour", "similarity",
                                                bins=edges, weights=counts)))
    other = _scalars(lk)
    if other:
        out.append(_kv(other))
    out.append(_warnings(list(lk.get("warnings") or []) + list(s.get("warnings") or [])))
    return "".join(out) + "</section>"


def _results_section(d: ReportData) -> str:
    t, models = d.task, d.models
    out = ["<section><h2>3. Results</h2>"]
    if not models:
        return out[0] + "<p>No model results.</p></section>"
    names = list(models)
    prim, _ = primary_metric(t)
    level = next((m.metrics.get("ci_level") for m in models.values()
                  if m.metrics.get("ci_level")), 0.95)
    n_test = next((m.metrics.get("n") for m in models.values() if m.metrics.get("n")), None)
    out.append(f"<p>Test set ({_num(n_test)} rows). Cells: value [{100 * float(level):g}% "
               f"percentile-bootstrap interval over test rows]. Primary metric: "
               f"<b>{_e(prim)}</b>. Best value per row in bold; ↑ higher / ↓ lower is better.</p>")
    header = ["metric"] + [_e(n) for n in names]
    mets = metric_names(t)
    out.append(_table(header, _metric_rows(mets, {n: models[n].metrics for n in names}),
                      "results"))
    val = {n: models[n].metrics.get("val") or {} for n in names}
    if any(val.values()):
        out.append("<h3>Validation metrics</h3>")
        vm = [m for m in mets if any(m in v for v in val.values())]
        out.append(_table(header, _metric_rows(vm, val), "results"))
    out.append("<h3>Models</h3>")
    out.append(_table(("model", "parameters (total)", "trained parameters", "fit time (s)"), [
        (_e(n), _num(models[n].n_parameters), _trained(models[n]), _num(models[n].fit_seconds))
        for n in names]))
    if t.n_tasks > 1:
        out.append(f"<h3>Per target ({_e(prim)})</h3>")
        per = {n: models[n].metrics.get("per_task") or {} for n in names}
        rows = []
        for tgt in t.target_cols:
            cells = {n: (per[n].get(tgt) or {}).get(prim) for n in names}
            vals = {n: float(c["value"]) if isinstance(c, Mapping) and c.get("value") is not None
                    else math.nan for n, c in cells.items()}
            best = _best(vals, prim)
            rows.append([_e(tgt)] + [f"<b>{_value_ci(cells[n])}</b>" if n in best
                                     else _value_ci(cells[n]) for n in names])
        out.append(_table(["target"] + [_e(n) for n in names], rows, "results"))
        for n in names:
            if per[n]:
                out.append(f"<details><summary>All metrics per target: {_e(n)}</summary>"
                           + _table(["metric"] + [_e(x) for x in per[n]],
                                    [[_e(m)] + [_value_ci(per[n][x].get(m)) for x in per[n]]
                                     for m in mets], "results") + "</details>")
    if d.comparisons:
        out.append("<h3>Paired comparisons (same test rows)</h3>")
        out.append(_table(("model A", "model B", "metric", "A − B [CI]", "P(A better)"), [
            (_e(c.get("model_a", "A")), _e(c.get("model_b", "B")), _e(c.get("metric", "")),
             _value_ci({"value": c.get("delta"), "ci95": c.get("ci95")}),
             _num(c.get("p_a_better"))) for c in d.comparisons]))
    return "".join(out) + "</section>"


def _leaderboard_section(d: ReportData) -> str:
    """Every trial of every family (best per family in bold, the winner marked ★)."""
    if not d.leaderboard:
        return ""
    prim, _ = primary_metric(d.task)
    out = ["<section><h2>Leaderboard</h2>",
           f"<p>Cross-validation on train+val ({_e(prim)}, mean ± std over folds) for every "
           "trial; the best trial of each family (bold) was refitted on train and evaluated on "
           "test; ★ = selected (chosen out of fold, never on test). Also in leaderboard.csv.</p>"]
    rows = []
    for r in d.leaderboard:
        test = _value_ci({"value": r.get(f"test_{prim}"),
                          "ci95": [r.get(f"test_{prim}_ci_low"), r.get(f"test_{prim}_ci_high")]})
        trial = r.get("trial")
        trial = "" if trial is None or trial != trial else str(int(trial))
        cells = [("★ " if r.get("selected") else "") + _e(r.get("family")), _e(trial),
                 _e(str(r.get("state", "")).lower()),
                 f"{_num(r.get('cv_mean'))} ± {_num(r.get('cv_std'))}",
                 _num(r.get("fit_seconds")), test if r.get("best_of_family") else "",
                 f"<code>{_e(str(r.get('params', ''))[:160])}</code>"]
        rows.append([f"<b>{c}</b>" if r.get("best_of_family") and c else c for c in cells])
    out.append(_table(("model", "trial", "state", f"CV {_e(prim)}", "fit (s)",
                       f"test {_e(prim)} [CI]", "parameters"), rows, "results"))
    roles = [c for c in d.comparisons if c.get("role")]
    if roles:
        out.append("<h3>Winner against the alternatives (paired bootstrap, same test rows)</h3>")
        out.append(_table(("comparison", "A − B [CI]", "P(A better)"), [
            (_e(f"{c.get('model_a')} vs {c.get('model_b')} ({c.get('role')})"),
             _value_ci({"value": c.get("delta"), "ci95": c.get("ci95")}),
             _num(c.get("p_a_better"))) for c in roles]))
    return "".join(out) + "</section>"


def _plots_section(d: ReportData) -> str:
    t, models = d.task, d.models
    out = ["<section><h2>4. Plots</h2>"]
    hist = {n: m.history for n, m in models.items() if m.history}
    out.append("<h3>Learning curves</h3>" + _fig(plots.learning_curves(hist)))
    with_pred = {n: m for n, m in models.items() if m.y_true is not None and m.y_pred is not None}
    if not with_pred:
        return "".join(out) + "<p>No test predictions available.</p></section>"
    y_true = next(iter(with_pred.values())).y_true
    preds = {n: m.y_pred for n, m in with_pred.items()}
    if t.is_classification:
        out.append("<h3>ROC &amp; precision-recall</h3>" + _fig(plots.roc_pr_curves(t, y_true,
                                                                                     preds)))
        out.append("<h3>Confusion matrices</h3><div class='row'>" + "".join(
            _fig(plots.confusion_matrix_plot(t, m.y_true, m.y_pred, title=n))
            for n, m in with_pred.items()) + "</div>")
    else:
        for j, tgt in enumerate(t.target_cols[:10]):
            out.append(f"<h3>Parity &amp; residuals: {_e(tgt)}</h3>")
            out.append(_fig(plots.parity_plot(t, y_true, preds, target=j)))
            out.append(_fig(plots.residual_plot(t, y_true, preds, target=j)))
    return "".join(out) + "</section>"


def _environment() -> dict[str, str]:
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in _ENV_PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return env


def _config_section(d: ReportData) -> str:
    out = ["<section><h2>5. Configuration &amp; environment</h2>"]
    if d.config_yaml:
        out.append(f"<h3>Resolved configuration</h3><pre>{_e(d.config_yaml)}</pre>")
    env = d.environment if d.environment is not None else _environment()
    out.append("<h3>Environment</h3>" + _kv(env.items()))
    notes = list(d.extra_notes)
    if d.rejected_rows_file:
        notes.insert(0, f"Rejected rows and their reasons are listed in {d.rejected_rows_file}.")
    if notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "".join(out) + "</section>"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1.5em;color:#222;line-height:1.4}
h1{margin-bottom:.3em}h2{border-bottom:2px solid #4a7ab5;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.4em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
thead th{background:#eef3f9}table.kv th,table.kv td:first-child{background:#f7f7f7}
table.results td{font-variant-numeric:tabular-nums}.ci{color:#666;font-size:.9em}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.5em 1em;margin:.8em 0}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
.fig svg{max-width:100%;height:auto}.row{display:flex;flex-wrap:wrap;gap:1em}
details{margin:.4em 0}summary{cursor:pointer}
"""


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document (inline CSS and SVG, no scripts).

    Parameters
    ----------
    data : ReportData

    Returns
    -------
    str
        A complete ``<!DOCTYPE html>`` document.
    """
    body = "".join((_header(data), _data_section(data), _split_section(data),
                    _results_section(data), _leaderboard_section(data), _plots_section(data),
                    _config_section(data)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(data.title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}<footer><p class='ci'>Generated by scifm.</p></footer></body></html>\n")


def write_report(path: str | Path, data: ReportData) -> None:
    """Render the report and write it to ``path`` atomically (UTF-8)."""
    atomic_write_text(path, render_report(data))
    logger.info("wrote report %s", path)
