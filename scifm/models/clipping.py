"""Clipping of standardised features: a new molecule's outlying descriptor does not extrapolate.

The scale-sensitive families (``linear``, ``svm``, ``knn`` on descriptors) standardise their
features (:func:`scifm.models.sklearn_families.scaled_pipeline`). RDKit 2D descriptors are
heavy-tailed: a test molecule can sit 50 standard deviations out on one descriptor (an
``Ipc``, a charge count), and a ridge model then predicts far outside the label range. On
FreeSolv's scaffold folds an unclipped ridge reached RMSE 5.9 ± 6.8 out of fold; clipped to ±10
standard deviations it is a useful member (``bench/descriptor_probe.py``). :class:`Clip` is that
step: each feature to its training mean ± ``limit`` (the features are standardised, so that is
``limit`` standard deviations), on dense inputs and on the stored values of sparse ones (zeros
stay zeros), saved by skops (a trusted type, :data:`scifm.models.stores.SKOPS_TRUSTED`) and
converted to ONNX ``Max`` / ``Min`` nodes (:func:`register_onnx_converter`).

scikit-learn has no clipping transformer (``FunctionTransformer(np.clip)`` can be neither
loaded by skops without trusting numpy internals nor converted by skl2onnx), hence this one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["CLIP_LIMIT", "Clip", "register_onnx_converter"]

CLIP_LIMIT = 10.0
"""Standard deviations kept on either side of the training mean."""


class Clip(TransformerMixin, BaseEstimator):
    """Clip every (standardised) feature to its training mean ± ``limit``.

    The scaler before it does not centre (``with_mean=False`` keeps sparse inputs sparse), so
    the bounds are centred on each feature's training mean (``lower_``, ``upper_``).
    """

    def __init__(self, limit: float = CLIP_LIMIT) -> None:
        self.limit = limit

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # stored values clipped, zeros kept
        tags.input_tags.allow_nan = True  # NaN passes through (the imputer comes first)
        tags.requires_fit = True
        return tags

    def fit(self, x: Any, y: Any = None) -> Clip:
        if hasattr(x, "tocsr"):
            mean = np.asarray(x.mean(axis=0), dtype=np.float64).ravel()
        else:
            x = np.asarray(x, dtype=np.float64)
            finite = np.isfinite(x)
            counts = np.maximum(finite.sum(axis=0), 1)
            mean = np.where(finite, x, 0.0).sum(axis=0) / counts
        self.n_features_in_ = int(x.shape[1])
        self.lower_, self.upper_ = mean - float(self.limit), mean + float(self.limit)
        return self

    def transform(self, x: Any) -> Any:
        if hasattr(x, "tocsr"):  # scipy sparse: clip the stored values only
            out = x.tocsr(copy=True)
            cols = out.indices
            out.data = np.minimum(np.maximum(out.data, self.lower_[cols]), self.upper_[cols])
            return out
        return np.minimum(np.maximum(np.asarray(x), self.lower_), self.upper_)


_REGISTERED = False


def register_onnx_converter() -> None:
    """Teach skl2onnx to convert :class:`Clip` (ONNX ``Max`` / ``Min`` nodes); once per process."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxMax, OnnxMin
    from skl2onnx.common.data_types import guess_numpy_type

    def shape(operator: Any) -> None:
        inputs = operator.inputs[0].type
        operator.outputs[0].type = inputs.__class__(list(inputs.shape))

    def convert(scope: Any, operator: Any, container: Any) -> None:
        x = operator.inputs[0]
        dtype = guess_numpy_type(x.type)
        op, opv = operator.raw_operator, container.target_opset
        low = OnnxMax(x, op.lower_.astype(dtype)[None, :], op_version=opv)
        node = OnnxMin(low, op.upper_.astype(dtype)[None, :], op_version=opv,
                       output_names=operator.outputs[:1])
        node.add_to(scope, container)

    update_registered_converter(Clip, "ScifmClip", shape, convert)
    _REGISTERED = True
