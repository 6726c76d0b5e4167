"""The ``mpnn`` family: Chemprop's D-MPNN (the ``chemprop`` package, MIT) as a scifm predictor.

Chemprop builds and trains the network (:mod:`scifm.models.mpnn_build`: its featuriser, bond
message passing, aggregation, FFN head and Lightning trainer); :class:`MPNNPredictor` is the
:class:`~scifm.models.base.Predictor` around it: single- or multi-task regression (targets
standardised, unscaled by the model), binary (several tasks, missing labels masked) or
multiclass; optional molecule-level descriptors (``params.mpnn.extra_descriptors``); an
ensemble of ``params.mpnn.n_models`` members trained with consecutive seeds, averaged.

Saved without pickle, in a staged folder with its manifest:

* ``scifm.json`` - family, modality, task, parameters, seed, the architecture (JSON: enough to
  rebuild the modules), target scaling, descriptor statistics and history;
* ``member_<i>.safetensors`` - each member's ``state_dict``;
* ``featurizer.json`` - the extra descriptors' featurizer, when there are some.

``chemprop`` is an optional extra: nothing here imports it until a model is built or loaded,
and without it :func:`require_chemprop` refuses in one line naming the install command.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.errors import ConfigError, RunDirError
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.manifest import staged_folder
from scifm.models.params import MPNNParams
from scifm.tasks import TaskSpec
from scifm.utils.deadline import check_deadline, deadline_passed, keeps_best
from scifm.utils.extras import missing
from scifm.utils.io import atomic_write_json

if TYPE_CHECKING:
    from scifm.featurizers import Featurizer

logger = logging.getLogger(__name__)

__all__ = ["INSTALL", "MPNNPredictor", "load_mpnn", "require_chemprop"]

INSTALL = 'pip install -c constraints.txt -e ".[mpnn]" (or pip install "scifm[mpnn]")'
"""How to install the ``mpnn`` extra (the constraints keep the installed torch wheel)."""
DESCRIPTOR_FILE = "featurizer.json"


def require_chemprop(feature: str = "--model mpnn") -> None:
    """Refuse the ``mpnn`` family in one line when ``chemprop`` cannot be imported.

    Raises
    ------
    ConfigError
        ``chemprop`` is not installed.
    """
    if missing("chemprop"):
        raise ConfigError(f"{feature} needs Chemprop (chemprop), which is not installed: "
                          f"{INSTALL}")


def _smiles(xs: Sequence[Any]) -> list[str]:
    """SMILES of validated inputs (a :class:`~scifm.data.datapoints.Datapoint`'s primary)."""
    return [str(getattr(x, "primary", x)) for x in xs]


def _scaling(y: np.ndarray) -> dict[str, list[float]]:
    """Per-column mean and standard deviation over the known values (std 1 when constant)."""
    with np.errstate(all="ignore"):
        mean, std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist()}


class MPNNPredictor:
    """Chemprop D-MPNN(s) on SMILES: fit / predict / save / load.

    Parameters
    ----------
    task
        What is predicted (shapes: :mod:`scifm.tasks`).
    modality
        ``smiles``.
    params
        ``params.mpnn`` (:class:`~scifm.models.params.MPNNParams`) or a dict of overrides.
    seed
        Seed of the first member (member ``i`` uses ``seed + i``).
    """

    family = "mpnn"

    def __init__(self, task: TaskSpec, modality: str = "smiles",
                 params: MPNNParams | dict[str, Any] | None = None, seed: int = 0) -> None:
        require_chemprop()
        self.task, self.modality, self.seed = task, modality, seed
        self.params = params if isinstance(params, MPNNParams) else \
            MPNNParams.model_validate(dict(params or {}))
        self.members_: list[Any] = []
        self.arch_: dict[str, Any] = {}
        self.scaling_: dict[str, list[float]] | None = None
        self.descriptors_: dict[str, list[float]] | None = None
        self.featurizer_: Featurizer | None = None
        self.history_: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ data
    def _y(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y must have shape n x {self.task.n_tasks}, got {y.shape}")
        if self.scaling_ is not None:
            y = (y - np.asarray(self.scaling_["mean"])) / np.asarray(self.scaling_["std"])
        return y

    def _raw_descriptors(self, smiles: list[str]) -> np.ndarray | None:
        """Extra descriptors, non-finite values replaced by the training mean (or None)."""
        if self.featurizer_ is None:
            return None
        from scifm.featurizers import featurize

        x = np.asarray(featurize(self.featurizer_, smiles, what="SMILES"), dtype=np.float64)
        if self.descriptors_ is not None:
            x = np.where(np.isfinite(x), x, np.asarray(self.descriptors_["mean"]))
        return x

    def _fit_descriptors(self, smiles: list[str]) -> np.ndarray | None:
        name = self.params.descriptor_set()
        if name is None:
            return None
        from scifm.featurizers import featurizer_from_name

        self.featurizer_ = featurizer_from_name(name, self.modality).fit(smiles)
        raw = self._raw_descriptors(smiles)  # no statistics yet: non-finite values kept
        self.descriptors_ = _scaling(np.where(np.isfinite(raw), raw, np.nan))
        return self._scaled_descriptors(np.where(np.isfinite(raw), raw,
                                                 np.asarray(self.descriptors_["mean"])))

    def _scaled_descriptors(self, raw: np.ndarray | None) -> np.ndarray | None:
        """Chemprop trains on standardised descriptors (its ``X_d`` transform is off then)."""
        if raw is None or self.descriptors_ is None:
            return None
        return (raw - np.asarray(self.descriptors_["mean"])) / np.asarray(self.descriptors_["std"])

    # ------------------------------------------------------------------ fit / predict
    def fit(self, x_train: Sequence[Any], y_train: np.ndarray, x_val: Sequence[Any] | None = None,
            y_val: np.ndarray | None = None) -> MPNNPredictor:
        """Train ``params.n_models`` D-MPNNs (early stopping on val when given)."""
        from scifm.models import mpnn_build as mb

        smiles = _smiles(x_train)
        y = np.asarray(y_train, dtype=np.float64)
        self.scaling_ = _scaling(y.reshape(len(y), -1)) \
            if self.task.task_type == "regression" else None
        x_d = self._fit_descriptors(smiles)
        train = mb.make_dataset(smiles, self._y(y_train), x_d)
        val = None
        if x_val is not None and y_val is not None and len(x_val) > 0:
            vs = _smiles(x_val)
            val = mb.make_dataset(vs, self._y(y_val),
                                  self._scaled_descriptors(self._raw_descriptors(vs)))
        n_desc = 0 if x_d is None else x_d.shape[1]
        self.arch_ = mb.architecture(self.params, self.task, n_desc)
        self.members_, self.history_ = [], []
        n = self.params.n_models
        for i in range(n):
            if self.members_ and keeps_best() and deadline_passed():
                logger.info("mpnn: time budget spent; %d of %d members kept", i, n)
                break
            check_deadline(f"mpnn member {i + 1}/{n}")
            mb.seed_everything(self.seed + i)  # initial weights and batch order
            model = mb.build_model(self.arch_, self.scaling_, self.descriptors_)
            label = f"mpnn: training on {len(smiles):,} molecules" + (
                f" (member {i + 1} of {n})" if n > 1 else "")
            history = mb.train_model(model, train, val, self.params, self.seed + i, label)
            self.members_.append(model)
            self.history_.extend({**row, "member": i} if n > 1 else row for row in history)
            best = [r["val_loss"] for r in history if "val_loss" in r]
            logger.info("%s: %d epochs%s", label, len(history),
                        f", best val loss {min(best):.4g}" if best else "")
        return self

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        """Predictions ``n x task.n_outputs``: the members' mean (probabilities or units)."""
        return self.predict_with_spread(x)[0]

    def predict_with_spread(self, x: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """The members' mean and, with several members, their standard deviation (a raw
        uncertainty score, :mod:`scifm.trust.uncertainty`; None with one member)."""
        if not self.members_:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("MPNNPredictor is not fitted")
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs)), None
        from scifm.models import mpnn_build as mb

        smiles = _smiles(x)
        dset = mb.make_dataset(smiles, None, self._raw_descriptors(smiles))
        preds = [mb.predict_model(m, dset, self.task, self.params.batch_size, self.params.threads)
                 for m in self.members_]
        return np.mean(preds, axis=0), np.std(preds, axis=0) if len(preds) > 1 else None

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """Write ``scifm.json``, ``member_<i>.safetensors`` (and ``featurizer.json``) into a
        staged folder replacing ``path`` as a whole, with its manifest."""
        from safetensors.torch import save_file

        if not self.members_:
            raise ValueError("cannot save an unfitted MPNNPredictor")
        with staged_folder(Path(path)) as tmp:
            for i, model in enumerate(self.members_):
                state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
                save_file(state, str(tmp / f"member_{i}.safetensors"))
            if self.featurizer_ is not None:
                atomic_write_json(tmp / DESCRIPTOR_FILE, self.featurizer_.to_config())
            atomic_write_json(tmp / MODEL_META, self._meta())

    def _meta(self) -> dict[str, Any]:
        import chemprop

        return {"family": self.family, "modality": self.modality, "task": self.task.to_dict(),
                "params": self.params.model_dump(mode="json"), "seed": self.seed,
                "n_models": len(self.members_), "architecture": self.arch_,
                "target_scaling": self.scaling_, "descriptors": self.descriptors_,
                "chemprop_version": chemprop.__version__, "history": self.history_}

    @classmethod
    def load(cls, path: Path) -> MPNNPredictor:
        """Rebuild a saved predictor from its JSON architecture and safetensors weights."""
        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        try:
            self = cls(TaskSpec.from_dict(meta["task"]), str(meta["modality"]),
                       dict(meta["params"]), int(meta.get("seed", 0)))
            self.arch_ = dict(meta["architecture"])
            self.scaling_, self.descriptors_ = meta.get("target_scaling"), meta.get("descriptors")
            n_models = int(meta["n_models"])
        except (KeyError, TypeError, ValueError) as err:
            msg = " ".join(str(err).split())
            raise RunDirError(f"{path / MODEL_META} is not a valid mpnn model: {msg}") from None
        if self.arch_.get("n_descriptors"):
            from scifm.featurizers import build_featurizer

            try:
                self.featurizer_ = build_featurizer(read_model_json(path / DESCRIPTOR_FILE))
            except ConfigError as err:
                raise RunDirError(f"{path / DESCRIPTOR_FILE} is invalid: {err}") from err
        self.members_ = [self._load_member(path / f"member_{i}.safetensors")
                         for i in range(n_models)]
        self.history_ = list(meta.get("history") or [])
        return self

    def _load_member(self, file: Path) -> Any:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from scifm.models import mpnn_build as mb

        model = mb.build_model(self.arch_, self.scaling_, self.descriptors_)
        try:
            model.load_state_dict(load_file(str(file)))
        except (OSError, RuntimeError, SafetensorError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RunDirError(f"cannot load {file}: {first}") from None
        return model.eval()


def load_mpnn(path: Path) -> MPNNPredictor:
    """The ``mpnn`` family's loader (refused in one line when chemprop is not installed)."""
    require_chemprop(f"loading the mpnn model in {path}")
    return MPNNPredictor.load(path)
