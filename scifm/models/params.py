"""Typed parameter sections of the built-in families: ``params.<family>`` in the config.

Each class is the family's :attr:`~scifm.models.registry.FamilySpec.params`; its defaults are the
family's defaults (``scifm train``'s, and trial 0 of every ``tune`` / ``auto`` study). Unknown
keys are errors, so ``--set params.rf.n_estimator=100`` (a typo) never goes unnoticed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from scifm.config.base import Strict


class BoostingParams(Strict):
    """What LightGBM and XGBoost share: rounds, shrinkage, subsampling, L2, early stopping."""

    n_estimators: int = 500
    """Boosting rounds at most (early stopping usually ends sooner)."""
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    """Rounds without improvement on val before stopping."""


class LightGBMParams(BoostingParams):
    """LightGBM boosters (one per task), early-stopped on the validation rows."""

    n_estimators: int = 2000
    num_leaves: int = 31
    min_child_samples: int = 10
    early_stopping_rounds: int = 100


class XGBoostParams(BoostingParams):
    """XGBoost (``hist``), early-stopped on the validation rows."""

    max_depth: int = 6
    min_child_weight: float = 1.0
    reg_alpha: float = 0.0


class ForestParams(Strict):
    """Random forest / extremely randomised trees (scikit-learn)."""

    n_estimators: int = 300
    max_features: Literal["sqrt", "log2"] | float | None = "sqrt"
    """``sqrt``, ``log2``, a fraction of the features, or None (all)."""
    min_samples_leaf: int = 1
    max_depth: int | None = None


class LinearParams(Strict):
    """Logistic regression (classification) or ridge (regression) on standardised features."""

    C: float = 1.0
    """Inverse regularisation strength of the logistic regression."""
    alpha: float = 1.0
    """Ridge penalty."""


class KNNParams(Strict):
    """k nearest neighbours: Tanimoto on fingerprints, euclidean on standardised features."""

    n_neighbors: int = 5
    weights: Literal["uniform", "distance"] = "distance"
    metric: Literal["auto", "tanimoto", "euclidean"] = "auto"
    """``auto``: Tanimoto when every feature is a fingerprint, else euclidean."""


class SVMParams(Strict):
    """SVC with sigmoid calibration (classification) / SVR (regression), RBF kernel."""

    C: float = 1.0
    gamma: Literal["scale", "auto"] | float = "scale"
    epsilon: float = 0.1
    """SVR only: width of the insensitive tube."""

    @field_validator("C", "epsilon")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v
