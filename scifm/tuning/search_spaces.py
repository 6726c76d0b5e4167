"""Search spaces as data: one dict per family, ``param -> distribution spec``.

A spec is a tuple:

* ``("int", low, high)`` or ``("int", low, high, {"log": True})``;
* ``("float", low, high)`` or ``("float", low, high, {"log": True})``;
* ``("categorical", [choice, ...])``.

An options dict may also hold ``"task": "classification" | "regression"`` to restrict a
parameter to one kind of task (``linear``: ``C`` for logistic regression, ``alpha`` for ridge).
Feature sets are searched as one more categorical, ``features``, with choices per modality
(:data:`FEATURE_CHOICES`). Parameter names are those of ``LightGBMConfig`` (``lightgbm``) and of
:data:`scifm.models.estimators.DEFAULT_PARAMS` (the others).
"""

from __future__ import annotations

import logging
from typing import Any

import optuna

logger = logging.getLogger(__name__)

Spec = tuple[Any, ...]
"""``(kind, ...)`` as described in the module docstring."""

_LOG = {"log": True}

SEARCH_SPACES: dict[str, dict[str, Spec]] = {
    "lightgbm": {
        "n_estimators": ("int", 50, 1000, _LOG),
        "learning_rate": ("float", 0.01, 0.3, _LOG),
        "num_leaves": ("int", 8, 256, _LOG),
        "min_child_samples": ("int", 2, 50, _LOG),
        "colsample_bytree": ("float", 0.1, 1.0),
        "subsample": ("float", 0.5, 1.0),
        "reg_lambda": ("float", 1e-3, 10.0, _LOG),
    },
    "xgboost": {
        "n_estimators": ("int", 50, 1000, _LOG),
        "learning_rate": ("float", 0.01, 0.3, _LOG),
        "max_depth": ("int", 2, 10),
        "min_child_weight": ("float", 0.5, 10.0, _LOG),
        "subsample": ("float", 0.5, 1.0),
        "colsample_bytree": ("float", 0.1, 1.0),
        "reg_lambda": ("float", 1e-3, 10.0, _LOG),
        "reg_alpha": ("float", 1e-4, 1.0, _LOG),
    },
    "rf": {
        "n_estimators": ("int", 100, 500, _LOG),
        "max_features": ("categorical", ["sqrt", "log2", 0.2, 0.5]),
        "min_samples_leaf": ("int", 1, 10, _LOG),
    },
    "extratrees": {
        "n_estimators": ("int", 100, 500, _LOG),
        "max_features": ("categorical", ["sqrt", "log2", 0.2, 0.5]),
        "min_samples_leaf": ("int", 1, 10, _LOG),
    },
    "linear": {
        "C": ("float", 1e-3, 1e2, {"log": True, "task": "classification"}),
        "alpha": ("float", 1e-3, 1e3, {"log": True, "task": "regression"}),
    },
    "knn": {
        "n_neighbors": ("int", 1, 30, _LOG),
        "weights": ("categorical", ["uniform", "distance"]),
    },
    "svm": {
        "C": ("float", 1e-2, 1e3, _LOG),
        "gamma": ("float", 1e-5, 1.0, _LOG),
        "epsilon": ("float", 1e-3, 1.0, {"log": True, "task": "regression"}),
    },
}
"""The search space of every tunable family."""

FEATURE_CHOICES: dict[str, list[str]] = {
    "smiles": ["ecfp", "ecfp6", "maccs", "ecfp+maccs", "ecfp+rdkit2d", "maccs+rdkit2d"],
    "protein": ["kmer", "protdesc", "kmer+protdesc", "kmer3"],
    "dna": ["kmer3", "kmer4", "kmer5", "kmer6"],
    "text": ["tfidf"],
}
"""Feature sets searched per modality (names of :mod:`scifm.featurizers.sets`)."""


def space_for(family: str, task_type: str) -> dict[str, Spec]:
    """The specs of ``family`` that apply to ``task_type``.

    Raises
    ------
    KeyError
        ``family`` has no search space.
    """
    kind = "regression" if task_type == "regression" else "classification"
    space = SEARCH_SPACES[family]
    return {name: spec for name, spec in space.items() if _options(spec).get("task", kind) == kind}


def _options(spec: Spec) -> dict[str, Any]:
    return spec[-1] if spec[0] != "categorical" and isinstance(spec[-1], dict) else {}


def suggest(trial: optuna.Trial, name: str, spec: Spec) -> Any:
    """Draw one parameter from its spec with the matching ``trial.suggest_*``."""
    kind = spec[0]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec[1]))
    log = bool(_options(spec).get("log", False))
    if kind == "int":
        return trial.suggest_int(name, int(spec[1]), int(spec[2]), log=log)
    if kind == "float":
        return trial.suggest_float(name, float(spec[1]), float(spec[2]), log=log)
    raise ValueError(f"unknown distribution kind {kind!r} for {name}")


def sample_params(trial: optuna.Trial, space: dict[str, Spec]) -> dict[str, Any]:
    """One draw of every parameter of ``space`` (see :func:`space_for`)."""
    return {name: suggest(trial, name, spec) for name, spec in space.items()}


DEFAULT_FEATURES: dict[str, str] = {"smiles": "ecfp+rdkit2d", "protein": "kmer+protdesc",
                                    "dna": "kmer5", "text": "tfidf"}
"""The feature set of the first (default) trial per modality."""


def default_trial(family: str, task_type: str, modality: str,
                  tune_features: bool = True) -> dict[str, Any]:
    """The family's default configuration as Optuna parameters, clipped into its search space.

    Enqueued as trial 0 of every new study, so that a short budget starts from the defaults
    that work well (``scifm train``'s) instead of a random point; TPE explores from there.
    """
    if family == "lightgbm":
        from scifm.config.schema import LightGBMConfig

        defaults: dict[str, Any] = LightGBMConfig().model_dump()
    else:
        from scifm.models.estimators import DEFAULT_PARAMS

        defaults = dict(DEFAULT_PARAMS.get(family, {}))
    params: dict[str, Any] = {}
    for name, spec in space_for(family, task_type).items():
        value = defaults.get(name)
        if spec[0] == "categorical":
            if value in spec[1]:
                params[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = spec[1], spec[2]
            clipped = min(max(value, low), high)
            params[name] = int(round(clipped)) if spec[0] == "int" else float(clipped)
    if tune_features and DEFAULT_FEATURES.get(modality) in FEATURE_CHOICES.get(modality, []):
        params["features"] = DEFAULT_FEATURES[modality]
    return params
