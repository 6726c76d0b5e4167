"""Hyper-parameter search: search spaces as data and the cross-validation objective (Optuna)."""

from scifm.tuning.objective import CVObjective, cv_folds
from scifm.tuning.search_spaces import FEATURE_CHOICES, SEARCH_SPACES, sample_params, space_for

__all__ = ["FEATURE_CHOICES", "SEARCH_SPACES", "CVObjective", "cv_folds", "sample_params",
           "space_for"]
