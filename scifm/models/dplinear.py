"""The ``dplinear`` family: a linear model on a feature set, differentially private on demand.

:class:`DPLinearPredictor` is featurizer (any feature set of :mod:`scifm.featurizers.sets`,
``embed:PATH`` included, so "MiniLM + a DP linear head" is ``--model dplinear --set
model.features=embed:PATH``) + :class:`~scifm.privacy.dp.DPLinearModel` (one torch linear
layer: logistic per task, softmax or least squares), trained by Opacus DP-SGD when
``privacy.dp.epsilon`` is set, plainly otherwise.

Saved without pickle, in a staged folder with its manifest:

* ``scifm.json`` - family, modality, task, feature set, parameters, seed, ``privacy.dp``
  settings, scaling statistics, history and ``privacy`` (the accountant's spent epsilon, delta,
  noise multiplier, clipping norm, sample rate, epochs; None without DP);
* ``featurizer.json`` - the featurizer's config and fitted state;
* ``weights.safetensors`` - the layer's ``weight`` (``K x d``) and ``bias`` (``K``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError, RunDirError
from scifm.featurizers import Featurizer, build_featurizer, featurize, featurizer_from_name
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.feature import resolve_features, typed_params
from scifm.models.manifest import staged_folder
from scifm.privacy.dp import DPLinearModel, DPSettings
from scifm.tasks import TaskSpec
from scifm.utils import progress
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

__all__ = ["FAMILY", "FEATURIZER_FILE", "WEIGHTS_FILE", "DPLinearPredictor", "dp_settings"]

FAMILY = "dplinear"
FEATURIZER_FILE = "featurizer.json"
WEIGHTS_FILE = "weights.safetensors"


def dp_settings(dp: Any) -> DPSettings:
    """``privacy.dp`` (a :class:`~scifm.config.privacy.DPConfig`, a dict or None) as
    :class:`~scifm.privacy.dp.DPSettings`."""
    if dp is None:
        return DPSettings()
    if isinstance(dp, DPSettings):
        return dp
    d = dp.model_dump() if isinstance(dp, BaseModel) else dict(dp)
    return DPSettings(epsilon=d.get("epsilon"), delta=float(d.get("delta", 1e-5)),
                      max_grad_norm=float(d.get("max_grad_norm", 1.0)))


class DPLinearPredictor:
    """Featurizer + a (DP-)trained linear layer; see :mod:`scifm.models.dplinear`.

    Parameters
    ----------
    task
        What is predicted (shapes: :mod:`scifm.tasks`).
    modality
        The input modality (with ``features`` it picks the featurizer).
    features
        Feature set or ``auto`` (the modality's default).
    params
        ``params.dplinear`` (typed, or a dict of overrides).
    seed
        Seeds the batch sampling and the DP noise.
    dp
        ``privacy.dp``: ``epsilon`` (None: plain training), ``delta``, ``max_grad_norm``.
    """

    family = FAMILY

    def __init__(self, task: TaskSpec, modality: str, features: str = "auto",
                 params: BaseModel | dict[str, Any] | None = None, seed: int = 0,
                 dp: Any = None) -> None:
        self.task = task
        self.modality = modality
        self.features = resolve_features(FAMILY, features, modality)
        self.params = typed_params(FAMILY, params)
        self.seed = seed
        self.dp = dp_settings(dp)
        self.featurizer: Featurizer | None = None
        self.model: DPLinearModel | None = None
        self.history_: list[dict[str, Any]] = []

    @property
    def privacy_(self) -> dict[str, Any] | None:
        """The accountant's record of a DP fit (``epsilon``, ``delta``, ``noise_multiplier``,
        ``max_grad_norm``, ``sample_rate``, ``epochs``, ``accountant``); None without DP."""
        return None if self.model is None else self.model.privacy_

    def estimator(self) -> DPLinearModel:
        """A fresh unfitted model on numeric features (fit by :meth:`fit` and by tuning)."""
        return DPLinearModel(self.task.task_type, self.task.n_outputs, self.params, self.dp,
                             random_state=self.seed)

    def _y(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y must have shape n x {self.task.n_tasks}, got {y.shape}")
        return y

    def fit(self, x_train: Sequence[Any], y_train: np.ndarray,
            x_val: Sequence[Any] | None = None, y_val: np.ndarray | None = None,
            ) -> DPLinearPredictor:
        """Fit the featurizer on ``x_train``, then the linear layer (val loss only logged)."""
        y_train = self._y(y_train)
        what = MODALITIES.get(self.modality).label
        featurizer = featurizer_from_name(self.features, self.modality).fit(x_train)
        X = featurize(featurizer, x_train, what=what)
        X_val = yv = None
        if x_val is not None and y_val is not None and len(x_val) > 0:
            X_val, yv = featurize(featurizer, x_val, what=what), self._y(y_val)
        mode = "plain" if self.dp.epsilon is None else f"DP-SGD, epsilon {self.dp.epsilon:g}"
        with progress.track(f"{FAMILY}: fitting on {X.shape[0]:,} rows ({mode})",
                            level=logging.DEBUG):
            self.model = self.estimator().fit(X, y_train, X_val, yv)
        self.featurizer = featurizer
        self.history_ = self.model.history_
        if self.privacy_ is not None:
            logger.info("%s: spent epsilon %.3f (target %g), delta %g", FAMILY,
                        self.privacy_["epsilon"], self.dp.epsilon, self.dp.delta)
        return self

    def _check_fitted(self) -> None:
        if self.model is None or self.featurizer is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"{type(self).__name__} is not fitted")

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        """Predictions of shape ``n x task.n_outputs`` (see :mod:`scifm.tasks`)."""
        self._check_fitted()
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs))
        X = featurize(self.featurizer, x, what=MODALITIES.get(self.modality).label)
        return self.model.predict(X).reshape(len(x), self.task.n_outputs)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """Write ``featurizer.json``, ``weights.safetensors`` and ``scifm.json`` into a staged
        folder replacing ``path`` as a whole, with its manifest."""
        from safetensors.torch import save_file

        self._check_fitted()
        with staged_folder(Path(path)) as tmp:
            atomic_write_json(tmp / FEATURIZER_FILE, self.featurizer.to_config())
            save_file(self.model.tensors(), str(tmp / WEIGHTS_FILE))
            atomic_write_json(tmp / MODEL_META, {
                "family": FAMILY, "modality": self.modality, "task": self.task.to_dict(),
                "features": self.features, "params": self.params.model_dump(mode="json"),
                "seed": self.seed, "dp": vars(self.dp), "scaling": self.model.scaling_,
                "privacy": self.privacy_, "history": self.history_})

    @classmethod
    def load(cls, path: Path) -> DPLinearPredictor:
        """Rebuild a saved predictor (no pickle); predictions equal the saved model's.

        Raises
        ------
        RunDirError
            A file is missing, unreadable or invalid.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        try:
            self = cls(TaskSpec.from_dict(meta["task"]), str(meta["modality"]),
                       str(meta["features"]), dict(meta["params"]), int(meta.get("seed", 0)),
                       dict(meta.get("dp") or {}))
            self.featurizer = build_featurizer(read_model_json(path / FEATURIZER_FILE))
            self.model = self.estimator().restore(load_file(str(path / WEIGHTS_FILE)),
                                                  dict(meta.get("scaling") or {}),
                                                  meta.get("privacy"))
        except (KeyError, TypeError, ValueError, ConfigError, OSError, SafetensorError) as err:
            msg = " ".join(str(err).split()) or type(err).__name__
            raise RunDirError(f"{path} is not a valid {FAMILY} model: {msg}") from None
        self.history_ = self.model.history_ = list(meta.get("history") or [])
        return self
