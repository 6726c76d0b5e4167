"""Model families behind one :class:`~scifm.models.base.Predictor` interface, and their registry.

``build_predictor`` makes an unfitted predictor of a family from the experiment config;
``load_predictor`` reads a saved ``model/`` folder back, dispatching on ``family`` in its
``scifm.json``. Family modules are imported lazily (``import scifm.models`` stays light).
"""

from __future__ import annotations

import json
from pathlib import Path

from scifm.config.schema import ExperimentConfig
from scifm.errors import ConfigError, RunDirError
from scifm.models.base import MODEL_META, Predictor
from scifm.tasks import TaskSpec

FEATURE_FAMILIES = ("xgboost", "rf", "extratrees", "linear", "knn", "svm")
"""Feature-based families (:class:`scifm.models.feature.FeaturePredictor`, ``cfg.automl``)."""
FAMILIES = ("lightgbm", "transformer", *FEATURE_FAMILIES)
"""Model families known to :func:`build_predictor` and :func:`load_predictor`."""

__all__ = ["FAMILIES", "FEATURE_FAMILIES", "MODEL_META", "Predictor", "build_predictor",
           "load_predictor"]


def build_predictor(
    family: str,
    task: TaskSpec,
    modality: str,
    cfg: ExperimentConfig,
    work_dir: Path,
) -> Predictor:
    """An unfitted predictor of ``family`` (``lightgbm`` or ``transformer``) for ``task``.

    Parameters
    ----------
    family
        ``lightgbm``, ``transformer`` or one of :data:`FEATURE_FAMILIES` (``both`` is resolved
        by the caller).
    task, modality
        What is predicted and from which kind of input.
    cfg
        The experiment config (``cfg.lightgbm``, ``cfg.automl``, ``cfg.model``, ``cfg.train``,
        ``cfg.seed``).
    work_dir
        Scratch/checkpoint folder of the transformer (unused by LightGBM).

    Raises
    ------
    ConfigError
        Unknown family.
    """
    if family == "lightgbm":
        from scifm.models.lightgbm import LightGBMPredictor

        class_weight = "balanced" if cfg.model.class_weight == "balanced" else None
        return LightGBMPredictor(task, modality, cfg.lightgbm, seed=cfg.seed,
                                 class_weight=class_weight)
    if family == "transformer":
        from scifm.models.transformer import TransformerPredictor

        return TransformerPredictor(task=task, modality=modality, model_cfg=cfg.model,
                                    train_cfg=cfg.train, seed=cfg.seed, work_dir=work_dir,
                                    peft_cfg=cfg.peft)
    if family in FEATURE_FAMILIES:
        from scifm.models.feature import FeaturePredictor

        class_weight = "balanced" if cfg.model.class_weight == "balanced" else None
        return FeaturePredictor(family, task, modality, features=cfg.automl.features,
                                params=cfg.automl.params, seed=cfg.seed,
                                class_weight=class_weight, n_jobs=cfg.automl.n_jobs)
    raise ConfigError(f"model.family: unknown family {family!r}; expected one of {FAMILIES}")


def load_predictor(path: Path) -> Predictor:
    """Load the predictor saved in folder ``path`` (family read from ``path/scifm.json``).

    Raises
    ------
    RunDirError
        ``scifm.json`` is missing, unreadable or names an unknown family.
    """
    meta_file = Path(path) / MODEL_META
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        family = meta["family"]
    except FileNotFoundError:
        raise RunDirError(f"no saved model: {meta_file} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise RunDirError(f"cannot read the model description {meta_file}: {err!r}") from None
    if family == "lightgbm":
        from scifm.models.lightgbm import LightGBMPredictor

        return LightGBMPredictor.load(Path(path))
    if family == "transformer":
        from scifm.models.transformer import TransformerPredictor

        return TransformerPredictor.load(Path(path))
    if family in FEATURE_FAMILIES:
        from scifm.models.feature import FeaturePredictor

        return FeaturePredictor.load(Path(path))
    if family == "ensemble":  # weighted average of saved members (scifm auto)
        from scifm.models.ensemble import EnsemblePredictor

        return EnsemblePredictor.load(Path(path))
    raise RunDirError(f"{meta_file}: unknown model family {family!r}; expected one of {FAMILIES}")
