"""Sections of the HTML report: header, split & leakage audit, the evaluation audit of
``scifm evaluate``, results, leaderboard (``scifm auto``) and learning curves.

Each section is a function ``ReportData -> HTML`` returning ``<section id=...><h2>...`` (or ''
when it has nothing to show); :func:`scifm.evaluation.report.render_report` puts them in order
with the summary card (:mod:`~scifm.evaluation.report_summary`), the data section
(:mod:`~scifm.evaluation.report_dataset`), test predictions
(:mod:`~scifm.evaluation.report_predictions`), examples (:mod:`~scifm.evaluation.report_examples`)
and the configuration (:mod:`~scifm.evaluation.report_config`).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping

import numpy as np

from scifm.evaluation import plots
from scifm.evaluation.curves import curves_html
from scifm.evaluation.metrics import metric_names, primary_metric
from scifm.evaluation.report_audit import evaluation_audit_section
from scifm.evaluation.report_config import config_section
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_dataset import data_section
from scifm.evaluation.report_examples import examples_section
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
from scifm.evaluation.report_predictions import predictions_section
from scifm.evaluation.report_summary import summary_card
from scifm.evaluation.report_trust import privacy_section, uncertainty_section

__all__ = ["SECTIONS", "header", "leaderboard_section", "oof_comparison_table", "results_section",
           "split_section", "training_section"]

def header(d: ReportData) -> str:
    """Title, creation time and the command that made the run."""
    created = d.created or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = esc(created) + (f" · <code>{esc(d.command)}</code>" if d.command else "")
    return f"<header><h1>{esc(d.title)}</h1><p class='meta'>{meta}</p></header>"


def split_section(d: ReportData) -> str:
    """Split & leakage audit: split sizes, duplicates across splits, nearest-neighbour
    similarity of test to train."""
    s, lk = d.split, d.leakage
    out = ['<section id="split"><h2>Split &amp; leakage audit</h2>']
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
    """Results: test (and validation) metrics with intervals per model, model sizes,
    per-target metrics and paired comparisons."""
    t, models = d.task, d.models
    out = ['<section id="results"><h2>Results</h2>']
    if not models:
        return out[0] + "<p>No model results.</p></section>"
    names = list(models)
    prim, _ = primary_metric(t)
    level = next((m.metrics.get("ci_level") for m in models.values()
                  if m.metrics.get("ci_level")), 0.95)
    n_test = next((m.metrics.get("n") for m in models.values() if m.metrics.get("n")), None)
    method = next((e.get("ci_method") for m in models.values()
                   if isinstance(e := m.metrics.get(prim), Mapping) and e.get("ci_method")), None)
    how = {"bca": "BCa bootstrap", "centered_percentile": "centred-percentile bootstrap"}.get(
        method or "", "bootstrap")
    out.append(f"<p>Test set ({num(n_test)} rows). Cells: value [{100 * float(level):g}% "
               f"{how} interval over test rows]. Primary metric: "
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
    """Every trial of every family (best per family in bold, the winner marked ★), then the
    out-of-fold comparison of the best single family, the weighted average and the stacker."""
    if not d.leaderboard and not d.oof_comparison:
        return ""
    prim, _ = primary_metric(d.task)
    out = ['<section id="leaderboard"><h2>Leaderboard</h2>',
           f"<p>Cross-validation on train+val ({esc(prim)}, mean ± std over folds) for every "
           "trial; the best trial of each family (bold) was refitted on train and evaluated on "
           "test; ★ = selected (chosen out of fold, never on test). Also in leaderboard.csv.</p>"]
    held = sorted({str(r.get("family")) for r in d.leaderboard
                   if str(r.get("cv_folds", "")).startswith("holdout")})
    if held:
        out.append(f"<p>{esc(', '.join(held))}: fitted once on the outer split's train rows and "
                   "scored on its validation rows (no folds, std 0), early-stopped on them as "
                   "the refit is. All models were then compared, and combined, on those rows."
                   "</p>")
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
    if rows:
        out.append(table(("model", "trial", "state", f"CV {esc(prim)}", "fit (s)",
                           f"test {esc(prim)} [CI]", "parameters"), rows, "results"))
    out.append(oof_comparison_table(d))
    roles = [c for c in d.comparisons if c.get("role")]
    if roles:
        out.append("<h3>Winner against the alternatives (paired bootstrap, same test rows)</h3>")
        out.append(table(("comparison", "A − B [CI]", "P(A better)"), [
            (esc(f"{c.get('model_a')} vs {c.get('model_b')} ({c.get('role')})"),
             value_ci({"value": c.get("delta"), "ci95": c.get("ci95")}),
             num(c.get("p_a_better"))) for c in roles]))
    return "".join(out) + "</section>"


def oof_comparison_table(d: ReportData) -> str:
    """Best single family vs weighted average vs stacking, cross-fitted out of fold on the same
    folds (★ = selected); '' when ``d.oof_comparison`` is empty."""
    if not d.oof_comparison:
        return ""
    prim, _ = primary_metric(d.task)
    rows = []
    for r in d.oof_comparison:
        cells = [("★ " if r.get("selected") else "") + esc(r.get("model")), esc(r.get("kind")),
                 f"{num(r.get('cv_mean'))} ± {num(r.get('cv_std'))}"]
        rows.append([f"<b>{c}</b>" for c in cells] if r.get("selected") else cells)
    return ("<h3>Ensembles out of fold (same folds)</h3>"
            f"<p>Cross-fitted out-of-fold {esc(prim)} (mean ± std over folds) of the best single "
            "family, the weighted average and the stacking meta-model: the ensembles' weights "
            "and meta-models were fitted on the other folds' rows only. The best single "
            "family's own score is the best of many trials and families on these rows, so it "
            "is optimistic; its choice cross-fitted picks the family on the other folds and "
            "scores it on the held-out one. The weighted average is selected unless that "
            "choice beats it by more than one standard error of the paired fold differences; "
            "the stacker likewise, and only when it also beats the weighted average.</p>"
            + table(("model", "kind", f"OOF {esc(prim)}"), rows, "results"))


def training_section(d: ReportData) -> str:
    """Learning curves: what the x axis counts, the loss scale, the best point marked."""
    if not d.models:
        return ""
    hist = {n: m.history for n, m in d.models.items()}
    if not any(hist.values()):
        return ('<section id="training"><h2>Learning curves</h2><p class="ci">No learning curve '
                f"recorded for {esc(', '.join(hist))}.</p></section>")
    unit = d.units.get(d.task.target_cols[0], "") if d.task.n_tasks == 1 else ""
    return ('<section id="training"><h2>Learning curves</h2>'
            f"{curves_html(hist, d.task, unit)}</section>")


SECTIONS: tuple[Callable[[ReportData], str], ...] = (
    summary_card, data_section, split_section, evaluation_audit_section, results_section,
    leaderboard_section, predictions_section, uncertainty_section, privacy_section,
    examples_section, training_section, config_section)
"""The report's sections below the header, in the order they appear."""
