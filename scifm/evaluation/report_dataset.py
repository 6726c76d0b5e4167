"""The report's data section: where every row went (read, used, rejected and why), missing
labels, class balance or the target distribution per split (with units when known), target
statistics labelled with the rows they cover, data warnings and conflicting duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scifm.evaluation import plots
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, fig, kv, num, scalars, table, warnings_box

__all__ = ["class_counts", "data_section", "target_label"]

_SPLITS = ("train", "val", "test")
_STATS = ("n", "mean", "std", "min", "q25", "median", "q75", "max")
_SHOWN = {"n_rows_in", "n_valid", "n_invalid", "n_duplicate_groups", "n_conflicting_groups",
          "duplicate_policy", "n_rows_out", "n_rejected", "n_rows_all_labels_missing",
          "n_duplicate_rows", "source", "modality", "input_col", "max_conflict_spread"}


def target_label(d: ReportData, name: str) -> str:
    """``name (unit)`` when the unit is known, else ``name`` (plain text)."""
    return f"{name} ({d.units[name]})" if d.units.get(name) else str(name)


def class_counts(stats: Mapping[str, Any]) -> dict[str, float]:
    """``{class: count}`` of one target of ``data_report.json`` (``class_counts``; older files:
    ``counts`` or the counts themselves)."""
    for key in ("class_counts", "counts"):
        if isinstance(stats.get(key), Mapping):
            return dict(stats[key])
    return {k: v for k, v in stats.items() if k != "n" and plots.is_number(v)}


def _duplicates(r: Mapping[str, Any]) -> int | None:
    """Rejected rows that were neither invalid nor unlabelled: duplicates merged into another row
    or in a group dropped for conflicting labels."""
    parts = [r.get(k) for k in ("n_rejected", "n_invalid", "n_rows_all_labels_missing")]
    if not all(isinstance(p, (int, np.integer)) for p in parts):
        return r.get("n_duplicate_rows")
    return int(parts[0] - parts[1] - parts[2])


def _rows_table(r: Mapping[str, Any], d: ReportData) -> str:
    """Rows read / used / rejected, and what the rejected rows were."""
    rejected = r.get("n_rejected", r.get("n_invalid"))
    where = f" (listed in {d.rejected_rows_file})" if d.rejected_rows_file and rejected else ""
    pairs = [("file", d.dataset_path or r.get("source")), ("rows read", r.get("n_rows_in")),
             ("rows used", r.get("n_rows_out")),
             (f"rows rejected{where}", rejected),
             ("… invalid input", r.get("n_invalid") if "n_rejected" in r else None),
             ("… all labels missing", r.get("n_rows_all_labels_missing")),
             ("… duplicates (merged, or dropped for conflicting labels)", _duplicates(r)),
             ("duplicate groups", r.get("n_duplicate_groups")),
             ("conflicting duplicate groups", r.get("n_conflicting_groups")),
             ("duplicate policy", r.get("duplicate_policy"))]
    return kv(pairs)


def _split_y(d: ReportData, j: int) -> dict[str, np.ndarray]:
    out = {}
    for s in _SPLITS:
        y = d.split_y.get(s)
        if y is not None and len(y):
            out[s] = np.asarray(y, float).reshape(len(y), -1)[:, j]
    return out


def _class_balance(d: ReportData, name: str, j: int, stats: Mapping[str, Any]) -> str:
    counts = class_counts(stats)
    out = [f"<h3>Class balance: {esc(name)}</h3>",
           fig(plots.bar_counts(counts, f"{name}: all rows used", sort=False))]
    per = _split_y(d, j)
    if per:
        names = list(counts) or [str(c) for c in (d.task.classes or ["0", "1"])]
        rows = []
        for k, cls in enumerate(names):
            cells = [esc(cls)]
            for v in per.values():
                n = int(np.sum(v == k))
                total = int(np.isfinite(v).sum()) or 1
                cells.append(f"{n:,} ({100 * n / total:.1f}%)")
            rows.append(cells)
        out.append(table(["class", *(esc(s) for s in per)], rows))
    return "".join(out)


def _stats_row(v: np.ndarray) -> list[str]:
    v = v[np.isfinite(v)]
    if not v.size:
        return [num(0)] + ["n/a"] * (len(_STATS) - 1)
    q = np.quantile(v, [0.25, 0.5, 0.75])
    return [num(int(v.size)), num(v.mean()), num(v.std(ddof=1) if v.size > 1 else 0.0),
            num(v.min()), num(q[0]), num(q[1]), num(q[2]), num(v.max())]


def _distribution(d: ReportData, name: str, j: int, stats: Mapping[str, Any]) -> str:
    label = target_label(d, name)
    out = [f"<h3>Target distribution: {esc(label)}</h3>"]
    per = _split_y(d, j)
    if per:
        out.append(fig(plots.split_histograms(per, label)) + "<p class='ci'>Counts per split "
                   "on a shared x axis; dotted line: the split's median.</p>")
    else:
        first = next((m for m in d.models.values() if m.y_true is not None), None)
        if first is not None:
            yt = np.asarray(first.y_true, float).reshape(len(first.y_true), -1)
            out.append(fig(plots.histogram(yt[:, j], f"test set: {label}", label)))
    rows = []
    if stats:
        rows.append(["all rows used (after cleaning)"] + [num(stats.get(k)) for k in _STATS])
    rows += [[esc(s)] + _stats_row(v) for s, v in per.items()]
    if rows:
        unit = f" ({esc(d.units[name])})" if d.units.get(name) else ""
        out.append(f"<p class='ci'>Statistics of {esc(name)}{unit}, per set of rows.</p>")
        out.append(table(["rows", *_STATS], rows, "results"))
    return "".join(out)


def _targets(d: ReportData) -> str:
    targets = d.data_report.get("targets") or {}
    out = []
    for j, name in enumerate(d.task.target_cols):
        stats = targets.get(name)
        stats = stats if isinstance(stats, Mapping) else {}
        if d.task.is_classification:
            if class_counts(stats) or d.split_y:
                out.append(_class_balance(d, name, j, stats))
        else:
            out.append(_distribution(d, name, j, stats))
    return "".join(out)


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


def _rejections(r: Mapping[str, Any]) -> str:
    out = []
    reasons = r.get("invalid_reasons") or {}
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: -float(kv[1]))[:15]
        out.append("<h3>Top rejection reasons</h3>"
                   + table(("reason", "rows"), [(esc(k), num(v)) for k, v in top]))
    examples = r.get("invalid_examples") or []
    if examples:
        out.append("<details><summary>Examples of rejected rows</summary>" + table(
            ("row", "input", "reason"), [(num(e.get("row_id")), f"<code>{esc(e.get('input'))}"
                                          "</code>", esc(e.get("reason"))) for e in examples])
            + "</details>")
    missing = r.get("n_missing_labels") or {}
    if isinstance(missing, Mapping) and any(missing.values()):
        out.append("<h3>Missing labels</h3>" + table(
            ("target", "rows without label"), [(esc(k), num(v)) for k, v in missing.items()]))
    return "".join(out)


def data_section(d: ReportData) -> str:
    """Data & cleaning."""
    r = d.data_report
    out = ['<section id="data"><h2>Data &amp; cleaning</h2>', _rows_table(r, d), _rejections(r),
           _targets(d)]
    other = scalars(r, _SHOWN)
    if other:
        out.append("<details><summary>Other cleaning details</summary>" + kv(other)
                   + "</details>")
    out.append(warnings_box(r.get("warnings") or []))
    out.append(_conflicting_duplicates(r.get("conflicting_duplicates")))
    return "".join(out) + "</section>"
