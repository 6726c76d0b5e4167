"""The sections of the HTML report, in order: header, data & cleaning, split & leakage audit,
results, leaderboard (``scifm auto``), plots, configuration & environment.

Each section is a function ``ReportData -> HTML``; :func:`scifm.evaluation.report.render_report`
joins them (:data:`SECTIONS`).
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Mapping
from importlib import metadata

import numpy as np

from scifm.evaluation import plots
from scifm.evaluation.metrics import metric_names, primary_metric
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import (
    best_of,
    esc,
    fig,
    kv,
    metric_rows,
    num,
    scalars,
    table,
    trained_share,
    value_ci,
    warnings_box,
)

__all__ = ["SECTIONS", "config_section", "data_section", "environment", "header",
           "leaderboard_section", "plots_section", "results_section", "split_section"]

_ENV_PACKAGES = ("scifm", "numpy", "pandas", "scikit-learn", "torch", "transformers", "rdkit",
                 "lightgbm", "mlflow")
_STAT_KEYS = ("n", "count", "mean", "std", "min", "q25", "median", "q75", "max")


def header(d: ReportData) -> str:
    """Title, creation time, dataset, modality, task and the command that made the run."""
    t = d.task
    task = f"{t.task_type} on {', '.join(t.target_cols)}"
    if t.classes:
        task += f" (classes: {', '.join(map(str, t.classes))})"
    pairs = [("created", d.created or _dt.datetime.now(_dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")), ("dataset", d.dataset_path), ("modality", d.modality),
        ("task", task), ("command", d.command)]
    rows = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" if k == "command"
                   else f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs if v)
    return f"<header><h1>{esc(d.title)}</h1><table class='kv'>{rows}</table></header>"


def data_section(d: ReportData) -> str:
    """1. Data & cleaning: row counts, rejection reasons, missing labels, target distribution."""
    r = d.data_report
    out = ["<section><h2>1. Data &amp; cleaning</h2>"]
    out.append(kv([("rows in", r.get("n_rows_in")), ("valid rows", r.get("n_valid")),
                    ("rejected rows", r.get("n_invalid")),
                    ("duplicate groups", r.get("n_duplicate_groups")),
                    ("conflicting duplicate groups", r.get("n_conflicting_groups")),
                    ("duplicate policy", r.get("duplicate_policy"))]))
    reasons = r.get("invalid_reasons") or {}
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: -float(kv[1]))[:15]
        out.append("<h3>Top rejection reasons</h3>")
        out.append(table(("reason", "rows"), [(esc(k), num(v)) for k, v in top]))
    missing = r.get("n_missing_labels") or {}
    if isinstance(missing, Mapping) and missing:
        out.append("<h3>Missing labels</h3>")
        out.append(table(("target", "rows without label"),
                          [(esc(k), num(v)) for k, v in missing.items()]))
    targets = r.get("targets") or {}
    if targets:
        out.append("<h3>Target distribution</h3>")
    for name, stats in targets.items():
        if not isinstance(stats, Mapping):
            continue
        counts = stats.get("counts", stats)
        if d.task.is_classification and isinstance(counts, Mapping):
            out.append(fig(plots.bar_counts(counts, f"class balance: {name}")))
        else:
            keys = [k for k in _STAT_KEYS if k in stats] + [
                k for k in stats if k not in _STAT_KEYS and not isinstance(stats[k], (list, dict))]
            out.append(f"<p><b>{esc(name)}</b></p>" + table(
                [esc(k) for k in keys], [[num(stats[k]) for k in keys]]))
    if not d.task.is_classification:
        first = next((m for m in d.models.values() if m.y_true is not None), None)
        if first is not None:
            yt = np.asarray(first.y_true, float).reshape(len(first.y_true), -1)
            for j, name in enumerate(d.task.target_cols):
                out.append(fig(plots.histogram(yt[:, j], f"test-set {name}", name)))
    known = {"n_rows_in", "n_valid", "n_invalid", "n_duplicate_groups", "n_conflicting_groups",
             "duplicate_policy"}
    other = scalars(r, known)
    if other:
        out.append("<h3>Other details</h3>" + kv(other))
    out.append(warnings_box(r.get("warnings") or []))
    out.append(_conflicting_duplicates(r.get("conflicting_duplicates")))
    return "".join(out) + "</section>"


def _conflicting_duplicates(c: Mapping | None) -> str:
    """The regression duplicate groups whose labels spread over the threshold, worst first, and
    what the duplicate policy did with them (``data_report.json`` ``conflicting_duplicates``)."""
    if not isinstance(c, Mapping) or not c.get("worst"):
        return ""
    thresholds = ", ".join(f"{esc(k)} {num(v)}" for k, v in (c.get("threshold") or {}).items())
    rows = [(esc(w.get("target")), f"<code>{esc(w.get('input'))}</code>",
             esc(", ".join(map(str, w.get("rows", [])))),
             esc(", ".join(f"{v:.4g}" for v in w.get("values", []))), num(w.get("spread")),
             esc(w.get("result"))) for w in c["worst"]]
    return ("<h3>Conflicting duplicates</h3>"
            f"<p>Identical inputs whose labels differ by more than {thresholds} "
            f"({esc(c.get('threshold_rule'))}). Policy <code>data.duplicates="
            f"{esc(c.get('policy'))}</code>: {esc(c.get('policy_effect'))}.</p>"
            + table(("target", "input", "rows", "labels", "spread", "result"), rows))


def split_section(d: ReportData) -> str:
    """2. Split & leakage audit: split sizes, duplicates across splits, nearest-neighbour
    similarity of test to train."""
    s, lk = d.split, d.leakage
    out = ["<section><h2>2. Split &amp; leakage audit</h2>"]
    out.append(kv([("method", s.get("method")), ("seed", s.get("seed"))]
                   + scalars(s, ("method", "seed"))))
    sizes = s.get("sizes") or {}
    if sizes:
        total = sum(float(v) for v in sizes.values()) or 1.0
        out.append(table(("split", "rows", "fraction"),
                          [(esc(k), num(v), f"{100 * float(v) / total:.1f}%")
                           for k, v in sizes.items()]))
    dup = lk.get("exact_duplicates")
    if isinstance(dup, Mapping) and dup:
        out.append("<h3>Exact duplicates across splits</h3>")
        out.append(table(("pair", "count"), [
            (esc(k), num(v) if not isinstance(v, (list, dict)) else esc(v))
            for k, v in dup.items()]))
    elif dup is not None:
        out.append(f"<p>Exact duplicates across splits: {num(dup)}</p>")
    nn = lk.get("nn_similarity") or {}
    if isinstance(nn, Mapping) and nn:
        out.append("<h3>Nearest-neighbour similarity (test to train)</h3>")
        out.append(kv(scalars(nn)))
        hist = nn.get("histogram")
        if isinstance(nn.get("values"), (list, tuple, np.ndarray)) and len(nn["values"]):
            out.append(fig(plots.histogram(nn["values"], "test-to-train nearest neighbour",
                                            "similarity", bins=np.linspace(0, 1, 21))))
        elif isinstance(hist, Mapping):
            edges = np.asarray(hist.get("bin_edges", hist.get("edges", [])), float)
            counts = hist.get("counts", [])
            if len(edges) == len(counts) + 1 and len(counts):
                out.append(fig(plots.histogram((edges[:-1] + edges[1:]) / 2,
                                                "test-to-train nearest neighbour", "similarity",
                                                bins=edges, weights=counts)))
    other = scalars(lk)
    if other:
        out.append(kv(other))
    out.append(warnings_box(list(lk.get("warnings") or []) + list(s.get("warnings") or [])))
    return "".join(out) + "</section>"


def results_section(d: ReportData) -> str:
    """3. Results: test (and validation) metrics with intervals per model, model sizes,
    per-target metrics and paired comparisons."""
    t, models = d.task, d.models
    out = ["<section><h2>3. Results</h2>"]
    if not models:
        return out[0] + "<p>No model results.</p></section>"
    names = list(models)
    prim, _ = primary_metric(t)
    level = next((m.metrics.get("ci_level") for m in models.values()
                  if m.metrics.get("ci_level")), 0.95)
    n_test = next((m.metrics.get("n") for m in models.values() if m.metrics.get("n")), None)
    out.append(f"<p>Test set ({num(n_test)} rows). Cells: value [{100 * float(level):g}% "
               f"percentile-bootstrap interval over test rows]. Primary metric: "
               f"<b>{esc(prim)}</b>. Best value per row in bold; ↑ higher / ↓ lower is better.</p>")
    columns = ["metric"] + [esc(n) for n in names]
    mets = metric_names(t)
    out.append(table(columns, metric_rows(mets, {n: models[n].metrics for n in names}),
                      "results"))
    val = {n: models[n].metrics.get("val") or {} for n in names}
    if any(val.values()):
        out.append("<h3>Validation metrics</h3>")
        vm = [m for m in mets if any(m in v for v in val.values())]
        out.append(table(columns, metric_rows(vm, val), "results"))
    out.append("<h3>Models</h3>")
    out.append(table(("model", "parameters (total)", "trained parameters", "fit time (s)"), [
        (esc(n), num(models[n].n_parameters), trained_share(models[n]), num(models[n].fit_seconds))
        for n in names]))
    if t.n_tasks > 1:
        out.append(f"<h3>Per target ({esc(prim)})</h3>")
        per = {n: models[n].metrics.get("per_task") or {} for n in names}
        rows = []
        for tgt in t.target_cols:
            cells = {n: (per[n].get(tgt) or {}).get(prim) for n in names}
            vals = {n: float(c["value"]) if isinstance(c, Mapping) and c.get("value") is not None
                    else math.nan for n, c in cells.items()}
            best = best_of(vals, prim)
            rows.append([esc(tgt)] + [f"<b>{value_ci(cells[n])}</b>" if n in best
                                     else value_ci(cells[n]) for n in names])
        out.append(table(["target"] + [esc(n) for n in names], rows, "results"))
        for n in names:
            if per[n]:
                out.append(f"<details><summary>All metrics per target: {esc(n)}</summary>"
                           + table(["metric"] + [esc(x) for x in per[n]],
                                    [[esc(m)] + [value_ci(per[n][x].get(m)) for x in per[n]]
                                     for m in mets], "results") + "</details>")
    if d.comparisons:
        out.append("<h3>Paired comparisons (same test rows)</h3>")
        out.append(table(("model A", "model B", "metric", "A − B [CI]", "P(A better)"), [
            (esc(c.get("model_a", "A")), esc(c.get("model_b", "B")), esc(c.get("metric", "")),
             value_ci({"value": c.get("delta"), "ci95": c.get("ci95")}),
             num(c.get("p_a_better"))) for c in d.comparisons]))
    return "".join(out) + "</section>"


def leaderboard_section(d: ReportData) -> str:
    """Every trial of every family (best per family in bold, the winner marked ★)."""
    if not d.leaderboard:
        return ""
    prim, _ = primary_metric(d.task)
    out = ["<section><h2>Leaderboard</h2>",
           f"<p>Cross-validation on train+val ({esc(prim)}, mean ± std over folds) for every "
           "trial; the best trial of each family (bold) was refitted on train and evaluated on "
           "test; ★ = selected (chosen out of fold, never on test). Also in leaderboard.csv.</p>"]
    rows = []
    for r in d.leaderboard:
        test = value_ci({"value": r.get(f"test_{prim}"),
                          "ci95": [r.get(f"test_{prim}_ci_low"), r.get(f"test_{prim}_ci_high")]})
        trial = r.get("trial")
        trial = "" if trial is None or trial != trial else str(int(trial))
        cells = [("★ " if r.get("selected") else "") + esc(r.get("family")), esc(trial),
                 esc(str(r.get("state", "")).lower()),
                 f"{num(r.get('cv_mean'))} ± {num(r.get('cv_std'))}",
                 num(r.get("fit_seconds")), test if r.get("best_of_family") else "",
                 f"<code>{esc(str(r.get('params', ''))[:160])}</code>"]
        rows.append([f"<b>{c}</b>" if r.get("best_of_family") and c else c for c in cells])
    out.append(table(("model", "trial", "state", f"CV {esc(prim)}", "fit (s)",
                       f"test {esc(prim)} [CI]", "parameters"), rows, "results"))
    roles = [c for c in d.comparisons if c.get("role")]
    if roles:
        out.append("<h3>Winner against the alternatives (paired bootstrap, same test rows)</h3>")
        out.append(table(("comparison", "A − B [CI]", "P(A better)"), [
            (esc(f"{c.get('model_a')} vs {c.get('model_b')} ({c.get('role')})"),
             value_ci({"value": c.get("delta"), "ci95": c.get("ci95")}),
             num(c.get("p_a_better"))) for c in roles]))
    return "".join(out) + "</section>"


def plots_section(d: ReportData) -> str:
    """4. Plots: learning curves, ROC / PR and confusion matrices or parity and residuals."""
    t, models = d.task, d.models
    out = ["<section><h2>4. Plots</h2>"]
    hist = {n: m.history for n, m in models.items() if m.history}
    out.append("<h3>Learning curves</h3>" + fig(plots.learning_curves(hist)))
    with_pred = {n: m for n, m in models.items() if m.y_true is not None and m.y_pred is not None}
    if not with_pred:
        return "".join(out) + "<p>No test predictions available.</p></section>"
    y_true = next(iter(with_pred.values())).y_true
    preds = {n: m.y_pred for n, m in with_pred.items()}
    if t.is_classification:
        out.append("<h3>ROC &amp; precision-recall</h3>" + fig(plots.roc_pr_curves(t, y_true,
                                                                                     preds)))
        out.append("<h3>Confusion matrices</h3><div class='row'>" + "".join(
            fig(plots.confusion_matrix_plot(t, m.y_true, m.y_pred, title=n))
            for n, m in with_pred.items()) + "</div>")
    else:
        for j, tgt in enumerate(t.target_cols[:10]):
            out.append(f"<h3>Parity &amp; residuals: {esc(tgt)}</h3>")
            out.append(fig(plots.parity_plot(t, y_true, preds, target=j)))
            out.append(fig(plots.residual_plot(t, y_true, preds, target=j)))
    return "".join(out) + "</section>"


def environment() -> dict[str, str]:
    """Python, platform and the installed versions of the main dependencies."""
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in _ENV_PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return env


def config_section(d: ReportData) -> str:
    """5. Configuration & environment: the resolved config, package versions and notes."""
    out = ["<section><h2>5. Configuration &amp; environment</h2>"]
    if d.config_yaml:
        out.append(f"<h3>Resolved configuration</h3><pre>{esc(d.config_yaml)}</pre>")
    env = d.environment if d.environment is not None else environment()
    out.append("<h3>Environment</h3>" + kv(env.items()))
    notes = list(d.extra_notes)
    if d.rejected_rows_file:
        notes.insert(0, f"Rejected rows and their reasons are listed in {d.rejected_rows_file}.")
    if notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    return "".join(out) + "</section>"


SECTIONS = (header, data_section, split_section, results_section, leaderboard_section,
            plots_section, config_section)
"""The report's sections, in the order they appear."""
