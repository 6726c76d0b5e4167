"""The page around a report's sections: inline CSS, a table of contents, plotly.js (inline, once,
only when a section has an interactive figure) and the script that draws those figures.

A section is HTML of the form ``<section id="anchor"><h2>Title</h2>...</section>``; the table of
contents lists every section in that form, in order. Used by the study report
(:mod:`scifm.evaluation.report`) and the token report (:mod:`scifm.evaluation.token_report`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from scifm.evaluation.report_format import esc

__all__ = ["CSS", "page", "toc"]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;
max-width:1150px;padding:1.2em 1.5em;color:#222;line-height:1.45}
h1{margin:.2em 0 .1em;font-size:1.7em}h2{border-bottom:2px solid #4a7ab5;padding-bottom:.2em;
margin-top:1.8em}h3{margin:1.2em 0 .4em}.meta{color:#555;font-size:.9em;margin:0 0 1em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
thead th{background:#eef3f9}table.kv th,table.kv td:first-child{background:#f7f7f7}
table.results td{font-variant-numeric:tabular-nums}.ci{color:#666;font-size:.9em}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.5em 1em;margin:.8em 0}
.warn ul{margin:.3em 0;padding-left:1.2em}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
.fig svg{max-width:100%;height:auto}.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
nav.toc{background:#f7f9fc;border:1px solid #dde5f0;border-radius:6px;padding:.4em 1em;
margin:.8em 0;font-size:.92em}nav.toc ol{margin:.2em 0;padding-left:1.4em;columns:2}
nav.toc a{text-decoration:none;color:#2c5d99}
.card{border:1px solid #cfd9e6;border-radius:8px;padding:1em 1.2em;background:#fbfcfe;
box-shadow:0 1px 3px rgba(0,0,0,.06)}.card h2{margin-top:0}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:.8em}
.tile{background:#fff;border:1px solid #e3e8ef;border-radius:6px;padding:.6em .8em}
.tile .label{color:#666;font-size:.8em;text-transform:uppercase;letter-spacing:.04em}
.tile .big{font-size:1.5em;font-weight:600;font-variant-numeric:tabular-nums}
.tile.best{border-color:#4a7ab5;border-width:2px}.tile .sub{color:#555;font-size:.88em}
.mols{display:flex;flex-wrap:wrap;gap:.6em}.mol-card{border:1px solid #e3e8ef;
border-radius:6px;padding:.3em;width:206px;font-size:.8em;background:#fff}
.mol-card svg{display:block;width:200px;height:150px}.mol-card .cap{padding:.1em .3em}
.mol-card code{word-break:break-all;font-size:.85em;color:#555}
.nbrs{display:flex;gap:.4em;align-items:flex-start;margin:.4em 0 .9em;flex-wrap:wrap}
.nbrs .mol-card{background:#f8f9fb}.nbrs .mol-card.query{background:#fff;
border:2px solid #c0392b}.plotly-fig{width:100%}
"""
"""The report's style sheet (inline; no fonts or other resources are loaded)."""

_SECTION = re.compile(r"""<section id=["']([^"']+)["'][^>]*>\s*<h2[^>]*>(.*?)</h2>""", re.S)
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:")
"""Nothing outside the page may be loaded (scripts and styles are inline)."""
_LOADER = """(function(){var cfg={displaylogo:false,responsive:true};
document.querySelectorAll('script.plotly-data').forEach(function(s){
var el=document.getElementById(s.getAttribute('data-target'));
if(!el||!window.Plotly){return;}var f=JSON.parse(s.textContent);
Plotly.newPlot(el,f.data,f.layout,cfg);});})();"""


@functools.cache
def _plotly_js() -> str:
    """plotly.js, to be inlined once per page (made safe for a ``<script>`` element)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script").replace("<!--", "<\\!--")


def toc(sections: Sequence[str]) -> str:
    """A table of contents linking every ``<section id=...><h2>`` in ``sections``."""
    items = [(a, t) for s in sections for a, t in _SECTION.findall(s)]
    if not items:
        return ""
    links = "".join(f'<li><a href="#{a}">{re.sub(r"<[^>]+>", "", t)}</a></li>' for a, t in items)
    return f'<nav class="toc" aria-label="contents"><b>Contents</b><ol>{links}</ol></nav>'


def page(title: str, header: str, sections: Sequence[str], footer: str = "") -> str:
    """A complete ``<!DOCTYPE html>`` document: header, table of contents, sections, and
    plotly.js plus its loader when a section holds an interactive figure.

    Parameters
    ----------
    title
        Plain text for ``<title>`` (escaped here).
    header
        HTML above the table of contents (title, run details).
    sections
        Section HTML, in order (empty strings are skipped).
    footer
        Plain text for the footer (escaped here).
    """
    sections = [s for s in sections if s]
    body = "".join(sections)
    scripts = ""
    if 'class="plotly-data"' in body:
        scripts = f"<script>{_plotly_js()}</script><script>{_LOADER}</script>"
    foot = f"<footer><p class='ci'>{esc(footer)}</p></footer>" if footer else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body>{header}{toc(sections)}{body}{foot}{scripts}</body></html>\n")


def add_section(document: str, section: str) -> str:
    """``document`` (written by :func:`page`) with ``section`` (``<section id=...><h2>``) added
    before the footer and linked from the table of contents; a section of the same id is
    replaced. Later commands (``scifm audit``, ``scifm explain``) add theirs this way."""
    (anchor, title), = _SECTION.findall(section)
    old = re.search(rf'<section id="{re.escape(anchor)}".*?</section>', document, re.S)
    if old:
        return document[:old.start()] + section + document[old.end():]
    cut = min(i for i in (document.find("<footer>"), document.find("<script"),
                          document.find("</body>")) if i >= 0)
    document = document[:cut] + section + document[cut:]
    link = f'<li><a href="#{anchor}">{re.sub(r"<[^>]+>", "", title)}</a></li>'
    return document.replace("</ol></nav>", link + "</ol></nav>", 1)
