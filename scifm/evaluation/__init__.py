"""Evaluation: metrics with bootstrap confidence intervals, figures and the HTML report."""

from scifm.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    compute_metrics,
    evaluate_predictions,
    higher_is_better,
    metric_names,
    paired_bootstrap,
    per_task_metrics,
    primary_metric,
)

_REPORT_NAMES = ("ModelResult", "ReportData", "render_report", "write_report")


def __getattr__(name: str) -> object:
    # the report pulls in matplotlib; import it only when asked for (keeps `import` fast)
    if name in _REPORT_NAMES:
        from scifm.evaluation import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "ModelResult",
    "ReportData",
    "compute_metrics",
    "evaluate_predictions",
    "higher_is_better",
    "metric_names",
    "paired_bootstrap",
    "per_task_metrics",
    "primary_metric",
    "render_report",
    "write_report",
]
