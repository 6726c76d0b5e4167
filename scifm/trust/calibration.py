"""Calibrated probabilities: Platt / isotonic per binary task, temperature for multiclass.

A calibrator is fitted on the validation rows' predicted probabilities and labels, after the
model was trained, and maps a probability to a calibrated one; its state is a few numbers saved
as JSON (no pickle). ``choose`` keeps, among the candidates, the one with the lowest
cross-fitted log loss on the validation rows (5 folds): a calibrator that does not help on
held-out rows is not used (``none``).

The expected calibration error (:func:`expected_calibration_error`) is the usual equal-width
15-bin ECE of the top-class probability; :func:`reliability_bins` gives what a reliability
diagram draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

EPS = 1e-6
"""Probabilities are clipped to ``[EPS, 1 - EPS]`` before logits and logs."""
N_BINS = 15
"""Bins of the expected calibration error and of the reliability diagram."""
MIN_ISOTONIC = 100
"""Isotonic regression is a candidate only with at least this many calibration rows (it
overfits fewer)."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A fitted map from predicted to calibrated probabilities.

    ``kind``: ``none`` (identity), ``platt`` (``sigmoid(a * logit(p) + b)``), ``isotonic``
    (piecewise linear through ``xs``/``ys``) or ``temperature`` (multiclass: ``softmax(log(p) /
    t)``).
    """

    kind: str = "none"
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, float)
        if self.kind == "platt":
            return expit(self.params["a"] * _logit(p) + self.params["b"])
        if self.kind == "isotonic":
            return np.interp(p, self.params["xs"], self.params["ys"])
        if self.kind == "temperature":
            z = np.log(np.clip(p, EPS, 1.0)) / self.params["t"]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        return p

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(str(d["kind"]), dict(d.get("params", {})))


def fit_calibrator(kind: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibrator on probabilities ``p`` (binary: ``n``; multiclass: ``n x k``) and
    labels ``y`` (0/1 or class indices)."""
    if kind == "platt":
        lr = LogisticRegression(C=1e4).fit(_logit(p)[:, None], y.astype(int))
        return Calibrator("platt", {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})
    if kind == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        return Calibrator("isotonic", {"xs": iso.X_thresholds_.tolist(),
                                       "ys": iso.y_thresholds_.tolist()})
    if kind == "temperature":
        logp = np.log(np.clip(p, EPS, 1.0))
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

        best = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
        return Calibrator("temperature", {"t": float(np.exp(best.x))})
    return Calibrator()


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of labels ``y`` (binary ``p``: ``n``; multiclass: ``n x
    k``)."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    if p.ndim == 1:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(y)), y.astype(int)])))


def candidates(multiclass: bool, n: int) -> tuple[str, ...]:
    """The calibrators ``auto`` compares for ``n`` calibration rows."""
    if multiclass:
        return ("none", "temperature")
    return ("none", "platt", "isotonic") if n >= MIN_ISOTONIC else ("none", "platt")


def choose(p: np.ndarray, y: np.ndarray, kinds: tuple[str, ...], seed: int = 0,
           folds: int = 5) -> tuple[Calibrator, dict[str, float]]:
    """The calibrator of ``kinds`` with the lowest cross-fitted log loss, refitted on all rows.

    Returns
    -------
    (Calibrator, {kind: cross-fitted log loss})
        With one kind, or too few rows of a class to cross-fit, that kind (or ``none``) is
        fitted on all rows and the losses are empty.
    """
    y = np.asarray(y).astype(int)
    counts = np.bincount(y)
    k = min(folds, int(counts[counts > 0].min()) if counts.size else 0)
    if len(kinds) == 1 or k < 2 or (counts > 0).sum() < 2:
        kind = kinds[0] if len(kinds) == 1 else "none"
        return fit_calibrator(kind, p, y), {}
    losses: dict[str, float] = {}
    split = StratifiedKFold(k, shuffle=True, random_state=seed)
    for kind in kinds:
        out = np.empty_like(np.asarray(p, float))
        for tr, te in split.split(np.zeros(len(y)), y):
            out[te] = fit_calibrator(kind, p[tr], y[tr])(p[te])
        losses[kind] = log_loss(out, y)
    best = min(losses, key=lambda kind: (losses[kind], kinds.index(kind)))
    return fit_calibrator(best, p, y), losses


def top_class(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of the predicted class and whether it is right (binary ``p``: ``n``)."""
    p = np.asarray(p, float)
    if p.ndim == 1:
        pred = (p >= 0.5).astype(int)
        return np.where(pred == 1, p, 1 - p), pred == y
    return p.max(axis=1), p.argmax(axis=1) == y


def reliability_bins(p: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, float]]:
    """Equal-width bins of the top-class confidence: ``{"lo", "hi", "n", "confidence",
    "accuracy"}`` per non-empty bin."""
    conf, right = top_class(p, y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                        "confidence": float(conf[m].mean()), "accuracy": float(right[m].mean())})
    return out


def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-class ECE: the row-weighted mean ``|accuracy - confidence|`` over the bins."""
    bins = reliability_bins(p, y, n_bins)
    n = sum(b["n"] for b in bins)
    if not n:
        return float("nan")
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / n)
