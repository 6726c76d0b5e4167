"""Sections that later analyses of a run add to its ``report.html``
(:func:`scifm.evaluation.report.add_to_report`): the fairness audit (``scifm audit``) and the
explanation (``scifm explain``), each a summary with a link to its own full page."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scifm.evaluation.report_format import esc, num, table, value_ci

__all__ = ["audit_section", "explain_section", "relative_link"]


def relative_link(page: Path, report: Path) -> str:
    """``page`` as a link from ``report`` (relative when they share a drive, else absolute)."""
    try:
        return Path(os.path.relpath(page, report.parent)).as_posix()
    except ValueError:  # another drive (Windows)
        return page.resolve().as_uri()


def audit_section(result: Mapping[str, Any], link: str) -> str:
    """"Fairness audit": the differences with their intervals and verdicts."""
    diffs = (result.get("fairness") or {}).get("differences") or {}
    rows = [[esc(name), value_ci(d), esc(d.get("verdict")), esc(d.get("text", ""))]
            for name, d in diffs.items()]
    out = ['<section id="fairness"><h2>Fairness audit</h2>',
           f"<p>Groups: <code>{esc(result.get('group_col'))}</code>, "
           f"{num(result.get('n_rows'))} rows ({esc(result.get('title'))}). The full audit, "
           f'per-group metrics included: <a href="{esc(link)}">{esc(link)}</a>.</p>']
    if rows:
        out.append(table(("difference", "value [CI]", "verdict", "in words"), rows, "results"))
    mitigation = (result.get("summary") or {}).get("mitigation")
    if mitigation:
        out.append(f"<p>Mitigation: {esc(mitigation)}.</p>")
    out.append("</section>")
    return "".join(out)


def explain_section(summary: Mapping[str, Any], link: str) -> str:
    """"Explanations": the deletion test and the contexts that drive the predictions most."""
    faith = summary.get("faithfulness") or {}
    view = summary.get("global") or {}
    out = ['<section id="explanations"><h2>Explanations</h2>',
           f"<p>{esc(summary.get('method_description') or summary.get('method'))} on "
           f"{num(summary.get('n_explained'))} inputs of {esc(Path(str(summary.get('data'))).name)}"
           f" (unit: {esc(summary.get('unit'))}; explained: {esc(summary.get('explained'))}). "
           f'All of it, drawn: <a href="{esc(link)}">{esc(link)}</a>.</p>']
    if faith:
        share = f"{100 * float(faith.get('fraction', 0.2)):.0f}%"
        out.append(f"<p>Faithfulness: masking the top {share} of the attributed units moves the "
                   f"prediction {value_ci(faith.get('ratio'))} times as much as masking {share} "
                   "chosen at random.</p>")
        out.append(table(("masked", "mean |change of the prediction|"),
                         [[f"top {share}", value_ci(faith.get("top"))],
                          [f"random {share}", value_ci(faith.get("random"))]], "kv"))
    for key, words in (("positive", "raise"), ("negative", "lower")):
        rows = [[f"<code>{esc(r['context'])}</code>", num(r["mean"]), num(r["count"])]
                for r in (view.get(key) or [])[:8]]
        if rows:
            out.append(f"<h3>Contexts that {words} the prediction most</h3>")
            out.append(table(("context", "mean attribution", "count"), rows))
    out.append("</section>")
    return "".join(out)
