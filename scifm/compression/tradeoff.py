"""The trade-off table and plot of ``scifm compress``: one row per variant, in three forms —
``compression.csv`` (plain numbers), Markdown (printed) and a report section with an SVG plot of
throughput against the metric change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scifm.evaluation.plots import new_figure, safe_figure, to_svg
from scifm.evaluation.report_format import esc, num, table

__all__ = ["compression_section", "markdown_table", "tradeoff_frame", "tradeoff_plot"]


def tradeoff_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per variant: size, speed, metric and its change (CSV columns)."""
    base = next((r for r in rows if r["name"] == "original"), rows[0])
    out = []
    for r in rows:
        if r.get("error"):
            out.append({"variant": r["name"], "error": r["error"]})
            continue
        out.append({
            "variant": r["name"], "size_mb": r["size_bytes"] / 1e6,
            "size_ratio": base["size_bytes"] / max(r["size_bytes"], 1),
            "latency_ms_b1": r["latency_ms"], "throughput_b64": r["throughput"],
            "speedup_b64": r["throughput"] / base["throughput"],
            "metric": r["metric"], "value": r["value"], "ci_low": r["ci95"][0],
            "ci_high": r["ci95"][1], "delta": r["delta"], "delta_ci_low": r["delta_ci95"][0],
            "delta_ci_high": r["delta_ci95"][1], "description": r.get("description", "")})
    return pd.DataFrame(out)


def _ci(lo: Any, hi: Any) -> str:
    return f"[{num(lo)}, {num(hi)}]"


def markdown_table(rows: Sequence[Mapping[str, Any]], chosen: str) -> str:
    """The table as Markdown (what the CLI prints); the chosen variant is marked."""
    frame = tradeoff_frame(rows)
    lines = ["| variant | size MB (x smaller) | batch-1 ms | batch-64 /s (x faster) | metric | "
             "change [95% CI] |", "|---|---:|---:|---:|---:|---:|"]
    for r in frame.to_dict("records"):
        mark = " (chosen)" if r["variant"] == chosen else ""
        if isinstance(r.get("error"), str):
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | |")
            continue
        lines.append(
            f"| {r['variant']}{mark} | {r['size_mb']:.1f} ({r['size_ratio']:.1f}x) | "
            f"{r['latency_ms_b1']:.1f} | {r['throughput_b64']:.0f} ({r['speedup_b64']:.1f}x) | "
            f"{r['metric']} {num(r['value'])} | {num(r['delta'])} "
            f"{_ci(r['delta_ci_low'], r['delta_ci_high'])} |")
    return "\n".join(lines)


@safe_figure
def tradeoff_plot(rows: Sequence[Mapping[str, Any]], chosen: str) -> str:
    """Throughput (batch 64, log scale) against the metric change, marker area ~ size."""
    ok = [r for r in rows if not r.get("error")]
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    size = np.array([r["size_bytes"] for r in ok], dtype=float)
    area = 30 + 300 * size / max(size.max(), 1.0)
    for r, a in zip(ok, area, strict=True):
        ax.scatter(r["delta"], r["throughput"], s=a, alpha=0.6,
                   edgecolors="black" if r["name"] == chosen else "none")
        lo, hi = r["delta_ci95"]
        if lo is not None and hi is not None and np.isfinite([lo, hi]).all():
            ax.plot([lo, hi], [r["throughput"]] * 2, color="grey", lw=1)
        ax.annotate(r["name"], (r["delta"], r["throughput"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_yscale("log")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"change of test {ok[0]['metric']} vs original (95% CI)")
    ax.set_ylabel("inputs / s at batch 64")
    ax.set_title("Compression: speed against metric (marker area ~ size on disk)")
    return to_svg(fig)


def compression_section(result: Mapping[str, Any]) -> str:
    """"Compression": the trade-off table, the plot and the choice, for ``report.html``."""
    rows, chosen = result["variants"], result["chosen"]
    body = []
    for r in tradeoff_frame(rows).to_dict("records"):
        if isinstance(r.get("error"), str):
            body.append([esc(r["variant"]), esc(f"failed: {r['error']}"), "", "", "", ""])
            continue
        name = f"<b>{esc(r['variant'])}</b>" if r["variant"] == chosen else esc(r["variant"])
        body.append([name, f"{num(r['size_mb'])} ({r['size_ratio']:.1f}x)",
                     num(r["latency_ms_b1"]), f"{num(r['throughput_b64'])} "
                     f"({r['speedup_b64']:.1f}x)", num(r["value"]),
                     f"{num(r['delta'])} {_ci(r['delta_ci_low'], r['delta_ci_high'])}"])
    return "".join([
        '<section id="compression"><h2>Compression</h2>',
        f"<p>Variants of the model measured on the {num(result.get('n_test'))} test rows of "
        f"the run on this machine ({esc(result.get('machine', ''))}). Allowed drop of "
        f"{esc(result['metric'])}: {num(result['max_drop'])}; chosen: <b>{esc(chosen)}</b>. "
        f"{esc(result.get('note', ''))}</p>",
        table(("variant", "size MB (x smaller)", "batch-1 ms", "batch-64 inputs/s (x faster)",
               esc(result["metric"]), "change [95% CI]"), body, "results"),
        tradeoff_plot(rows, chosen), "</section>"])
