"""Label parsing and task inference (scifm.data.labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import DataConfig
from scifm.data.labels import infer_task
from scifm.errors import ConfigError, DataError


def _infer(cols: dict, task: str = "auto"):
    df = pd.DataFrame(cols)
    cfg = DataConfig(target_cols=list(cols), task=task)
    return infer_task(df, cfg, np.ones(len(df), dtype=bool))


def test_infer_binary_numeric_and_string_and_bool():
    spec, y, _ = _infer({"y": ["1", "0", None, "1", "NA"]})
    assert spec.task_type == "binary" and spec.classes == ["0", "1"]
    np.testing.assert_array_equal(y[:, 0], [1, 0, np.nan, 1, np.nan])
    spec, y, _ = _infer({"y": ["inactive", "active", "active"]})
    assert spec.classes == ["active", "inactive"] and y[:, 0].tolist() == [1, 0, 0]
    spec, y, _ = _infer({"y": [True, False, True]})
    assert spec.classes == ["False", "True"] and y[:, 0].tolist() == [1, 0, 1]
    spec, _, _ = _infer({"y": ["-1", "1", "1"]})
    assert spec.task_type == "binary" and spec.classes == ["-1", "1"]


def test_infer_multiclass_and_regression():
    spec, y, _ = _infer({"y": ["b", "a", "c", "a"]})
    assert spec.task_type == "multiclass" and spec.classes == ["a", "b", "c"]
    assert y[:, 0].tolist() == [1, 0, 2, 0]
    spec, y, _ = _infer({"y": ["10", "2", "3", "2"]})
    assert spec.task_type == "multiclass" and spec.classes == ["2", "3", "10"]
    spec, y, _ = _infer({"y": ["1.5", "2.0", "-3", "0.1"]})
    assert spec.task_type == "regression" and y[:, 0].tolist() == [1.5, 2.0, -3.0, 0.1]
    spec, _, _ = _infer({"y": [str(i) for i in range(30)]})
    assert spec.task_type == "regression"


def test_infer_multitask():
    spec, y, _ = _infer({"a": ["1", "0", None], "b": ["0", None, "1"], "c": ["0", "0", "0"]})
    assert spec.task_type == "binary" and spec.target_cols == ["a", "b", "c"]
    assert np.isnan(y).sum() == 2
    spec, _, _ = _infer({"a": ["1.5", "2.5", "0.3"], "b": ["7", "8", "9"]})
    assert spec.task_type == "regression"
    with pytest.raises(ConfigError, match=r"'a' looks binary, 'b' looks regression"):
        _infer({"a": ["1", "0", "1"], "b": ["0.5", "2.5", "7.1"]})


def test_explicit_task_is_checked():
    with pytest.raises(ConfigError, match=r"task 'binary' but column 'y' has 5 distinct values"):
        _infer({"y": ["1", "2", "3", "4", "5"]}, task="binary")
    with pytest.raises(DataError, match=r"task 'regression' but column 'y' is not numeric"):
        _infer({"y": ["active", "inactive", "active"]}, task="regression")
    with pytest.raises(ConfigError, match="exactly one target column"):
        _infer({"a": ["x", "y"], "b": ["x", "z"]}, task="multiclass")
    with pytest.raises(ConfigError, match="single (class|value)"):
        _infer({"y": ["1", "1", "1"]})
    spec, y, info = _infer({"y": ["1.5", "2", ">10"] + ["3"] * 60}, task="regression")
    assert np.isnan(y[2, 0]) and info["y"]["n_unparseable"] == 1
    assert info["y"]["unparseable_examples"] == [">10"]
