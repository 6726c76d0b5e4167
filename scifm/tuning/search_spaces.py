"""Search spaces as data: one dict per family, ``param -> distribution spec``.

A spec is a tuple:

* ``("int", low, high)`` or ``("int", low, high, {"log": True})``;
* ``("float", low, high)`` or ``("float", low, high, {"log": True})``;
* ``("categorical", [choice, ...])`` or ``("categorical", [choice, ...], {options})``.

An options dict may also hold ``"task": "classification" | "regression"`` to restrict a
parameter to one kind of task (``linear``: ``C`` for logistic regression, ``alpha`` for ridge),
and ``"default"``: trial 0's value when the family's typed default is ``None`` (a setting it
inherits from another section: the ``transformer``'s ``lr`` from ``train.lr``).
Feature sets are searched as one more categorical, ``features``, with the modality plug-in's
choices (:func:`feature_choices`), plus a pretrained encoder's embeddings when
``automl.auto.embed`` is set (:func:`embed_folder`). Each family's space is part of its registration
(:attr:`scifm.models.registry.FamilySpec.search_space`, built-ins in :mod:`scifm.models.families`);
parameter names are those of the family's typed section (:mod:`scifm.models.params`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError
from scifm.featurizers.embedding import check_encoder_folder
from scifm.modalities.features import EMBED_PREFIX
from scifm.models.registry import get_family

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig

logger = logging.getLogger(__name__)

Spec = tuple[Any, ...]
"""``(kind, ...)`` as described in the module docstring."""


def feature_choices(modality: str, cfg: ExperimentConfig | None = None) -> list[str]:
    """Feature sets searched for ``modality``.

    Its plug-in's ``tune_features`` (when it lists none, its single-model default); when
    ``cfg.automl.auto.embed`` names an encoder folder, also ``embed:FOLDER`` and
    ``embed:FOLDER+DEFAULT`` (joined with the plug-in's ``default_features``), ``FOLDER``
    absolute. Used by ``scifm auto`` and ``scifm tune`` alike.

    Raises
    ------
    ConfigError
        ``automl.auto.embed`` is not a Hugging Face model folder (:func:`embed_folder`).
    """
    spec = MODALITIES.get(modality)
    choices = list(spec.tune_features) or [spec.default_features]
    folder = embed_folder(cfg)
    if folder is not None:
        embed = f"{EMBED_PREFIX}{folder}"
        choices += [embed, f"{embed}+{spec.default_features}"]
    return list(dict.fromkeys(choices))


def embed_folder(cfg: ExperimentConfig | None) -> Path | None:
    """The absolute encoder folder of ``automl.auto.embed`` (``None`` when unset), checked.

    A relative path is taken from the working directory here (a YAML spec's own relative
    paths are joined to its folder when the config is loaded). Cheap: call it before any data
    work so that a wrong folder is one line at once.

    Raises
    ------
    ConfigError
        No ``config.json`` in the folder, or a ``+`` in its path (``+`` joins feature sets).
    """
    raw = cfg.automl.auto.embed if cfg is not None else None
    if not raw:
        return None
    folder = Path(raw).expanduser().resolve()
    if "+" in str(folder):
        raise ConfigError(f"automl.auto.embed {folder}: a '+' in the path cannot be part of a "
                          "feature set ('+' joins feature sets); move or link the folder")
    return check_encoder_folder(folder, f"automl.auto.embed {folder}")


def space_for(family: str, task_type: str) -> dict[str, Spec]:
    """The specs of ``family`` that apply to ``task_type``.

    Raises
    ------
    KeyError
        ``family`` has no search space.
    """
    kind = "regression" if task_type == "regression" else "classification"
    space = get_family(family).search_space
    if not space:
        raise KeyError(f"family {family!r} has no search space")
    return {name: spec for name, spec in space.items() if _options(spec).get("task", kind) == kind}


def _options(spec: Spec) -> dict[str, Any]:
    if spec[0] == "categorical":
        return spec[2] if len(spec) > 2 and isinstance(spec[2], dict) else {}
    return spec[-1] if isinstance(spec[-1], dict) else {}


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


def default_trial(family: str, task_type: str, modality: str,
                  tune_features: bool = True) -> dict[str, Any]:
    """The family's default configuration as Optuna parameters, clipped into its search space.

    Enqueued as trial 0 of every new study, so that a short budget starts from the defaults
    that work well (``scifm train``'s) instead of a random point; TPE explores from there.
    Its feature set is the plug-in's ``tune_task_features`` for ``task_type``, else its
    ``tune_default_features``; never ``embed:`` features.
    """
    defaults: dict[str, Any] = get_family(family).params().model_dump()
    params: dict[str, Any] = {}
    for name, spec in space_for(family, task_type).items():
        value = defaults.get(name)
        if value is None:
            value = _options(spec).get("default")
        if spec[0] == "categorical":
            if value in spec[1]:
                params[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = spec[1], spec[2]
            clipped = min(max(value, low), high)
            params[name] = int(round(clipped)) if spec[0] == "int" else float(clipped)
    spec = MODALITIES.get(modality)  # the plug-in's first trial, for this task type
    first = spec.tune_task_features.get(task_type, spec.tune_default_features)
    if tune_features and first in feature_choices(modality):
        params["features"] = first
    return params
