"""Hyper-parameter search: search spaces as data and the cross-validation objective (Optuna)."""

from scifm.tuning.objective import CVObjective
from scifm.tuning.search_spaces import feature_choices, sample_params, space_for

__all__ = ["CVObjective", "feature_choices", "sample_params", "space_for"]
