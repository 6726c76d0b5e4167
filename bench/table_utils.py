"""Formatting shared by the BENCHMARKS.md table writers."""

from __future__ import annotations

import statistics


def mean_std(values: list[float], digits: int = 3) -> str:
    """``mean ± std`` (sample std) of ``values``; the value alone for one; ``—`` for none."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
