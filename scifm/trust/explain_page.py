"""The explanation page (``explain.html``): molecules with atoms coloured by attribution (RDKit
SVG), sequences as coloured tracks, texts with highlighted words, the faithfulness table and the
global view. Self-contained: the page frame of :func:`scifm.evaluation.report_page.page` (inline
CSS, a Content-Security-Policy that loads nothing), no script; every input is HTML-escaped and a
drawing is inline SVG checked for active content.

Colours: red = the unit raises the explained output (masking it lowers the output), blue = it
lowers it; the intensity is ``|attribution|`` relative to the input's largest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from scifm.evaluation.drawings import safe_svg
from scifm.evaluation.report_format import esc, kv, num, table, value_ci, warnings_box
from scifm.evaluation.report_page import page
from scifm.trust.explain import Explanation
from scifm.trust.occlusion import parse_molecule

logger = logging.getLogger(__name__)

__all__ = ["explain_html", "molecule_heatmap"]

_CSS = """<style>.track{font-family:ui-monospace,monospace;word-break:break-all;line-height:1.6}
.track span,.words span{padding:0 1px;border-radius:2px}.words{line-height:1.9}
.ex{border:1px solid #e3e8ef;border-radius:6px;padding:.4em .6em;margin:.5em 0;background:#fff}
.ex .cap{font-size:.85em;color:#444}</style>"""


def _colour(t: float) -> tuple[float, float, float]:
    """Red for ``t > 0``, blue for ``t < 0``, white at 0 (``t`` in [-1, 1])."""
    t = float(np.clip(t, -1.0, 1.0))
    s = 0.75 * abs(t)
    return (1.0, 1.0 - s, 1.0 - s) if t >= 0 else (1.0 - s, 1.0 - s, 1.0)


def _css(t: float) -> str:
    r, g, b = (int(round(255 * c)) for c in _colour(t))
    return f"rgb({r},{g},{b})"


def _scaled(attr: np.ndarray) -> np.ndarray:
    m = float(np.max(np.abs(attr))) if len(attr) else 0.0
    return np.asarray(attr, dtype=float) / m if m > 0 else np.zeros(len(attr))


def molecule_heatmap(smiles: str, attributions: np.ndarray, width: int = 260,
                     height: int = 200) -> str:
    """Inline SVG of ``smiles`` with each atom highlighted by its attribution ('' when RDKit
    cannot draw it or the drawing holds active content)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = parse_molecule(smiles)
    if mol is None or mol.GetNumAtoms() != len(attributions) or not len(attributions):
        return ""
    scaled = _scaled(attributions)
    colours = {i: _colour(t) for i, t in enumerate(scaled)}
    try:
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
        drawer.drawOptions().clearBackground = False
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(colours),
                                           highlightAtomColors=colours, highlightBonds=[])
        drawer.FinishDrawing()
        svg = drawer.GetDrawingText()
    except Exception as err:  # noqa: BLE001 - a drawing must never break the page
        logger.warning("could not draw %.60s: %s", smiles, err)
        return ""
    return safe_svg(svg)


def _spans(labels: Sequence[str], attr: np.ndarray, sep: str) -> str:
    """Units as ``<span>`` elements coloured by attribution (value in the tooltip)."""
    scaled = _scaled(attr)
    return sep.join(f'<span style="background:{_css(t)}" title="{a:+.4f}">{esc(u)}</span>'
                    for u, a, t in zip(labels, attr, scaled, strict=True))


def _example(expl: Explanation, i: int, row_id: Any) -> str:
    """One explained input: drawing / track / highlighted words and a caption."""
    attr, labels, primary = expl.attributions[i], expl.labels[i], str(expl.records[i])
    if expl.unit == "atom":
        body = molecule_heatmap(primary, attr) or f"<code>{esc(primary)}</code>"
    elif expl.unit == "residue":
        body = f'<div class="track">{_spans(labels, attr, "")}</div>'
    else:
        body = f'<div class="words">{_spans(labels, attr, " ")}</div>'
    top = ""
    if len(attr):
        j = int(np.argmax(np.abs(attr)))
        top = f"; strongest {esc(expl.unit)}: {esc(labels[j])} ({attr[j]:+.3f})"
    cap = f"row {esc(row_id)}: {esc(expl.explained)} = {num(float(expl.base[i]))}{top}"
    code = f"<br><code>{esc(primary)}</code>" if expl.unit == "atom" else ""
    return f'<div class="ex">{body}<div class="cap">{cap}{code}</div></div>'


def _faithfulness(faith: dict[str, Any]) -> str:
    pct = f"{100 * faith.get('fraction', 0):.0f}%"
    rows = [[f"top-{pct} attributed units", value_ci(faith.get("top"))],
            [f"{pct} random units (mean of {faith.get('n_random')} draws)",
             value_ci(faith.get("random"))],
            ["ratio top / random", value_ci(faith.get("ratio"))]]
    note = ("<p>Mean |change of the explained output| when the units are masked, over "
            f"{num(faith.get('n_inputs', 0))} inputs, with 95% bootstrap (BCa) intervals. A ratio "
            "well above 1 means the attributions point at what the model uses.</p>")
    return ('<section id="faithfulness"><h2>Faithfulness (deletion test)</h2>'
            f'{note}{table(("deleted", "mean |Δ prediction|"), rows, "results")}</section>')


def _global(view: dict[str, Any]) -> str:
    def rows(entries: list[dict[str, Any]]) -> list[list[str]]:
        return [[f"<code>{esc(e['context'])}</code>", num(e["mean"]), num(e["count"])]
                for e in entries]

    what = {"atom": "radius-1 atom environments (SMILES)", "residue": "3-mers centred on a "
            "residue", "word": "words"}.get(view["unit"], view["unit"])
    head = ("context", "mean attribution", "count")
    return ('<section id="global"><h2>Global view</h2>'
            f"<p>{esc(what)} over all explained inputs, seen at least {view['min_count']} times."
            "</p><h3>Raise the prediction</h3>"
            f'{table(head, rows(view["positive"]), "results") if view["positive"] else "none"}'
            "<h3>Lower the prediction</h3>"
            f'{table(head, rows(view["negative"]), "results") if view["negative"] else "none"}'
            "</section>")


def explain_html(expl: Explanation, view: dict[str, Any], summary: dict[str, Any],
                 row_ids: Sequence[Any], max_examples: int = 50) -> str:
    """The whole page: summary, faithfulness, global view and up to ``max_examples`` inputs.

    ``summary`` is ``explain.json``'s top level (run, data, counts, method, warnings).
    """
    pairs = [("run", str(summary.get("run_dir", ""))), ("data", str(summary.get("data", ""))),
             ("model family", summary.get("family")), ("explained output", expl.explained),
             ("method", summary.get("method_description")),
             ("masking", summary.get("masking")), ("unit", expl.unit),
             ("inputs explained", summary.get("n_explained")),
             ("invalid inputs", summary.get("n_invalid"))]
    header = (f"<h1>scifm explain</h1><p class='meta'>{esc(expl.explained)}</p>{_CSS}"
              f"{kv(pairs)}{warnings_box(summary.get('warnings', []))}")
    n = min(max_examples, len(expl.records))
    cards = "".join(_example(expl, i, row_ids[i]) for i in range(n))
    legend = ("<p>Red: the unit raises the explained output (masking it lowers it); blue: it "
              f"lowers it. Showing {n} of {len(expl.records)} inputs.</p>")
    examples = f'<section id="examples"><h2>Examples</h2>{legend}{cards}</section>'
    return page(f"scifm explain: {summary.get('data', '')}", header,
                [_faithfulness(expl.faithfulness), _global(view), examples],
                footer=f"scifm explain: {summary.get('method', '')}")
