"""Conformal prediction (crepes): intervals for regression, prediction sets for classification.

Split-conformal, calibrated on the validation rows after training: with ``n`` calibration rows
exchangeable with the new ones, an interval at confidence ``c`` covers the true value with
probability at least ``c`` (and at most ``c + 1/(n+1)``).

* :class:`IntervalRegressor`: ``standard`` (``y_hat +- q``, one width), ``normalized`` (``y_hat
  +- q * sigma``, ``sigma`` = the input's *difficulty*: its distance to the nearest training
  input, plus the median distance so that near-duplicates still get a width) or ``mondrian``
  (standard, calibrated separately in three equal-count bins of that distance); for an ensemble
  (the ``auto`` weighted average, an mpnn with several members) the difficulty can also be the
  members' ``spread``. ``auto`` (:func:`choose_method`) fits each on one half of the validation
  rows, measures the mean width on the other half (and the other way round) and keeps the
  narrowest.
* :class:`SetClassifier`: label-conditional (Mondrian by class) sets from the non-conformity
  ``1 - p(label)`` of calibrated probabilities: every class is covered at the nominal level, not
  only the frequent one.

The state saved is the calibration scores themselves (JSON); crepes refits from them on load.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from crepes import ConformalClassifier, ConformalRegressor
from crepes.extras import binning

METHODS = ("standard", "normalized", "mondrian")
MONDRIAN_BINS = 3


def _quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)`` without crepes' warning that a calibration set (bin) is too small
    for the level: the interval is then infinite, which the metrics and columns show."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@dataclass
class IntervalRegressor:
    """A conformal regressor of one target.

    Attributes
    ----------
    method
        ``standard``, ``normalized`` or ``mondrian``.
    residuals, difficulty
        Of the calibration rows (``difficulty`` empty for ``standard``).
    beta
        Added to the difficulty (``normalized``).
    edges
        Inner bin thresholds of the difficulty (``mondrian``).
    """

    method: str
    residuals: list[float]
    difficulty: list[float] = field(default_factory=list)
    beta: float = 0.0
    edges: list[float] = field(default_factory=list)
    source: str | None = None
    """What the difficulty is: ``distance`` (to the nearest training input) or ``spread`` (of
    an ensemble's members); None for ``standard``."""

    def __post_init__(self) -> None:
        r = np.asarray(self.residuals, float)
        d = np.asarray(self.difficulty, float)
        self._model = ConformalRegressor()
        if self.method == "normalized":
            self._model.fit(r, sigmas=d + self.beta)
        elif self.method == "mondrian":
            self._model.fit(r, bins=self._bins(d))
        else:
            self._model.fit(r)

    def _bins(self, d: np.ndarray) -> np.ndarray:
        return binning(d, bins=np.array([-np.inf, *self.edges, np.inf]))

    def interval(self, y_hat: np.ndarray, difficulty: np.ndarray | None,
                 confidence: float) -> np.ndarray:
        """``n x 2`` lower and upper bounds (infinite when the calibration set is too small
        for ``confidence``)."""
        y_hat = np.asarray(y_hat, float)
        kw: dict[str, Any] = {}
        if self.method == "normalized":
            kw["sigmas"] = np.asarray(difficulty, float) + self.beta
        elif self.method == "mondrian":
            kw["bins"] = self._bins(np.asarray(difficulty, float))
        return _quiet(self._model.predict_int, y_hat, confidence=confidence, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "residuals": self.residuals, "source": self.source,
                "difficulty": self.difficulty, "beta": self.beta, "edges": self.edges}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntervalRegressor:
        return cls(d["method"], list(d["residuals"]), list(d.get("difficulty", [])),
                   float(d.get("beta", 0.0)), list(d.get("edges", [])), d.get("source"))


def fit_regressor(method: str, residuals: np.ndarray, difficulty: np.ndarray | None,
                  source: str | None = "distance") -> IntervalRegressor:
    """A conformal regressor of ``method`` on calibration residuals (``y - y_hat``) and the
    calibration rows' ``difficulty`` (from ``source``)."""
    r = [float(v) for v in residuals]
    if method == "standard" or difficulty is None:
        return IntervalRegressor("standard", r)
    d = np.asarray(difficulty, float)
    if method == "normalized":
        beta = float(np.median(d)) or 1e-3
        return IntervalRegressor("normalized", r, d.tolist(), beta=beta, source=source)
    _, edges = _quiet(binning, d, bins=MONDRIAN_BINS, epsilon=0.0)
    inner = np.asarray(edges, float)[1:-1]  # the outer ones are -inf and inf (not JSON)
    return IntervalRegressor("mondrian", r, d.tolist(), edges=inner.tolist(), source=source)


def choose_method(residuals: np.ndarray, difficulties: dict[str, np.ndarray],
                  confidence: float, seed: int = 0,
                  ) -> tuple[str, str | None, dict[str, float]]:
    """The method (and difficulty source) with the narrowest mean finite width, each fitted on
    one half of the calibration rows and measured on the other (both ways).

    Parameters
    ----------
    difficulties
        ``source -> difficulty of each calibration row`` (``distance`` to the training set,
        ``spread`` of an ensemble); may be empty.

    Returns
    -------
    (method, source, {"standard" | "<method>/<source>": mean width})
        ``("standard", None, {})`` without a difficulty or with fewer than 40 rows.
    """
    n = len(residuals)
    if not difficulties or n < 40:
        return "standard", None, {}
    half = np.random.default_rng(seed).permutation(n)
    parts = (half[: n // 2], half[n // 2:])
    options = [("standard", None)] + [(m, src) for src in difficulties for m in METHODS[1:]]
    widths: dict[str, float] = {}
    for method, src in options:
        d = difficulties[src] if src else None
        total = []
        for a, b in (parts, parts[::-1]):
            reg = fit_regressor(method, residuals[a], None if d is None else d[a])
            iv = reg.interval(np.zeros(len(b)), None if d is None else d[b], confidence)
            total.append(iv[:, 1] - iv[:, 0])
        w = np.concatenate(total)
        widths[method if src is None else f"{method}/{src}"] = (
            float(np.mean(w)) if np.isfinite(w).all() else float("inf"))
    best = min(range(len(options)), key=lambda i: (list(widths.values())[i], i))
    return options[best][0], options[best][1], widths


@dataclass
class SetClassifier:
    """Label-conditional conformal prediction sets for one classification target.

    ``scores[c]``: non-conformity ``1 - p(c)`` of the calibration rows labelled ``c``.
    """

    scores: list[list[float]]

    def __post_init__(self) -> None:
        self._models = []
        for s in self.scores:
            cc = ConformalClassifier()
            cc.fit(np.asarray(s, float) if s else np.asarray([np.inf]))
            self._models.append(cc)

    def p_values(self, p: np.ndarray) -> np.ndarray:
        """``n x k`` conformal p-values of each label (``p``: ``n x k`` probabilities)."""
        alphas = 1.0 - np.asarray(p, float)
        out = np.empty_like(alphas)
        for c, cc in enumerate(self._models):
            out[:, c] = cc.predict_p(alphas, smoothing=False)[:, c]
        return out

    def sets(self, p: np.ndarray, confidence: float) -> np.ndarray:
        """``n x k`` booleans: label ``c`` is in the set of row ``i``."""
        return self.p_values(p) > 1.0 - confidence

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SetClassifier:
        return cls([list(s) for s in d["scores"]])


def fit_sets(p: np.ndarray, y: np.ndarray) -> SetClassifier:
    """Label-conditional sets from calibration probabilities ``p`` (``n x k``) and labels."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    return SetClassifier([(1.0 - p[y == c, c]).tolist() for c in range(p.shape[1])])
