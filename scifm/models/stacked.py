"""The ``stacking`` family: a regularised linear meta-model on other saved predictors' outputs.

Saved without pickle as a folder::

    model/
      scifm.json            family "stacking", task, modality, members, meta (JSON numbers)
      members/<family>/     each member as its own family saves it (with its scifm.json)

The meta-model is plain JSON (``kind``, ``members``, ``coef``, ``intercept``, ``eps``), so a saved
run needs neither pickle nor scikit-learn to be read back. Its input features are the members'
predictions, in the order of ``members``:

* ``ridge`` (regression): per task ``t``, ``sum_k coef[t][k] * pred_k[:, t] + intercept[t]``;
* ``logistic`` (binary): per task ``t``, ``sigmoid(sum_k coef[t][k] * logit(p_k[:, t]) +
  intercept[t])``, ``p`` clipped to ``[eps, 1 - eps]``;
* ``multinomial`` (multiclass): ``softmax(coef @ z + intercept)`` with ``z`` the members'
  ``log(p)`` (clipped) concatenated member by member (``coef`` is ``n_classes x
  n_members * n_classes``).

:func:`fit_meta` fits it with scikit-learn (``RidgeCV`` / L2 ``LogisticRegression``) on
out-of-fold predictions (``scifm auto``, :mod:`scifm.tuning.stacking`); :func:`apply_meta`
evaluates it with numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scifm.errors import RunDirError
from scifm.models.base import MODEL_META, Predictor, read_model_json
from scifm.models.ensemble import load_members, save_with_members
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

EPS = 1e-6
"""Probabilities are clipped to ``[EPS, 1 - EPS]`` before ``logit`` / ``log``."""
KINDS = {"regression": "ridge", "binary": "logistic", "multiclass": "multinomial"}
"""The meta-model kind of each task type."""
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""Ridge penalties tried (efficient leave-one-out, on predictions scaled by the target's std)."""
ABSENT_LOGIT = -50.0
"""Multiclass intercept of a class absent from the meta-model's training rows."""


class StackedPredictor:
    """A meta-model (:func:`apply_meta`) on member predictors' outputs.

    Parameters
    ----------
    task, modality
        Shared by every member.
    members
        ``name -> predictor`` (fitted, or fitted by :meth:`fit`); must hold every name in
        ``meta["members"]`` (others are dropped).
    meta
        The meta-model as JSON data (:func:`fit_meta`, ``StackChoice.meta``).
    """

    family = "stacking"

    def __init__(self, task: TaskSpec, modality: str, members: dict[str, Predictor],
                 meta: dict[str, Any]) -> None:
        check_meta(meta, task)
        missing = [m for m in meta["members"] if m not in members]
        if missing:
            raise ValueError(f"the meta-model needs members {missing}, not given")
        self.task = task
        self.modality = modality
        self.meta = meta
        self.members = {k: members[k] for k in meta["members"]}
        self.history_: list[dict[str, Any]] = []

    def fit(self, x_train: Sequence[str], y_train: np.ndarray,
            x_val: Sequence[str] | None = None,
            y_val: np.ndarray | None = None) -> StackedPredictor:
        """Fit every member on the same data (the meta-model is kept)."""
        for member in self.members.values():
            member.fit(x_train, y_train, x_val, y_val)
        return self

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """The meta-model on the members' predictions, shape ``n x task.n_outputs``."""
        shape = (len(x), self.task.n_outputs)
        preds = {k: np.asarray(m.predict(x), dtype=np.float64).reshape(shape)
                 for k, m in self.members.items()}
        return apply_meta(self.meta, preds)

    def save(self, path: Path) -> None:
        """Each member under ``members/<name>/`` (as its family saves it), then ``scifm.json``
        with the meta-model (:func:`~scifm.models.ensemble.save_with_members`)."""
        save_with_members(path, self.members, {
            "family": self.family, "modality": self.modality, "task": self.task.to_dict(),
            "members": list(self.members), "meta": self.meta})

    @classmethod
    def load(cls, path: Path) -> StackedPredictor:
        """Load every member with :func:`scifm.models.load_predictor` (no pickle).

        Raises
        ------
        RunDirError
            ``scifm.json`` or a member is missing or invalid.
        """
        path = Path(path)
        info = read_model_json(path / MODEL_META)
        try:
            task, modality = TaskSpec.from_dict(info["task"]), str(info["modality"])
            meta = dict(info["meta"])
            check_meta(meta, task)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise RunDirError(f"{path / MODEL_META} is not a valid stacking model: {err!r}"
                              ) from None
        return cls(task, modality, load_members(path, meta["members"]), meta)


def check_meta(meta: dict[str, Any], task: TaskSpec) -> None:
    """Raise ``ValueError`` unless ``meta`` is a meta-model of the right shape for ``task``."""
    kind, names = meta.get("kind"), meta.get("members")
    if kind != KINDS[task.task_type]:
        raise ValueError(f"meta-model kind {kind!r} does not fit a {task.task_type} task")
    if not isinstance(names, list) or not names or len(set(names)) != len(names):
        raise ValueError("the meta-model needs a list of distinct member names")
    coef = np.asarray(meta.get("coef"), dtype=np.float64)
    intercept = np.asarray(meta.get("intercept"), dtype=np.float64)
    k = task.n_outputs
    want = (k, len(names) * k) if kind == "multinomial" else (task.n_tasks, len(names))
    if coef.shape != want or intercept.shape != (want[0],):
        raise ValueError(f"meta-model coefficients of shape {coef.shape} / {intercept.shape}, "
                         f"expected {want} / {(want[0],)}")
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise ValueError("meta-model coefficients must be finite")


def _features(meta: dict[str, Any], preds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Per output group: ``n x n_features`` inputs of the meta-model (one group for
    multinomial, one per task otherwise)."""
    eps = float(meta.get("eps", EPS))
    cols = [np.asarray(preds[m], dtype=np.float64) for m in meta["members"]]
    cols = [c[:, None] if c.ndim == 1 else c for c in cols]
    if meta["kind"] == "multinomial":
        return [np.log(np.clip(np.concatenate(cols, axis=1), eps, 1.0))]
    if meta["kind"] == "logistic":
        cols = [np.log(np.clip(c, eps, 1 - eps)) - np.log1p(-np.clip(c, eps, 1 - eps))
                for c in cols]
    return [np.stack([c[:, t] for c in cols], axis=1) for t in range(cols[0].shape[1])]


def apply_meta(meta: dict[str, Any], preds: dict[str, np.ndarray]) -> np.ndarray:
    """The meta-model's predictions from the members' ``preds`` (``name -> n x n_outputs``).

    Returns
    -------
    numpy.ndarray
        ``n x n_outputs``: values (ridge), probabilities (logistic) or class probabilities
        (multinomial); rows where a member's prediction is NaN are NaN.
    """
    coef = np.asarray(meta["coef"], dtype=np.float64)
    intercept = np.asarray(meta["intercept"], dtype=np.float64)
    groups = _features(meta, preds)
    if meta["kind"] == "multinomial":
        z = groups[0] @ coef.T + intercept
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)
    out = np.stack([x @ coef[t] + intercept[t] for t, x in enumerate(groups)], axis=1)
    return 1.0 / (1.0 + np.exp(-out)) if meta["kind"] == "logistic" else out


def fit_meta(task: TaskSpec, preds: dict[str, np.ndarray], y: np.ndarray, c: float = 1.0,
             seed: int = 0) -> dict[str, Any]:
    """Fit the meta-model of ``task`` on the members' ``preds`` (same rows as ``y``).

    Parameters
    ----------
    task
        Regression: ``RidgeCV`` per task; binary: L2 logistic regression per task on
        ``logit(p)``; multiclass: multinomial logistic regression on the members' ``log(p)``.
    preds
        ``name -> n x n_outputs`` predictions (finite; the caller drops uncovered rows).
    y
        ``n x n_tasks`` labels; NaN labels are skipped task by task.
    c
        Inverse L2 strength of the logistic regressions.
    seed
        ``random_state`` of the logistic regressions.

    Returns
    -------
    dict
        JSON data (plain floats) for :func:`apply_meta` and :class:`StackedPredictor`. A task
        without two label values to learn from gets the members' plain average (of values,
        logits or log-probabilities).
    """
    meta: dict[str, Any] = {"kind": KINDS[task.task_type], "members": list(preds), "eps": EPS}
    y = np.asarray(y, dtype=np.float64).reshape(len(y), task.n_tasks)
    groups = _features(meta, preds)
    coefs, intercepts = [], []
    for t, x in enumerate(groups):
        fit = {"ridge": _fit_ridge, "logistic": _fit_logistic,
               "multinomial": _fit_multinomial}[meta["kind"]]
        coef, intercept = fit(x, y[:, t], task, c, seed)
        coefs.extend(coef)
        intercepts.extend(intercept)
    meta["coef"] = [[float(v) for v in row] for row in coefs]
    meta["intercept"] = [float(v) for v in intercepts]
    return meta


def _fit_ridge(x: np.ndarray, y: np.ndarray, task: TaskSpec, c: float, seed: int
               ) -> tuple[list[np.ndarray], list[float]]:
    from sklearn.linear_model import RidgeCV

    ok = np.isfinite(y)
    if ok.sum() < 3:
        return [np.full(x.shape[1], 1.0 / x.shape[1])], [0.0]
    scale = float(np.std(y[ok])) or 1.0  # alphas independent of the target's units
    model = RidgeCV(alphas=RIDGE_ALPHAS).fit(x[ok] / scale, y[ok] / scale)
    return [np.asarray(model.coef_, dtype=np.float64)], [float(model.intercept_) * scale]


def _fit_logistic(x: np.ndarray, y: np.ndarray, task: TaskSpec, c: float, seed: int
                  ) -> tuple[list[np.ndarray], list[float]]:
    from sklearn.linear_model import LogisticRegression

    ok = np.isfinite(y)
    if len(np.unique(y[ok])) < 2:
        return [np.full(x.shape[1], 1.0 / x.shape[1])], [0.0]
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x[ok], y[ok])
    return [np.asarray(model.coef_[0], dtype=np.float64)], [float(model.intercept_[0])]


def _fit_multinomial(x: np.ndarray, y: np.ndarray, task: TaskSpec, c: float, seed: int
                     ) -> tuple[list[np.ndarray], list[float]]:
    from sklearn.linear_model import LogisticRegression

    k = task.n_outputs
    ok = np.isfinite(y)
    present = np.unique(y[ok]).astype(int)
    if len(present) < 2:  # the geometric mean of the members' probabilities
        avg = np.tile(np.eye(k), x.shape[1] // k) / (x.shape[1] // k)
        return list(avg), [0.0] * k
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x[ok], y[ok])
    coef = np.zeros((k, x.shape[1]))
    intercept = np.full(k, ABSENT_LOGIT)
    if len(present) == 2:  # scikit-learn keeps one row: class 1 vs class 0
        coef[present[1]], intercept[present] = model.coef_[0], (0.0, model.intercept_[0])
    else:
        coef[present], intercept[present] = model.coef_, model.intercept_
    return list(coef), [float(v) for v in intercept]
