"""The ``lightgbm`` family's predictor: :class:`~scifm.models.feature.FeaturePredictor` with the
LightGBM store (:class:`~scifm.models.stores.BoosterStore`).

Kept as a named class for its argument order (``task, modality, params``) and for code that
imports it; the featurizer, fit, predict, save and load are :class:`FeaturePredictor`'s. Saved as
``featurizer.json``, one ``booster_<task>.txt`` per task (LightGBM's text format) and
``scifm.json``; folders written before the family registry (one ``lightgbm`` section in
``scifm.json``) still load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from scifm.models.feature import FeaturePredictor
from scifm.tasks import TaskSpec

FAMILY = "lightgbm"


class LightGBMPredictor(FeaturePredictor):
    """Featurizer + :class:`~scifm.models.baselines.LGBMTaskModel`: the ``lightgbm`` family.

    Parameters
    ----------
    task
        What is predicted (shapes of ``y`` and of the predictions: :mod:`scifm.tasks`).
    modality
        The input modality; with ``features`` picks the featurizer.
    params
        LightGBM hyper-parameters (``params.lightgbm``: a
        :class:`~scifm.models.params.LightGBMParams` or a dict of overrides).
    features, seed, class_weight, n_jobs
        As for :class:`~scifm.models.feature.FeaturePredictor`.
    family
        Always ``lightgbm`` (accepted so that :meth:`FeaturePredictor.load` builds this class).
    """

    def __init__(
        self,
        task: TaskSpec,
        modality: str,
        params: BaseModel | dict[str, Any] | None = None,
        features: str = "auto",
        seed: int = 0,
        class_weight: Literal["balanced"] | None = None,
        n_jobs: int = 0,
        *,
        family: str = FAMILY,
    ) -> None:
        if family != FAMILY:
            raise ValueError(f"family is {family!r}, not {FAMILY!r}")
        super().__init__(FAMILY, task, modality, features=features, params=params, seed=seed,
                         class_weight=class_weight, n_jobs=n_jobs)
