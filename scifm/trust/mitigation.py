"""Per-group thresholds that equalise error rates (Fairlearn's ``ThresholdOptimizer``), as JSON.

:func:`fit_rule` fits Fairlearn's :class:`~fairlearn.postprocessing.ThresholdOptimizer` (Hardt
et al. 2016) on a model's scores, the true labels and the groups, under ``equalized_odds`` (equal
TPR *and* FPR) or ``true_positive_rate_parity`` (equal TPR: equal opportunity), maximising
accuracy. Its solution is a *randomised* rule per group, kept here as plain JSON (a "rule"; no
pickle)::

    {"constraint": "equalized_odds", "objective": "accuracy_score",
     "groups": {"<group>": {"p0": 0.94, "op0": [">", 0.54], "p1": 0.06, "op1": [">", 0.51],
                            "p_ignore": 0.12, "constant": 0.13}, ...},
     "default_threshold": 0.5}

Row ``i`` of group ``g`` is positive with probability ``p_ignore * constant + (1 - p_ignore) *
(p0 * [s_i op0 t0] + p1 * [s_i op1 t1])`` (:func:`positive_probability`; ``p_ignore`` and
``constant`` are absent for ``true_positive_rate_parity``); a threshold is a number or the
string ``"inf"`` / ``"-inf"``. :func:`decide` draws the decision with a uniform number derived
from the row's key (its input and group; SHA-256), so the same row always gets the same answer and
the rates hold in expectation, as Fairlearn's ``predict`` with a random draw would. A group the
rule does not know is thresholded at ``default_threshold``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

__all__ = ["CONSTRAINTS", "ScoreColumn", "check_rule", "decide", "fit_rule",
           "positive_probability", "row_uniforms"]

CONSTRAINTS = ("equalized_odds", "true_positive_rate_parity")
"""The constraints ``--mitigate`` accepts."""


class ScoreColumn(BaseEstimator):
    """A fitted "estimator" that returns the first column of ``X``: lets ``ThresholdOptimizer``
    (``prefit=True``, ``predict_method="predict"``) threshold scores computed elsewhere."""

    def fit(self, X: Any, y: Any = None) -> ScoreColumn:  # noqa: N803 - scikit-learn's names
        """Nothing to learn; marks the estimator fitted."""
        self.fitted_ = True
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """The scores: the first column of ``X``."""
        return np.asarray(X, dtype=float)[:, 0]


def _threshold(value: float) -> float | str:
    value = float(value)
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _operation(op: Any) -> list[Any]:
    return [str(op.operator), _threshold(op.threshold)]


def fit_rule(scores: np.ndarray, y_true: np.ndarray, groups: Sequence[str],
             constraint: str = "equalized_odds", grid_size: int = 1000) -> dict[str, Any]:
    """Fit per-group randomised thresholds on ``scores`` (0/1 ``y_true``); returns the rule.

    Raises
    ------
    ValueError
        An unknown constraint, or a group without both labels (Fairlearn cannot place a
        threshold there).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {constraint!r}; expected one of {CONSTRAINTS}")
    y = np.asarray(y_true, dtype=int)
    g = np.asarray([str(x) for x in groups], dtype=object)
    for name in sorted(set(g)):
        if len(set(y[g == name])) < 2:
            raise ValueError(f"group {name!r} has only one label: thresholds need positives and "
                             "negatives in every group")
    opt = ThresholdOptimizer(estimator=ScoreColumn().fit(None), constraints=constraint,
                             objective="accuracy_score", grid_size=grid_size, prefit=True,
                             predict_method="predict")
    opt.fit(pd.DataFrame({"score": np.asarray(scores, dtype=float)}), y, sensitive_features=g)
    rule_groups = {}
    for name, part in opt.interpolated_thresholder_.interpolation_dict.items():
        entry = {"p0": float(part.p0), "op0": _operation(part.operation0),
                 "p1": float(part.p1), "op1": _operation(part.operation1)}
        if "p_ignore" in part:
            entry |= {"p_ignore": float(part.p_ignore),
                      "constant": float(part.prediction_constant)}
        rule_groups[str(name)] = entry
    rule = {"constraint": constraint, "objective": "accuracy_score", "groups": rule_groups,
            "default_threshold": 0.5}
    check_rule(rule)
    return rule


def check_rule(rule: dict[str, Any]) -> None:
    """Raise ``ValueError`` unless ``rule`` is a well-formed rule (see the module docstring)."""
    if rule.get("constraint") not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {rule.get('constraint')!r}")
    groups = rule.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ValueError("a rule needs per-group thresholds ('groups')")
    float(rule.get("default_threshold", 0.5))
    for name, e in groups.items():
        probs = [float(e["p0"]), float(e["p1"]), float(e.get("p_ignore", 0.0)),
                 float(e.get("constant", 0.0))]
        if not all(0.0 <= p <= 1.0 for p in probs) or abs(probs[0] + probs[1] - 1) > 1e-6:
            raise ValueError(f"group {name!r}: probabilities out of range or p0 + p1 != 1")
        for op in (e["op0"], e["op1"]):
            if not (isinstance(op, list) and len(op) == 2 and op[0] in (">", "<")):
                raise ValueError(f"group {name!r}: an operation is [\">\" | \"<\", threshold]")
            float(op[1])


def _apply(op: list[Any], s: np.ndarray) -> np.ndarray:
    t = float(op[1])
    return (s > t) if op[0] == ">" else (s < t)


def positive_probability(rule: dict[str, Any], scores: np.ndarray,
                         groups: Sequence[str | None]) -> np.ndarray:
    """Probability that the rule calls each row positive, shape ``n``."""
    s = np.asarray(scores, dtype=float)
    g = np.asarray([None if x is None else str(x) for x in groups], dtype=object)
    out = (s >= float(rule.get("default_threshold", 0.5))).astype(float)
    for name, e in rule["groups"].items():
        m = g == name
        mixed = e["p0"] * _apply(e["op0"], s[m]) + e["p1"] * _apply(e["op1"], s[m])
        if "p_ignore" in e:
            mixed = e["p_ignore"] * e["constant"] + (1 - e["p_ignore"]) * mixed
        out[m] = mixed
    return out


def row_uniforms(keys: Sequence[str]) -> np.ndarray:
    """A uniform number in [0, 1) per key, the same for the same key on every run (SHA-256)."""
    return np.array([int.from_bytes(hashlib.sha256(k.encode("utf-8", "surrogatepass")).digest()
                                    [:7], "big") / 2.0**56 for k in keys])


def decide(rule: dict[str, Any], scores: np.ndarray, groups: Sequence[str | None],
           keys: Sequence[str]) -> np.ndarray:
    """0/1 decisions of the rule: positive when the row's uniform (:func:`row_uniforms` of
    ``keys``, e.g. input + group) is below its :func:`positive_probability`."""
    return (row_uniforms(keys) < positive_probability(rule, scores, groups)).astype(int)
