"""The HTML report of a token-classification run or evaluation: metrics with CIs, learning
curves, configuration. Self-contained (inline SVG plots, no external assets)."""

from __future__ import annotations

import html
from typing import Any

from scifm.evaluation import plots
from scifm.evaluation.token_metrics import NER_METRICS, RESIDUE_METRICS


def _metric_rows(metrics: dict[str, Any]) -> str:
    names = NER_METRICS if metrics["kind"] == "ner" else RESIDUE_METRICS
    test, val = metrics.get("test", {}), metrics.get("val", {})
    rows = []
    for name in names:
        m = test.get(name) or {}
        lo, hi = (m.get("ci95") or [float("nan")] * 2)[:2]
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{m.get('value', float('nan')):.3f} "
                    f"[{lo:.3f}, {hi:.3f}]</td><td>{val.get(name, float('nan')):.3f}</td></tr>")
    return "".join(rows)


def render_token_report(metrics: dict[str, Any], history: list[dict[str, Any]], *, source: str,
                        modality: str, config_yaml: str, command: str = "",
                        family: str = "token") -> str:
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
    """
    e = html.escape
    kind = metrics["kind"]
    test = metrics.get("test", {})
    unit = "sentences" if kind == "ner" else "sequences"
    training = ""
    if "n_steps" in metrics:
        training = (f"<p>{metrics.get('n_parameters', 0):,} parameters, {metrics['n_steps']} "
                    f"steps on {metrics.get('world_size', 1)} process(es), fit "
                    f"{metrics.get('fit_seconds', 0)} s.</p>")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>scifm: {e(source)}</title><style>body{{font-family:"
        "system-ui,sans-serif;max-width:1000px;margin:auto;padding:1em}table{border-collapse:"
        "collapse}td,th{border:1px solid #ddd;padding:.2em .6em}pre{background:#f6f8fa;"
        "padding:.8em}</style></head><body>",
        f"<h1>scifm: {e(source)} (token classification, {e(kind)}, {e(modality)})</h1>",
        f"<p>{e(command)}</p>" if command else "",
        f"<h2>Test metrics</h2><p>{test.get('n', 0)} {unit}, {test.get('n_scored', 0)} scored "
        f"{'entities' if kind == 'ner' else 'residues'}; value [95% bootstrap "
        f"interval over {unit}].</p>",
        "<table><tr><th>metric</th><th>test</th><th>val</th></tr>", _metric_rows(metrics),
        "</table>", training,
        "<h2>Learning curves</h2>" + plots.learning_curves({family: history}) if history else "",
        f"<h2>Configuration</h2><pre>{e(config_yaml)}</pre>",
        "</body></html>\n",
    ])
