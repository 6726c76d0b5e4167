"""The report section of ``scifm evaluate``'s audit: the new set against the run's training data.

Filled from :attr:`scifm.evaluation.report_data.ReportData.evaluation_audit` (the dict of
:func:`scifm.evaluation.evaluation_audit.audit_rows`); empty (no section) for training runs.
:func:`audit_html` renders the same section for the token-classification report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scifm.evaluation import plots
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, fig, kv, num, table, value_ci, warnings_box

__all__ = ["audit_html", "evaluation_audit_section"]

_OPEN = "<section id='evaluation-audit'><h2>Evaluated rows vs. the run's training data</h2>"
_WHY = ("<p>Rows of the evaluated file that the model was trained on (train) or chosen with "
        "(validation) score what it has seen, so the metrics on all rows overstate performance "
        "on new data. Rows are compared after canonicalisation with the run's settings, with the "
        "keys of the split's leakage audit.</p>")


def evaluation_audit_section(d: ReportData) -> str:
    """Overlap of the evaluated set with the training data, and metrics on the new rows."""
    if not d.evaluation_audit:
        return ""
    overall = next(iter(d.models.values())).metrics if d.models else {}
    return audit_html(d.evaluation_audit, overall)


def audit_html(audit: Mapping[str, Any], overall: Mapping[str, Any] | None = None,
               names: Sequence[str] | None = None) -> str:
    """The audit section.

    Parameters
    ----------
    audit
        ``metrics.json`` ``audit`` of an evaluation.
    overall
        The metrics on all evaluated rows (``{metric: {value, ci95}}``), shown beside
        ``test_new_only``.
    names
        Metrics to show, in order (default: every metric of ``overall``).
    """
    if not audit:
        return ""
    if not audit.get("available", True):
        return (_OPEN + warnings_box(audit.get("warnings") or []) +
                f"<p>Not audited: {esc(audit.get('reason', ''))}.</p></section>")
    unit = str(audit.get("unit", "rows"))
    notes = "".join(f"<li>{esc(n)}</li>" for n in audit.get("notes") or [])
    parts = [_OPEN, _WHY, warnings_box(audit.get("warnings") or []), _counts(audit, unit),
             f"<ul>{notes}</ul>" if notes else "", _similarity(audit.get("nn_similarity")),
             _metrics(audit, overall or {}, names, unit), "</section>"]
    return "".join(parts)


def _counts(audit: Mapping[str, Any], unit: str) -> str:
    n = audit.get("n")

    def share(key: str) -> str:
        return f"{num(audit.get(key))} ({audit.get(key, 0) / n:.0%})" if n else num(audit.get(key))

    return "<h3>Overlap (exact duplicates after canonicalisation)</h3>" + kv([
        (f"evaluated {unit}", n),
        (f"identical to a training {unit[:-1]}", share("n_train")),
        (f"identical to a validation {unit[:-1]}", share("n_val")),
        (f"identical to a test {unit[:-1]} of the run (not trained on)", share("n_test")),
        (f"new {unit} (not in train or validation)", share("n_new")),
    ])


def _similarity(sim: Mapping[str, Any] | None) -> str:
    if not sim:
        return ""
    h = sim.get("histogram") or {}
    edges, counts = np.asarray(h.get("edges", []), float), np.asarray(h.get("counts", []), float)
    svg = ""
    if len(edges) == len(counts) + 1 and len(counts):
        svg = plots.histogram((edges[:-1] + edges[1:]) / 2, title="new rows: nearest train + "
                              "validation neighbour", xlabel=str(sim.get("name", "similarity")),
                              bins=edges, weights=counts)
    sampled = " (a random sample)" if sim.get("sampled") else ""
    pairs = [("measure", str(sim.get("metric", ""))), (f"new rows compared{sampled}", sim.get("n")),
             ("mean", sim.get("mean")), ("5% / 25% quantile",
                                         f"{num(sim.get('q05'))} / {num(sim.get('q25'))}"),
             ("median", sim.get("median")),
             ("75% / 95% quantile", f"{num(sim.get('q75'))} / {num(sim.get('q95'))}"),
             (f"near-duplicates (>= {num(sim.get('threshold'))})",
              f"{num(sim.get('n_near_duplicate'))} ({sim.get('frac_near_duplicate', 0):.0%})")]
    return ("<h3>Nearest-neighbour similarity of the new rows</h3><div class='row'>" + kv(pairs) +
            fig(svg) + "</div>")


def _metrics(audit: Mapping[str, Any], overall: Mapping[str, Any], names: Sequence[str] | None,
             unit: str) -> str:
    new = audit.get("test_new_only")
    if not new:
        return ""
    names = list(names or [k for k, v in overall.items()
                           if isinstance(v, Mapping) and "value" in v])
    rows = [[esc(m), value_ci(overall.get(m)), value_ci(new.get(m))] for m in names]
    head = ["metric", f"all {esc(unit)} (n={num(overall.get('n'))})",
            f"new {esc(unit)} only (n={num(new.get('n'))})"]
    return ("<h3>Metrics on all rows and on the new rows, value [95% CI]</h3>" +
            table(head, rows, "results"))
