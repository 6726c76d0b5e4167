"""The summary of a screen: exact row accounting, rate, peak memory, cascade recall.

Accounting: every input row is exactly one of scored, rejected (invalid, with its reason in the
rejects file) or a duplicate (same canonical form as an earlier row; also in the rejects file,
with that reason): ``n_scored + n_rejected + n_duplicates == n_input``.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ScreenSummary", "peak_rss_mb"]


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of the largest finished child process
    (the chunk workers, once their pool is shut down): :func:`resource.getrusage`."""
    scale = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024  # bytes vs KiB
    return {"main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                                    * scale, 1)}


@dataclass
class ScreenSummary:
    """Counts, timing and outputs of one screen (written as ``OUT_STEM.summary.json``)."""

    out: Path
    n_input: int = 0
    n_scored: int = 0
    n_rejected: int = 0
    """Invalid inputs (validation or a crash), each with its reason."""
    n_duplicates: int = 0
    n_resumed: int = 0
    """Rows read from an interrupted run's finished chunks instead of being predicted again."""
    seconds: float = 0.0
    """Wall time of this invocation."""
    molecules_per_s: float = 0.0
    """Input rows per second of this invocation (resumed rows not counted)."""
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per target: direction, score column, hits kept, rows excluded by the filters, top hit."""
    cascade: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Raise AssertionError when the accounting does not add up (a bug, never the data)."""
        total = self.n_scored + self.n_rejected + self.n_duplicates
        if total != self.n_input:
            raise AssertionError(f"row accounting: {self.n_scored} scored + {self.n_rejected} "
                                 f"rejected + {self.n_duplicates} duplicates != "
                                 f"{self.n_input} input rows")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d
