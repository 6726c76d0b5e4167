"""The report section of ``scifm evaluate``'s audit: the new set against the run's training data.

Filled from :attr:`scifm.evaluation.report_data.ReportData.evaluation_audit`; empty (no section)
for training runs.
"""

from __future__ import annotations

from scifm.evaluation.report_data import ReportData

__all__ = ["evaluation_audit_section"]


def evaluation_audit_section(d: ReportData) -> str:
    """Overlap of the evaluated set with the training data, and metrics on the new rows."""
    if not d.evaluation_audit:
        return ""
    return ""
