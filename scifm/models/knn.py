"""k-nearest-neighbour estimators with Tanimoto (Jaccard) or euclidean similarity.

Tanimoto similarity works on fingerprints: features are binarised (``x > 0``; NaN counts as 0),
and ``sim(a, b) = |a & b| / |a | b|`` is computed with sparse matrix products, in chunks of query
rows. Euclidean distance is meant for standardised features (the ``knn`` family puts a scaler in
front; :mod:`scifm.models.estimators`). Distance weighting uses ``1 / (distance + 1e-6)`` with
``distance = 1 - sim`` for Tanimoto. ``n_neighbors`` is capped at the number of training rows.
:class:`KNNRegressor` also takes several outputs with missing (NaN) labels: one distance
computation serves all of them, each output averaging its nearest labelled rows (the multi-task
``knn`` family, :mod:`scifm.models.joint`).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

logger = logging.getLogger(__name__)

_CHUNK = 1024
"""Query rows per similarity block (block memory: ``_CHUNK x n_train`` floats)."""
_EPS = 1e-6


def _bits(X: Any) -> sp.csr_matrix:
    """Binarised fingerprint rows as float32 CSR (NaN and values <= 0 are off)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32, copy=True)
        X.data = (X.data > 0).astype(np.float32)
        X.eliminate_zeros()
        return X
    return sp.csr_matrix(np.nan_to_num(np.asarray(X, dtype=np.float32)) > 0, dtype=np.float32)


def tanimoto_similarity(A: Any, B: Any) -> np.ndarray:
    """Tanimoto similarity of binarised rows: ``len(A) x len(B)`` in [0, 1] (0 for empty rows).

    Examples
    --------
    >>> tanimoto_similarity(np.array([[1, 1, 0]]), np.array([[1, 0, 1], [1, 1, 0]])).round(3)
    array([[0.333, 1.   ]], dtype=float32)
    """
    a, b = _bits(A), _bits(B)
    return _tanimoto(a, np.asarray(a.sum(axis=1)).ravel(), b, np.asarray(b.sum(axis=1)).ravel())


def _tanimoto(a: sp.csr_matrix, na: np.ndarray, b: sp.csr_matrix, nb: np.ndarray) -> np.ndarray:
    inter = np.asarray((a @ b.T).todense(), dtype=np.float32)
    union = na[:, None] + nb[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class _KNNBase(BaseEstimator):
    def __init__(
        self,
        n_neighbors: int = 5,
        weights: Literal["uniform", "distance"] = "distance",
        metric: Literal["tanimoto", "euclidean"] = "tanimoto",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = self.metric == "tanimoto"
        return tags

    def _fit_X(self, X: Any, y: Any, masked: bool = False) -> np.ndarray:
        """Validate and store ``X``; return ``y`` (``masked``: float, 1-D or 2-D, NaN allowed)."""
        if self.metric not in ("tanimoto", "euclidean"):
            raise ValueError(f"metric must be 'tanimoto' or 'euclidean', got {self.metric!r}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        if int(self.n_neighbors) < 1:
            raise ValueError("n_neighbors must be >= 1")
        finite = "allow-nan" if self.metric == "tanimoto" else True
        if masked:
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                                 "target y is None")
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                              ensure_all_finite=finite)
            y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                            input_name="y")
            check_consistent_length(X, y)
        else:
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                                 ensure_all_finite=finite)
        if self.metric == "tanimoto":
            self.X_ = _bits(X)
            self.norms_ = np.asarray(self.X_.sum(axis=1)).ravel()
        else:
            self.X_ = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(
                X, dtype=np.float64)
            sq = self.X_.multiply(self.X_).sum(axis=1) if sp.issparse(X) else (self.X_ ** 2).sum(1)
            self.norms_ = np.asarray(sq, dtype=np.float64).ravel()
        return y

    def _query(self, X: Any) -> Any:
        check_is_fitted(self, "X_")
        return validate_data(self, X, reset=False, accept_sparse="csr",
                             dtype=[np.float64, np.float32],
                             ensure_all_finite="allow-nan" if self.metric == "tanimoto" else True)

    def _select(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column indices ``rows x k`` of the ``k`` smallest distances of each row of ``d``
        (nearest first) and their weights."""
        k = min(int(self.n_neighbors), d.shape[1])
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.argsort(
            d, axis=1)
        rows = np.arange(d.shape[0])[:, None]
        order = np.argsort(d[rows, part], axis=1, kind="stable")
        idx = part[rows, order]
        dist = d[rows, idx]
        return idx, np.ones_like(dist) if self.weights == "uniform" else 1.0 / (dist + _EPS)

    def _neighbours(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``n x k`` of the nearest training rows and their (unnormalised) weights."""
        X = self._query(X)
        k = min(int(self.n_neighbors), self.X_.shape[0])
        idx = np.empty((X.shape[0], k), dtype=np.int64)
        w = np.empty((X.shape[0], k), dtype=np.float64)
        for start in range(0, X.shape[0], _CHUNK):
            idx[start:start + _CHUNK], w[start:start + _CHUNK] = self._select(
                self._distances(X[start:start + _CHUNK]))
        return idx, w

    def _distances(self, Q: Any) -> np.ndarray:
        if self.metric == "tanimoto":
            q = _bits(Q)
            sim = _tanimoto(q, np.asarray(q.sum(axis=1)).ravel(), self.X_, self.norms_)
            return 1.0 - sim.astype(np.float64)
        if sp.issparse(Q):
            q_sq = np.asarray(Q.multiply(Q).sum(axis=1), dtype=np.float64).ravel()
            cross = np.asarray((Q @ self.X_.T).todense()) if sp.issparse(self.X_) else np.asarray(
                Q @ self.X_.T)
        else:
            Q = np.asarray(Q, dtype=np.float64)
            q_sq = (Q ** 2).sum(axis=1)
            cross = np.asarray(self.X_ @ Q.T).T
        return np.sqrt(np.maximum(q_sq[:, None] + self.norms_[None, :] - 2.0 * cross, 0.0))


class KNNRegressor(RegressorMixin, _KNNBase):
    """Weighted mean of the targets of the ``n_neighbors`` most similar training rows.

    Multi-output ``y`` (``n x n_outputs``) may hold NaN for missing labels: distances are
    computed once for all outputs, and each output averages the ``n_neighbors`` nearest rows
    *labelled for it* - the same predictions as one model per output fitted on its labelled
    rows, at the cost of one neighbour search per distinct pattern of missing labels.

    Parameters
    ----------
    n_neighbors
        Neighbours per prediction (capped at the training size).
    weights
        ``distance`` (closer rows count more) or ``uniform``.
    metric
        ``tanimoto`` (binarised fingerprints) or ``euclidean``.
    """

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> KNNRegressor:
        """Store the training rows and targets (``n`` or ``n x n_outputs``; NaN = missing)."""
        self.y_ = self._fit_X(X, y, masked=True)
        self.n_outputs_ = 1 if self.y_.ndim == 1 else self.y_.shape[1]
        labelled = ~np.isnan(self.y_.reshape(len(self.y_), -1))
        if not labelled.any(axis=0).all():
            raise ValueError("every output needs at least one labelled training row")
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Weighted neighbour mean, shape ``(n_samples,)`` (or ``n x n_outputs``); each output
        averages over the ``n_neighbors`` nearest rows labelled for it."""
        check_is_fitted(self, "X_")
        y = self.y_.reshape(len(self.y_), -1)
        mask = ~np.isnan(y)
        if mask.all():
            idx, w = self._neighbours(X)
            w = w / w.sum(axis=1, keepdims=True)
            out = np.einsum("nk,nko->no", w, y[idx])
        else:
            out = self._masked_predict(self._query(X), y, mask)
        return out[:, 0] if self.y_.ndim == 1 else out

    def _masked_predict(self, X: Any, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Distances computed once per query chunk; outputs sharing a label pattern share the
        neighbour search among their labelled rows."""
        patterns, group = np.unique(mask, axis=1, return_inverse=True)
        group = np.asarray(group).ravel()
        out = np.empty((X.shape[0], y.shape[1]))
        for start in range(0, X.shape[0], _CHUNK):
            d = self._distances(X[start:start + _CHUNK])
            for g in range(patterns.shape[1]):
                cols, outs = np.flatnonzero(patterns[:, g]), np.flatnonzero(group == g)
                idx, w = self._select(d[:, cols])
                w = w / w.sum(axis=1, keepdims=True)
                out[start:start + _CHUNK, outs] = np.einsum("nk,nko->no", w,
                                                            y[cols][:, outs][idx])
        return out


class KNNClassifier(ClassifierMixin, _KNNBase):
    """Weighted vote of the ``n_neighbors`` most similar training rows (see
    :class:`KNNRegressor` for the parameters)."""

    def fit(self, X: Any, y: Any) -> KNNClassifier:
        """Store the training rows and the classes."""
        y = self._fit_X(X, y)
        check_classification_targets(y)
        self.classes_, self.y_ = np.unique(y, return_inverse=True)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``n x n_classes`` (weighted vote shares)."""
        idx, w = self._neighbours(X)
        proba = np.zeros((idx.shape[0], len(self.classes_)))
        for c in range(len(self.classes_)):
            proba[:, c] = (w * (self.y_[idx] == c)).sum(axis=1)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most voted class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
