"""The HTML report of a token-classification run or evaluation: a summary card, test metrics with
intervals, learning curves and the (collapsed) configuration, with a table of contents.

The same page as the study report (:mod:`scifm.evaluation.report_page`): self-contained, inline
CSS and SVG, no scripts (no interactive figure here), every user string escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from scifm.evaluation.curves import curves_html
from scifm.evaluation.report_config import applicable_config
from scifm.evaluation.report_format import num, value_ci, warnings_box
from scifm.evaluation.report_page import page
from scifm.evaluation.token_metrics import NER_METRICS, RESIDUE_METRICS, primary_token_metric

__all__ = ["render_token_report"]

_e = html.escape


def _metric_rows(metrics: dict[str, Any]) -> str:
    names = NER_METRICS if metrics["kind"] == "ner" else RESIDUE_METRICS
    test, val = metrics.get("test", {}), metrics.get("val", {})
    return "".join(f"<tr><td>{_e(n)}</td><td>{value_ci(test.get(n))}</td>"
                   f"<td>{num(val.get(n))}</td></tr>" for n in names)


def _summary(metrics: dict[str, Any], source: str, modality: str, family: str) -> str:
    kind, test = metrics["kind"], metrics.get("test", {})
    prim = primary_token_metric(kind)
    entry = test.get(prim) or {}
    ci = entry.get("ci95") or [None, None]
    unit = "sentences" if kind == "ner" else "sequences"
    tiles = [(f"test {prim}", num(entry.get("value")),
              f"<span class='ci'>95% CI [{num(ci[0])}, {num(ci[1])}]</span><br><b>{_e(family)}"
              "</b>", "best"),
             ("Data", f"{num(test.get('n', 0))} {unit}",
              f"{_e(source)}<br>{num(test.get('n_scored', 0))} scored "
              f"{'entities' if kind == 'ner' else 'residues'}", ""),
             ("Task", "token classification", f"{_e(kind)} · input: {_e(modality)}", "")]
    if metrics.get("n_rejected") is not None:
        tiles[1] = (*tiles[1][:2], tiles[1][2] + f"<br>{num(metrics['n_rejected'])} rejected", "")
    cells = "".join(f'<div class="tile {c}"><div class="label">{_e(label)}</div><div class="big">'
                    f"{big}</div><div class='sub'>{sub}</div></div>"
                    for label, big, sub, c in tiles)
    return (f'<section id="summary" class="card"><h2>Summary</h2><div class="tiles">{cells}</div>'
            f'{warnings_box(metrics.get("warnings") or [])}</section>')


def render_token_report(metrics: dict[str, Any], history: list[dict[str, Any]], *, source: str,
                        modality: str, config_yaml: str, command: str = "",
                        family: str = "token", extra_sections: Sequence[str] = ()) -> str:
    """A compact self-contained HTML report.

    Parameters
    ----------
    metrics
        ``{"kind", "test": {metric: {"value", "ci95"}, "n", "n_scored"}, "val": {metric: value},
        "n_parameters", "n_steps", "world_size", "fit_seconds"}`` (``val`` and the training
        counts are optional).
    history
        Per-epoch training log (empty: no learning curves).
    source, modality
        Data file name and modality, for the title.
    config_yaml
        The run's resolved configuration.
    extra_sections
        HTML sections placed after the results (e.g. ``scifm evaluate``'s audit).
    """
    kind, test = metrics["kind"], metrics.get("test", {})
    unit = "sentences" if kind == "ner" else "sequences"
    training = ""
    if "n_steps" in metrics:
        training = (f"<p>{metrics.get('n_parameters', 0):,} parameters, {metrics['n_steps']} "
                    f"steps on {metrics.get('world_size', 1)} process(es), fit "
                    f"{metrics.get('fit_seconds', 0)} s.</p>")
    results = (f'<section id="results"><h2>Test metrics</h2><p>{test.get("n", 0)} {unit}, '
               f"{test.get('n_scored', 0)} scored {'entities' if kind == 'ner' else 'residues'}; "
               f"value [95% bootstrap interval over {unit}].</p><table class='results'><thead>"
               "<tr><th>metric</th><th>test</th><th>val</th></tr></thead><tbody>"
               f"{_metric_rows(metrics)}</tbody></table>{training}</section>")
    curves = ""
    if history:
        curves = ('<section id="training"><h2>Learning curves</h2>'
                  + curves_html({family: history}, None, loss="cross-entropy (per token)",
                                best_metric=primary_token_metric(kind)) + "</section>")
    text, dropped = applicable_config(config_yaml, [family], command or "scifm finetune",
                                      modality)
    hidden = f" — {len(dropped)} not applicable hidden" if dropped else ""
    config = (f'<section id="config"><h2>Configuration</h2><details><summary>Resolved '
              f"configuration{hidden}</summary><pre>{_e(text)}</pre></details></section>")
    title = f"scifm: {source} (token classification, {kind}, {modality})"
    header = f"<header><h1>{_e(title)}</h1>" + (
        f"<p class='meta'><code>{_e(command)}</code></p>" if command else "") + "</header>"
    return page(title, header, [_summary(metrics, source, modality, family), results,
                                *extra_sections, curves, config], footer="Generated by scifm.")
