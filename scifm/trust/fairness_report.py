"""``audit.html``: one small self-contained page (no script, no external file) for an audit.

It shows the verdicts first, then the per-group table, the differences with their intervals,
the mitigation's before / after table when there is one, and the warnings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["audit_page", "before_after_table", "difference_rows", "group_rows", "markdown_table"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right}td:first-child,th:first-child{text-align:left}.ok{color:#176f2c}
.gap{color:#b3261e}.uncertain,.undefined{color:#8a5a00}"""


def _cell(value: Any) -> str:
    if value is None:  # NaN read back from JSON
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table of ``rows`` (floats to 3 decimals, NaN as ``n/a``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def group_rows(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the per-group table of a fairness result (overall last)."""
    keys = [k for k in result["groups"][0] if k != "group"]
    rows = [[g["group"], *(g[k] for k in keys)] for g in result["groups"]]
    rows.append(["(overall)", *(result["overall"].get(k, math.nan) for k in keys)])
    return ["group", *keys], rows


def difference_rows(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the differences table (value, interval, verdict)."""
    rows = [[name, d["value"], f"{_cell(d['ci95'][0])} to {_cell(d['ci95'][1])}", d["verdict"]]
            for name, d in result["differences"].items()]
    return ["difference", "value", "95% CI", "verdict"], rows


def audit_page(audit: dict[str, Any]) -> str:
    """The HTML page of an audit (``audit.json``'s content)."""
    result = audit["fairness"]
    verdicts = "".join(f"<li class='{d['verdict']}'><b>{html.escape(name)}</b>: "
                       f"{html.escape(d['text'])}</li>"
                       for name, d in result["differences"].items())
    parts = [f"<h1>Fairness audit: {html.escape(audit['title'])}</h1>",
             f"<p>Groups: <code>{html.escape(audit['group_col'])}</code>; target "
             f"<code>{html.escape(audit['target'])}</code> ({audit['task']}); "
             f"{audit['n_rows']} rows.</p>", f"<h2>Verdicts</h2><ul>{verdicts}</ul>",
             "<h2>Per group</h2>", _table(*group_rows(result)),
             "<h2>Differences between groups</h2>", _table(*difference_rows(result))]
    labels = audit.get("group_labels") or {}
    if labels:
        parts.append(_table(["group", "means"], sorted(labels.items())))
    mitigation = audit.get("mitigation")
    if mitigation:
        parts += [f"<h2>Mitigation: {html.escape(mitigation['constraint'])}</h2>",
                  f"<p>{html.escape(mitigation['note'])}</p>",
                  _table(mitigation["table"]["header"], mitigation["table"]["rows"])]
    notes = [*result.get("warnings", []), *audit.get("notes", [])]
    if notes:
        parts.append("<h2>Warnings and notes</h2><ul>"
                     + "".join(f"<li>{html.escape(w)}</li>" for w in notes) + "</ul>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>scifm audit</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def before_after_table(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{"header", "rows"}``: overall accuracy, each group's TPR / FPR / selection rate and the
    three differences, before and after a mitigation (binary fairness results)."""
    rows: list[list[Any]] = [["accuracy (overall)", before["overall"]["accuracy"],
                              after["overall"]["accuracy"]]]
    after_groups = {g["group"]: g for g in after["groups"]}
    for g in before["groups"]:
        for key in ("tpr", "fpr", "selection_rate"):
            rows.append([f"{key} ({g['group']})", g[key], after_groups[g["group"]][key]])
    for name, d in before["differences"].items():
        rows.append([name, d["value"], after["differences"][name]["value"]])
    return {"header": ["metric", "before", "after"], "rows": rows}
