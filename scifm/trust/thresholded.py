"""The ``thresholded`` family: a binary model whose decisions use per-group thresholds.

Written by ``scifm audit --mitigate`` (:mod:`scifm.recipes.audit`); ``scifm predict`` and
``scifm evaluate`` load it like any other model. Saved without pickle as a folder::

    model/
      scifm.json          family "thresholded", task, modality, data (the group column is an
                          extra input column), group_col, rule (:mod:`scifm.trust.mitigation`)
      members/base/       the original model, as its family saved it

Each record carries its group in the further input column ``group_col``
(:class:`scifm.data.datapoints.Datapoint`); the base model scores the record and the rule turns
the score into a 0/1 decision (:func:`scifm.trust.mitigation.decide`, keyed on the primary input
and the group, so the same row always gets the same answer). The prediction is that decision
(0.0 / 1.0): a post-processed classifier is a decision rule, not a probability, so ``prob_*``
columns are 0/1 and an ROC-AUC of its output is its balanced accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scifm.data.datapoints import Datapoint, as_datapoint
from scifm.errors import ConfigError, RunDirError
from scifm.models.base import MODEL_META, Predictor, read_model_json
from scifm.models.ensemble import load_members, save_with_members
from scifm.tasks import TaskSpec
from scifm.trust.groups import group_key
from scifm.trust.mitigation import check_rule, decide

logger = logging.getLogger(__name__)

FAMILY = "thresholded"
"""The family name in ``scifm.json``."""
BASE = "base"
"""The member name of the original model (``members/base/``)."""


class ThresholdedPredictor:
    """A fitted binary predictor and a per-group threshold rule on its scores.

    Parameters
    ----------
    base
        The original model (one binary task).
    rule
        Per-group thresholds (:func:`scifm.trust.mitigation.fit_rule`).
    group_col
        The further input column that holds each record's group.
    info
        The rest of ``scifm.json`` (``modality``, ``data`` with ``group_col`` among its input
        columns, ...), written back unchanged.
    """

    family = FAMILY

    def __init__(self, base: Predictor, rule: dict[str, Any], group_col: str,
                 info: dict[str, Any]) -> None:
        if base.task.task_type != "binary" or base.task.n_tasks != 1:
            raise ValueError("per-group thresholds need a model of one binary task")
        check_rule(rule)
        self.base, self.rule, self.group_col = base, rule, group_col
        self.task: TaskSpec = base.task
        self.info = {k: v for k, v in info.items() if k not in ("family", "rule", "group_col")}
        self.history_: list[dict[str, Any]] = []

    def fit(self, x_train: Sequence[str], y_train: np.ndarray,
            x_val: Sequence[str] | None = None,
            y_val: np.ndarray | None = None) -> ThresholdedPredictor:
        """Not trainable: ``scifm audit --mitigate`` makes it from a trained run."""
        raise ConfigError("a thresholded model is made by `scifm audit --mitigate`, not trained")

    def groups(self, x: Sequence[Datapoint | str]) -> list[str | None]:
        """The group of each record (``None`` when it has no ``group_col`` value)."""
        return [group_key(as_datapoint(r).get(self.group_col)) for r in x]

    def predict(self, x: Sequence[Datapoint | str]) -> np.ndarray:
        """0/1 decisions, shape ``n x 1``; a group the rule does not know is thresholded at
        ``default_threshold`` (with a warning)."""
        scores = np.asarray(self.base.predict(x), dtype=float).reshape(len(x), -1)[:, 0]
        groups = self.groups(x)
        unknown = sorted({str(g) for g in groups} - set(self.rule["groups"]))
        if unknown:
            logger.warning("groups %s of column %r were not seen by the mitigation: thresholded "
                           "at %s", ", ".join(unknown[:5]), self.group_col,
                           self.rule.get("default_threshold", 0.5))
        keys = [f"{as_datapoint(r).primary}\x1f{g}" for r, g in zip(x, groups, strict=True)]
        return decide(self.rule, scores, groups, keys).astype(float)[:, None]

    def save(self, path: Path) -> None:
        """The base model under ``members/base/``, then ``scifm.json`` with the rule."""
        save_with_members(path, {BASE: self.base}, {
            **self.info, "family": FAMILY, "task": self.task.to_dict(),
            "group_col": self.group_col, "rule": self.rule})

    @classmethod
    def load(cls, path: Path) -> ThresholdedPredictor:
        """Load the base model with :func:`scifm.models.load_predictor` and the JSON rule.

        Raises
        ------
        RunDirError
            ``scifm.json`` or the base model is missing or invalid.
        """
        path = Path(path)
        info = read_model_json(path / MODEL_META)
        base = load_members(path, [BASE])[BASE]
        try:
            return cls(base, dict(info["rule"]), str(info["group_col"]), info)
        except (ValueError, KeyError, TypeError) as err:
            raise RunDirError(f"{path / MODEL_META} is not a valid thresholded model: {err!r}"
                              ) from None
