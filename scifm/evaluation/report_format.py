"""HTML building blocks of the report: escaping, number formatting, tables, figures, warnings.

Every function returns HTML; :func:`esc` escapes text that comes from the user; ``table`` takes
already-escaped cell HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from scifm.evaluation.metrics import higher_is_better
from scifm.evaluation.report_data import ModelResult

__all__ = ["best_of", "esc", "fig", "kv", "metric_rows", "num", "scalars", "table",
           "trained_share", "value_ci", "warnings_box"]


def esc(x: Any) -> str:
    """``x`` as text, HTML-escaped (quotes too)."""
    return html.escape(str(x), quote=True)


def trained_share(m: ModelResult) -> str:
    """``74,883 (0.33%)`` when only part of the model was trained, else ``all``."""
    k, n = m.n_trainable_parameters, m.n_parameters
    if k is None or not n or k >= n:
        return "all" if n else "—"
    return f"{k:,} ({100 * k / n:.2f}%)"


def num(x: Any) -> str:
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
        return esc(x)
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.3g}"
    return f"{v:.3f}"


def value_ci(entry: Any) -> str:
    """``0.912 [0.881, 0.940]`` from ``{"value": ..., "ci95": [lo, hi]}``."""
    if not isinstance(entry, Mapping):
        return num(entry)
    ci = entry.get("ci95") or [None, None]
    text = num(entry.get("value"))
    if len(ci) == 2 and all(c is not None and math.isfinite(float(c)) for c in ci):
        text += f' <span class="ci">[{num(ci[0])}, {num(ci[1])}]</span>'
    return text


def table(header: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table from already-escaped cell HTML."""
    header = list(header)
    head = ("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>"
            if any(header) else "")
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def kv(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column key / value table (pairs whose value is None are left out)."""
    rows = [(esc(k), num(v) if not isinstance(v, str) else esc(v)) for k, v in pairs
            if v is not None]
    return table(("", ""), rows, "kv") if rows else ""


def scalars(d: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """The ``(key, value)`` pairs of ``d`` whose value is a plain scalar."""
    skip = set(skip)
    return [(k, v) for k, v in d.items()
            if k not in skip and isinstance(v, (str, int, float, bool, np.number))]


def fig(svg: str) -> str:
    """An inline SVG figure (empty when there is none)."""
    return f'<div class="fig">{svg}</div>' if svg else ""


def warnings_box(items: Iterable[Any]) -> str:
    """A highlighted list of warnings (empty when there are none)."""
    items = [i for i in items if i]
    if not items:
        return ""
    return '<div class="warn"><b>Warnings</b><ul>' + "".join(
        f"<li>{esc(i)}</li>" for i in items) + "</ul></div>"


def best_of(values: dict[str, float], metric: str) -> set[str]:
    """Names with the best finite value of ``metric`` (none unless two or more compare)."""
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if len(finite) < 2:
        return set()
    best = (max if higher_is_better(metric) else min)(finite.values())
    return {k for k, v in finite.items() if v == best}


def metric_rows(metrics: Iterable[str], cells: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows ``metric | model...`` with the best value per row in bold."""
    rows = []
    for met in metrics:
        vals = {}
        for name, ms in cells.items():
            e = ms.get(met)
            v = e.get("value") if isinstance(e, Mapping) else e
            vals[name] = float(v) if v is not None else math.nan
        best = best_of(vals, met)
        arrow = "↑" if higher_is_better(met) else "↓"
        row = [f"{esc(met)} {arrow}"]
        for name, ms in cells.items():
            c = value_ci(ms.get(met))
            row.append(f"<b>{c}</b>" if name in best else c)
        rows.append(row)
    return rows
