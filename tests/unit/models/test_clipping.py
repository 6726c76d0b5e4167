"""The Clip step of the scaled families: bounds at the training mean ± limit, dense and sparse,
saved by skops, converted to ONNX with the same outputs; a ridge on heavy-tailed descriptors no
longer extrapolates from one outlying feature."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_transformer_general

from scifm.models.clipping import Clip
from scifm.models.sklearn_families import scaled_pipeline


def test_bounds_follow_the_training_mean_of_uncentred_features():
    x = np.array([[100.0, 0.0], [102.0, 1.0], [98.0, -1.0], [100.0, np.nan]])
    clip = Clip(limit=3.0).fit(x)
    np.testing.assert_allclose(clip.lower_, [97.0, -3.0])
    np.testing.assert_allclose(clip.upper_, [103.0, 3.0])
    # in range: unchanged (an uncentred feature is not flattened to the limit)
    np.testing.assert_array_equal(clip.transform(x[:3]), x[:3])
    out = clip.transform(np.array([[500.0, -50.0], [0.0, 2.5]]))
    np.testing.assert_array_equal(out, [[103.0, -3.0], [97.0, 2.5]])


def test_sparse_inputs_stay_sparse_and_zeros_stay_zero():
    dense = np.array([[0.0, 1.0], [0.0, 2.0], [40.0, 0.0], [0.0, 1.0]])
    clip = Clip(limit=5.0).fit(sp.csr_matrix(dense))
    out = clip.transform(sp.csr_matrix(np.array([[90.0, 0.0], [0.0, -30.0]])))
    assert sp.issparse(out)
    np.testing.assert_allclose(out.toarray(), [[15.0, 0.0], [0.0, 1.0 - 5.0]])
    np.testing.assert_allclose(clip.transform(dense), Clip(limit=5.0).fit(dense).transform(dense))


def test_scikit_learn_transformer_contract():
    check_transformer_general("Clip", Clip())


def test_a_ridge_does_not_extrapolate_from_one_outlying_descriptor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    x[:, 4] = rng.lognormal(sigma=0.3, size=200)  # a heavy-tailed descriptor carrying signal
    y = x[:, 0] + x[:, 4]
    outlier = np.array([[0, 0, 0, 0, 400.0]])  # 1,000 standard deviations out
    plain = Ridge(alpha=1.0).fit(StandardScaler(with_mean=False).fit_transform(x), y)
    unclipped = plain.predict(StandardScaler(with_mean=False).fit(x).transform(outlier))[0]
    clipped = scaled_pipeline(Ridge(alpha=1.0)).fit(x, y).predict(outlier)[0]
    assert unclipped > 100 and clipped < y.max() + 10 * y.std()


def test_skops_and_onnx_reproduce_the_pipeline(tmp_path):
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from skops.io import dump, load

    from scifm.models.clipping import register_onnx_converter
    from scifm.models.stores import SKOPS_TRUSTED

    rng = np.random.default_rng(1)
    x = rng.lognormal(sigma=1.0, size=(100, 4)).astype(np.float32)
    model = scaled_pipeline(Ridge()).fit(x, x.sum(axis=1))
    probe = np.vstack([x[:5], 50 * x[:3]]).astype(np.float32)  # some rows out of range
    dump(model, tmp_path / "m.skops")
    loaded = load(tmp_path / "m.skops", trusted=SKOPS_TRUSTED + ["sklearn.pipeline.Pipeline"])
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))
    register_onnx_converter()
    graph = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 4]))])
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx = sess.run(None, {"X": probe})[0].ravel()
    np.testing.assert_allclose(onnx, model.predict(probe), rtol=1e-4, atol=1e-3)
