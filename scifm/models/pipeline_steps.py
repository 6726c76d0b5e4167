"""The last step of a scikit-learn estimator that may be a :class:`~sklearn.pipeline.Pipeline`
(scaling, clipping, then the model), and fit parameters routed to it."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

__all__ = ["final_step", "step_param"]


def final_step(est: Any) -> Any:
    """The model at the end of ``est`` (``est`` itself when it is not a pipeline)."""
    return est.steps[-1][1] if isinstance(est, Pipeline) else est


def step_param(est: Any, name: str) -> str:
    """The fit keyword that routes ``name`` to :func:`final_step` (``<step>__<name>`` for a
    pipeline)."""
    return f"{est.steps[-1][0]}__{name}" if isinstance(est, Pipeline) else name
