"""The uncertainty layer of a saved model: calibration, conformal intervals / sets and the
applicability domain, fitted on the validation rows and saved in ``model/uncertainty/``.

It wraps no model: it takes the model's predictions (and the inputs, for the domain) and adds,
per target,

* regression: ``lower_<t>`` / ``upper_<t>`` (conformal interval at ``confidence``),
  ``spread_<t>`` (the members' standard deviation, for a model with members) and
  ``uncertainty_<t>`` (that spread, else the distance ``1 - similarity`` to the nearest training
  input when the modality has a similarity, else the interval's half-width);
* binary: ``cal_prob_<t>`` (calibrated probability), ``set_<t>`` (the conformal prediction set,
  class names joined by ``|``; empty = no label is plausible enough) and ``uncertainty_<t>``
  (``1 -`` the calibrated probability of the predicted class);
* multiclass: ``cal_prob_<class>`` per class, ``set_<t>`` and ``uncertainty_<t>``;

and per row ``nn_similarity`` and ``in_domain`` (:mod:`scifm.trust.domain`). Any family works,
the transformer and the ``auto`` ensemble included, because only predictions are needed.
Files: ``uncertainty.json`` (every fitted number) and ``reference.json`` (the training inputs of
the domain), both listed in the model folder's manifest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scifm.config.trust import UncertaintyConfig
from scifm.errors import RunDirError
from scifm.models.base import read_model_json
from scifm.models.manifest import update_manifest
from scifm.tasks import TaskSpec
from scifm.trust.calibration import Calibrator, candidates, choose
from scifm.trust.conformal import (
    IntervalRegressor,
    SetClassifier,
    choose_method,
    fit_regressor,
    fit_sets,
)
from scifm.trust.domain import ApplicabilityDomain, fit_domain
from scifm.trust.mc_dropout import mc_dropout_spread
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

FOLDER = "uncertainty"
STATE = "uncertainty.json"
REFERENCE = "reference.json"
MIN_CALIBRATION = 20
"""A target with fewer labelled validation rows gets no interval / set / calibration."""


def _kinds(setting: str, multiclass: bool, n: int) -> tuple[str, ...]:
    if setting == "auto":
        return candidates(multiclass, n)
    if multiclass:
        return ("temperature",) if setting == "temperature" else ("none",)
    return ("platt",) if setting == "temperature" else (setting,)


def _two_class(p: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - p, p], axis=1)


@dataclass
class Applied:
    """The layer applied to ``n`` predictions (arrays ``n x n_tasks`` unless said)."""

    calibrated: np.ndarray
    """Calibrated probabilities (shape of the predictions); regression: the predictions."""
    lower: np.ndarray
    upper: np.ndarray
    sets: list[np.ndarray | None]
    """Per target: ``n x k`` booleans (classification), None when not fitted / regression."""
    uncertainty: np.ndarray
    similarity: np.ndarray | None
    spread: np.ndarray | None = None
    """The ensemble members' standard deviation (regression), when the model has members."""


@dataclass
class Uncertainty:
    """Calibrators, conformal predictors and the domain of one model (see the module doc)."""

    task: TaskSpec
    confidence: float
    intervals: list[IntervalRegressor | None] = field(default_factory=list)
    calibrators: list[Calibrator | None] = field(default_factory=list)
    sets: list[SetClassifier | None] = field(default_factory=list)
    domain: ApplicabilityDomain | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    """How each part was chosen: ``{target: {"method", "widths"} | {"calibrator", "losses"}}``."""
    mc_dropout: int = 0
    """Monte-Carlo dropout passes whose spread the layer was fitted with (``predict`` makes as
    many); 0: none."""

    @classmethod
    def fit(cls, task: TaskSpec, cfg: UncertaintyConfig, modality: str, y_val: np.ndarray,
            p_val: np.ndarray, val_inputs: Sequence[Any], train_inputs: Sequence[Any],
            seed: int = 0, spread_val: np.ndarray | None = None) -> Uncertainty:
        """Fit every part on the validation rows (labels ``y_val``, predictions ``p_val`` and,
        for an ensemble, the members' spread ``spread_val``)."""
        layer = cls(task, cfg.confidence, mc_dropout=cfg.mc_dropout if spread_val is not None
                    else 0)
        diff: dict[str, np.ndarray] = {}
        if cfg.domain and ApplicabilityDomain.available(modality):
            layer.domain, s_val = fit_domain(modality, train_inputs, val_inputs,
                                             cfg.domain_quantile)
            diff["distance"] = 1.0 - s_val
        y_val = np.asarray(y_val, float).reshape(len(y_val), -1)
        for j, target in enumerate(task.target_cols):
            m = ~np.isnan(y_val[:, j])
            if m.sum() < MIN_CALIBRATION:
                layer.intervals.append(None)
                layer.calibrators.append(None)
                layer.sets.append(None)
                layer.notes[target] = {"skipped": f"{int(m.sum())} labelled validation rows "
                                                  f"(< {MIN_CALIBRATION})"}
                continue
            d = {k: v[m] for k, v in diff.items()}
            if spread_val is not None and task.task_type == "regression":
                d["spread"] = np.asarray(spread_val, float)[m, j]
            layer.notes[target] = layer._fit_target(j, cfg, y_val[m, j], p_val[m], d, seed)
        return layer

    def _fit_target(self, j: int, cfg: UncertaintyConfig, y: np.ndarray, p: np.ndarray,
                    difficulties: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
        if self.task.task_type == "regression":
            resid = y - p[:, j]
            if cfg.method == "auto":
                method, source, widths = choose_method(resid, difficulties, self.confidence,
                                                       seed)
            else:  # the configured method on the distance (the spread when there is none)
                source = next(iter(difficulties), None)
                method, widths = cfg.method, {}
            self.intervals.append(fit_regressor(method, resid, difficulties.get(source or ""),
                                                source))
            self.calibrators.append(None)
            self.sets.append(None)
            reg = self.intervals[-1]
            return {"method": reg.method, "difficulty": reg.source, "widths": widths}
        multiclass = self.task.task_type == "multiclass"
        scores = p if multiclass else p[:, j]
        cal, losses = choose(scores, y, _kinds(cfg.calibration, multiclass, len(y)), seed)
        pc = cal(scores)
        self.intervals.append(None)
        self.calibrators.append(cal)
        self.sets.append(fit_sets(pc if multiclass else _two_class(pc), y))
        return {"calibrator": cal.kind, "log_loss": losses}

    def apply(self, p: np.ndarray, inputs: Sequence[Any],
              spread: np.ndarray | None = None) -> Applied:
        """Calibrated probabilities, intervals, sets, uncertainty and similarity of rows
        predicted ``p`` (``n x n_outputs``) from ``inputs`` (``spread``: the ensemble members'
        standard deviation, when the model has one)."""
        p = np.asarray(p, float)
        n, t = len(p), self.task.n_tasks
        sim = self.domain.similarity(inputs) if self.domain is not None else None
        out = Applied(p.copy(), np.full((n, t), np.nan), np.full((n, t), np.nan), [None] * t,
                      np.full((n, t), np.nan), sim, spread)
        multiclass = self.task.task_type == "multiclass"
        for j in range(t):
            if self.intervals[j] is not None:
                d = {"distance": None if sim is None else 1 - sim,
                     "spread": None if spread is None else spread[:, j]}
                iv = self.intervals[j].interval(p[:, j], d.get(self.intervals[j].source or ""),
                                                self.confidence)
                out.lower[:, j], out.upper[:, j] = iv[:, 0], iv[:, 1]
                score = d["spread"] if d["spread"] is not None else d["distance"]
                out.uncertainty[:, j] = score if score is not None else (iv[:, 1] - iv[:, 0]) / 2
            elif self.calibrators[j] is not None:
                pc = self.calibrators[j](p if multiclass else p[:, j])
                probs = pc if multiclass else _two_class(pc)
                if multiclass:
                    out.calibrated = pc
                else:
                    out.calibrated[:, j] = pc
                out.sets[j] = self.sets[j].sets(probs, self.confidence)
                out.uncertainty[:, j] = 1.0 - probs.max(axis=1)
        return out

    def columns(self, applied: Applied) -> dict[str, np.ndarray]:
        """The output columns of :meth:`apply` (names in the module doc)."""
        cols: dict[str, np.ndarray] = {}
        task = self.task
        names = task.classes or ["0", "1"]
        for j, t in enumerate(task.target_cols):
            if task.task_type == "regression":
                cols[f"lower_{t}"], cols[f"upper_{t}"] = applied.lower[:, j], applied.upper[:, j]
            elif task.task_type == "binary":
                cols[f"cal_prob_{t}"] = applied.calibrated[:, j]
            else:
                for k, c in enumerate(task.classes):
                    cols[f"cal_prob_{c}"] = applied.calibrated[:, k]
            if applied.sets[j] is not None:
                cols[f"set_{t}"] = np.array(["|".join(n for n, keep in zip(names, row,
                                                                          strict=True) if keep)
                                             for row in applied.sets[j]], dtype=object)
            cols[f"uncertainty_{t}"] = applied.uncertainty[:, j]
            if applied.spread is not None and task.task_type != "multiclass":
                cols[f"spread_{t}"] = applied.spread[:, j]
        if applied.similarity is not None and self.domain is not None:
            cols["nn_similarity"] = applied.similarity
            cols["in_domain"] = self.domain.in_domain(applied.similarity)
        return cols

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task.to_dict(), "confidence": self.confidence, "notes": self.notes,
                "intervals": [None if r is None else r.to_dict() for r in self.intervals],
                "calibrators": [None if c is None else c.to_dict() for c in self.calibrators],
                "sets": [None if s is None else s.to_dict() for s in self.sets],
                "domain": None if self.domain is None else self.domain.to_dict(),
                "mc_dropout": self.mc_dropout}

    def save(self, model_dir: Path) -> None:
        """Write ``model_dir/uncertainty/`` and list its files in the model's manifest."""
        folder = Path(model_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / REFERENCE, self.domain.reference if self.domain else [])
        atomic_write_json(folder / STATE, self.to_dict())
        update_manifest(Path(model_dir), f"{FOLDER}/{REFERENCE}", f"{FOLDER}/{STATE}")

    @classmethod
    def load(cls, model_dir: Path) -> Uncertainty | None:
        """The layer saved in ``model_dir`` (None when the model has none)."""
        folder = Path(model_dir) / FOLDER
        if not (folder / STATE).is_file():
            return None
        d = read_model_json(folder / STATE)
        reference = _read_list(folder / REFERENCE)
        return cls(TaskSpec.from_dict(d["task"]), float(d["confidence"]),
                   [None if r is None else IntervalRegressor.from_dict(r)
                    for r in d["intervals"]],
                   [None if c is None else Calibrator.from_dict(c) for c in d["calibrators"]],
                   [None if s is None else SetClassifier.from_dict(s) for s in d["sets"]],
                   None if d.get("domain") is None else
                   ApplicabilityDomain.from_dict(d["domain"], reference), d.get("notes", {}),
                   int(d.get("mc_dropout", 0)))


def _read_list(file: Path) -> list[str]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunDirError(f"cannot read {file}: {err}") from None
    if not isinstance(data, list):
        raise RunDirError(f"{file} does not hold a JSON list")
    return [str(x) for x in data]


def predict_spread(predictor: Any, inputs: Sequence[Any],
                   mc_dropout: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and a raw spread: for a model with members (``predict_with_spread``: the
    ``auto`` weighted average, an mpnn ensemble) the members' standard deviation, else with
    ``mc_dropout >= 2`` that of as many Monte-Carlo dropout passes (torch models,
    :mod:`scifm.trust.mc_dropout`)."""
    if hasattr(predictor, "predict_with_spread"):
        p, spread = predictor.predict_with_spread(inputs)
        return np.asarray(p, float), None if spread is None else np.asarray(spread, float)
    p = np.asarray(predictor.predict(inputs), float)
    return p, mc_dropout_spread(predictor, inputs, mc_dropout) if mc_dropout else None


def prediction_extras(model_dir: Path) -> Callable[[Any, list], tuple[np.ndarray, dict]] | None:
    """The prediction with the uncertainty layer's columns, as a function of the predictor and
    the inputs (None when the model has no layer): ``scifm predict``'s ``ChunkJob.extras``."""
    layer = Uncertainty.load(model_dir)
    if layer is None:
        return None

    def extra(predictor: Any, inputs: list) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p, spread = predict_spread(predictor, inputs, layer.mc_dropout)
        return p, layer.columns(layer.apply(p, inputs, spread))

    return extra
