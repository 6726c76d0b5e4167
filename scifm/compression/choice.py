"""Which variant to keep: the fastest whose metric drop is within the allowed one.

``--max-drop`` is in the units of the run's primary metric (``0.01`` = one point of ROC-AUC or
macro-F1), or relative to the original model's value when it ends in ``%`` (``2%`` of its
RMSE). Default: one point for classification metrics, 1% of the original value for error
metrics (RMSE, MAE). A variant is allowed when its point estimate of the drop is within the
limit; the paired-bootstrap CI of the change is reported beside it, so a user who wants the
upper end of the CI within the limit can read it off the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scifm.errors import ConfigError

__all__ = ["ORIGINAL", "allowed_drop", "choose"]

ORIGINAL = "original"
"""The name of the run's own model in the trade-off table."""


def allowed_drop(max_drop: str | float | None, base_value: float, higher_is_better: bool) -> float:
    """The largest allowed metric drop (metric units) for ``--max-drop``.

    Raises
    ------
    ConfigError
        Not a number, a negative number, or a malformed percentage.
    """
    if max_drop is None or max_drop == "":
        return 0.01 if higher_is_better else 0.01 * abs(base_value)
    text = str(max_drop).strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100.0 * abs(base_value)
        else:
            value = float(text)
    except ValueError:
        raise ConfigError(f"--max-drop {max_drop!r}: expected a number (metric units) or a "
                          "percentage of the original value such as 2%") from None
    if not value >= 0:
        raise ConfigError(f"--max-drop {max_drop!r} must be >= 0")
    return value


def choose(rows: Sequence[dict[str, Any]], limit: float) -> str:
    """The name of the fastest row (batch-64 throughput) whose ``drop`` is at most ``limit``
    (the original model counts, with no drop: a variant slower than it is never chosen). Rows
    that failed (``error``) are never chosen."""
    ok = [r for r in rows if not r.get("error")
          and (r["name"] == ORIGINAL or r["drop"] <= limit + 1e-12)]
    if not ok:
        return ORIGINAL
    return max(ok, key=lambda r: (r["throughput"], -r["size_bytes"]))["name"]
