"""The ``ensemble`` family: a weighted average of other saved predictors.

Saved without pickle as a folder::

    model/
      scifm.json            family "ensemble", task, modality, members, weights
      members/<family>/     each member as its own family saves it (with its scifm.json)

Weights are non-negative and sum to 1, so averaged probabilities stay probabilities (multiclass
rows still sum to 1) and regression outputs stay in target units. The weights come from
:func:`greedy_weights` on out-of-fold predictions (``scifm auto``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scifm.errors import RunDirError
from scifm.models.base import MODEL_META, Predictor, read_model_json
from scifm.models.manifest import staged_folder
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

MEMBERS_DIR = "members"


class EnsemblePredictor:
    """Weighted average of member predictors' outputs.

    Parameters
    ----------
    task, modality
        Shared by every member.
    members
        ``name -> predictor`` (fitted, or fitted by :meth:`fit`).
    weights
        ``name -> weight`` (>= 0; normalised to sum to 1); members with weight 0 are dropped.
    """

    family = "ensemble"

    def __init__(self, task: TaskSpec, modality: str, members: dict[str, Predictor],
                 weights: dict[str, float]) -> None:
        if set(weights) - set(members):
            raise ValueError(f"weights for unknown members {sorted(set(weights) - set(members))}")
        w = {k: float(v) for k, v in weights.items() if float(v) > 0}
        if not w or any(v != v for v in w.values()):
            raise ValueError("an ensemble needs at least one positive, finite weight")
        total = sum(w.values())
        self.task = task
        self.modality = modality
        self.weights = {k: v / total for k, v in w.items()}
        self.members = {k: members[k] for k in self.weights}
        self.history_: list[dict[str, Any]] = []

    def fit(self, x_train: Sequence[str], y_train: np.ndarray,
            x_val: Sequence[str] | None = None,
            y_val: np.ndarray | None = None) -> EnsemblePredictor:
        """Fit every member on the same data (weights are kept)."""
        for member in self.members.values():
            member.fit(x_train, y_train, x_val, y_val)
        return self

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """``sum_k w_k * member_k.predict(x)``, shape ``n x task.n_outputs``."""
        return self.predict_with_spread(x)[0]

    def predict_with_spread(self, x: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """The weighted mean of the members and their weighted standard deviation around it
        (the members' disagreement: a raw uncertainty score, :mod:`scifm.trust.uncertainty`;
        None when one member carries all the weight)."""
        out = np.zeros((len(x), self.task.n_outputs))
        preds = {}
        for name, member in self.members.items():
            preds[name] = np.asarray(member.predict(x)).reshape(out.shape)
            out += self.weights[name] * preds[name]
        if len(preds) < 2:
            return out, None
        w = np.array([self.weights[n] for n in preds]) / sum(self.weights[n] for n in preds)
        var = sum(wk * (p - out) ** 2 for wk, p in zip(w, preds.values(), strict=True))
        return out, np.sqrt(var)

    def save(self, path: Path) -> None:
        """Each member under ``members/<name>/`` (as its family saves it), then ``scifm.json``
        (:func:`save_with_members`)."""
        save_with_members(path, self.members, {
            "family": self.family, "modality": self.modality, "task": self.task.to_dict(),
            "members": list(self.members), "weights": self.weights})

    @classmethod
    def load(cls, path: Path) -> EnsemblePredictor:
        """Load every member with :func:`scifm.models.load_predictor` (no pickle).

        Raises
        ------
        RunDirError
            ``scifm.json`` or a member is missing or invalid.
        """
        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        try:
            weights = {str(k): float(v) for k, v in meta["weights"].items()}
            task, modality = TaskSpec.from_dict(meta["task"]), str(meta["modality"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise RunDirError(f"{path / MODEL_META} is not a valid ensemble: {err!r}") from None
        members = load_members(path, list(weights))
        try:
            return cls(task, modality, members, weights)
        except ValueError as err:
            raise RunDirError(f"{path / MODEL_META}: {err}") from None


def save_with_members(path: Path, members: dict[str, Predictor], meta: dict[str, Any]) -> None:
    """A model made of member models (``ensemble``, ``stacking``): each member under
    ``members/<name>/`` as its family saves it, then ``meta`` as ``scifm.json``, in a staged
    folder that replaces ``path`` as a whole; its manifest covers every file, the members'
    included (:func:`~scifm.models.manifest.staged_folder`)."""
    with staged_folder(Path(path)) as tmp:
        for name, member in members.items():
            member.save(tmp / MEMBERS_DIR / name)
        atomic_write_json(tmp / MODEL_META, meta)


def load_members(path: Path, names: Sequence[str]) -> dict[str, Predictor]:
    """The members ``names`` saved by :func:`save_with_members` (no pickle; the outer model's
    manifest, checked by ``load_predictor``, covers their files)."""
    from scifm.models.registry import load_predictor

    return {name: load_predictor(Path(path) / MEMBERS_DIR / name, verify=False)
            for name in names}


def greedy_weights(preds: dict[str, np.ndarray], score: Callable[[np.ndarray], float],
                   higher_is_better: bool, rounds: int = 25) -> dict[str, float]:
    """Caruana et al. (2004) greedy ensemble selection with replacement.

    Start from the best single member; each round adds (again, possibly) the member whose
    addition gives the best score of the running average. Weights = times chosen / rounds, so
    they are non-negative and sum to 1.

    Parameters
    ----------
    preds
        ``name -> predictions`` on the same rows (out-of-fold).
    score
        ``predictions -> metric`` (NaN counts as worst).
    higher_is_better
        Direction of ``score``.
    rounds
        Members added in total (the first one included).
    """
    names = list(preds)
    if not names:
        raise ValueError("no predictions to ensemble")
    sign = 1.0 if higher_is_better else -1.0

    def key(p: np.ndarray) -> float:
        s = score(p)
        return sign * s if s == s else -np.inf

    counts = dict.fromkeys(names, 0)
    total = np.zeros_like(np.asarray(preds[names[0]], dtype=np.float64))
    for k in range(rounds):
        best = max(names, key=lambda n: key((total + preds[n]) / (k + 1)))
        counts[best] += 1
        total = total + preds[best]
    return {n: c / rounds for n, c in counts.items() if c}
