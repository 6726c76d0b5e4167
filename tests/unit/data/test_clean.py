"""clean_table: every row accounted for, duplicate policies, task inference, errors, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import DataConfig
from scifm.data.clean import clean_table
from scifm.errors import ConfigError, DataError
from scifm.utils.io import to_json

from .helpers import dataset_frame


def _cfg(**kw) -> DataConfig:
    kw.setdefault("target_cols", ["y"])
    return DataConfig(**kw)


def _messy() -> pd.DataFrame:
    return pd.DataFrame({
        "smiles": ["CCO", "OCC", "C1CC(", "c1ccccc1", "CCN", None, "C(O)C", "CCCl", "CN(C)(C)(C)C",
                   "CCC"],
        "y": ["1.0", "3.0", "5", "2", None, "1", "2.0", "NA", "4", "7"],
        "name": [f"m{i}" for i in range(10)],
        "split": ["train"] * 10,
    })


def test_every_row_is_accounted_for():
    df = _messy()
    res = clean_table(df, _cfg(id_col="name"), source="messy.csv")
    ds, rej = res.dataset, res.rejected
    assert len(ds) + len(rej) == len(df)
    assert sorted(ds.row_ids.tolist() + rej["row_id"].tolist()) == list(range(len(df)))
    assert list(rej.columns) == ["row_id", "id", "input", "reason"]
    reasons = dict(zip(rej["row_id"], rej["reason"], strict=True))
    assert reasons[2].startswith("invalid SMILES syntax")
    assert reasons[4] == "all labels missing" and reasons[7] == "all labels missing"
    assert reasons[5] == "missing input"
    assert reasons[8].startswith("invalid SMILES valence")
    assert reasons[1] == reasons[6] == "duplicate of row 0 (merged: mean)"
    # the three ethanol rows are merged into row 0 with the mean label
    frame = dataset_frame(ds).set_index("row_id")
    assert frame.loc[0, "input"] == "CCO" and frame.loc[0, "y"] == pytest.approx(2.0)
    assert frame.loc[0, "id"] == "m0"
    assert ds.extra.columns.tolist() == ["name", "split"] and len(ds.extra) == len(ds)
    rep = res.report
    assert rep["n_rows_in"] == 10 and rep["n_invalid"] == 3 and rep["n_valid"] == 7
    assert rep["invalid_reasons"] == {"invalid SMILES syntax": 1, "missing input": 1,
                                      "invalid SMILES valence": 1}
    assert rep["n_missing_labels"] == {"y": 2} and rep["n_rows_all_labels_missing"] == 2
    assert rep["n_duplicate_rows"] == 2 and rep["n_duplicate_groups"] == 1
    assert rep["n_conflicting_groups"] == 1 and rep["max_conflict_spread"] == pytest.approx(2.0)
    assert rep["n_rows_out"] == len(ds) == 3
    assert rep["task"]["task_type"] == "regression"
    t = rep["targets"]["y"]
    assert t["n"] == 3 and t["min"] == 2.0 and t["max"] == 7.0 and t["median"] == 2.0
    json.loads(to_json(rep))  # JSON-able


@pytest.mark.parametrize(
    ("policy", "label", "n_out"),
    [("mean", 2.0, 3), ("majority", 2.0, 3), ("first", 1.0, 3), ("drop", None, 2)],
)
def test_regression_duplicate_policies(policy, label, n_out):
    res = clean_table(_messy(), _cfg(duplicates=policy))
    assert len(res.dataset) + len(res.rejected) == 10
    assert len(res.dataset) == n_out
    frame = dataset_frame(res.dataset).set_index("row_id")
    if label is None:
        assert 0 not in frame.index
        why = res.rejected.set_index("row_id")["reason"]
        assert why[0].startswith("conflicting duplicate labels: group of 3 rows (0, 1, 6)")
        assert why[6] == why[0]
    else:
        assert frame.loc[0, "y"] == pytest.approx(label)


def test_classification_duplicates_majority_ties_and_drop():
    df = pd.DataFrame({
        "smiles": ["CCO", "OCC", "C(O)C", "CCN", "NCC", "CCC", "CCC", "CCCC"],
        "y": ["a", "a", "b", "a", "b", "b", "b", "a"],
    })
    res = clean_table(df, _cfg())
    assert res.dataset.task.classes == ["a", "b"]
    frame = dataset_frame(res.dataset).set_index("row_id")
    assert frame.loc[0, "y"] == "a"  # 2 vs 1 majority
    assert 3 not in frame.index and 4 not in frame.index  # 1 vs 1 tie -> dropped
    why = res.rejected.set_index("row_id")["reason"]
    assert why[3].startswith("conflicting duplicate labels (tie)")
    assert res.report["n_conflicting_groups"] == 2
    assert frame.loc[5, "y"] == "b" and why[6] == "duplicate of row 5 (merged: mean)"
    drop = clean_table(df, _cfg(duplicates="drop"))
    kept = set(drop.dataset.row_ids.tolist())
    assert kept == {5, 7}
    assert drop.rejected.set_index("row_id")["reason"][6] == "duplicate of row 5 (labels agree)"
    assert len(drop.dataset) + len(drop.rejected) == len(df)


def test_multitask_tie_only_blanks_that_task():
    df = pd.DataFrame({"smiles": ["CCO", "OCC", "CCN"], "a": ["1", "0", "1"],
                       "b": ["1", "1", "0"]})
    res = clean_table(df, _cfg(target_cols=["a", "b"]))
    y = res.dataset.y
    assert res.dataset.task.task_type == "binary" and y.shape == (2, 2)
    assert np.isnan(y[0, 0]) and y[0, 1] == 1.0


def test_task_inference_through_clean():
    base = ["CCO", "CCN", "CCC", "CCCl", "CCBr", "c1ccccc1"]
    cases = {
        "binary": ["1", "0", "1", "0", "1", "0"],
        "multiclass": ["x", "y", "z", "x", "y", "z"],
        "regression": ["0.1", "2.5", "3", "-1", "7.25", "1e3"],
    }
    for task, labels in cases.items():
        res = clean_table(pd.DataFrame({"smiles": base, "y": labels}), _cfg())
        assert res.dataset.task.task_type == task
        assert res.report["labels"]["y"]["inferred"] == task
    multi = clean_table(pd.DataFrame({"smiles": base, "y": cases["multiclass"]}), _cfg())
    assert multi.report["targets"]["y"]["class_counts"] == {"x": 2, "y": 2, "z": 2}
    with pytest.raises(ConfigError, match="task 'binary' but column 'y' has 3 distinct"):
        clean_table(pd.DataFrame({"smiles": base, "y": cases["multiclass"]}), _cfg(task="binary"))


def test_sequences_and_parse_errors():
    df = pd.DataFrame({"sequence": ["MKTLL", "mktll", "MK1L", "ACDE"],
                       "y": ["0.5", "1.5", "3", "4"],
                       "_parse_error": [None, None, None, "unparseable mol block: record 4"]})
    res = clean_table(df, _cfg(modality="protein", input_col="sequence"))
    assert res.dataset.inputs == ["MKTLL"] and res.dataset.modality == "protein"
    assert res.dataset.y[0, 0] == pytest.approx(1.0)  # mean of the two case variants
    why = res.rejected.set_index("row_id")["reason"]
    assert why[3] == "unparseable mol block: record 4"
    assert why[2].startswith("invalid protein residue(s): '1'")
    assert "_parse_error" not in res.dataset.extra.columns


def test_errors_name_the_column_and_reasons():
    df = _messy()
    with pytest.raises(DataError, match=r"column 'activity' not found in b.csv; available: "
                                        r"smiles, y, name, split"):
        clean_table(df, _cfg(target_cols=["activity"]), source="b.csv")
    with pytest.raises(DataError, match=r"no target columns configured"):
        clean_table(df, DataConfig())
    bad = pd.DataFrame({"smiles": ["C1CC("] * 7 + ["CCO"] * 3, "y": ["1"] * 7 + [None] * 3})
    with pytest.raises(DataError) as info:
        clean_table(bad, _cfg(task="regression"), source="bad.csv")
    assert str(info.value) == ("no valid rows in bad.csv: 10 of 10 rejected; first reasons: "
                               "invalid SMILES syntax (7), all labels missing (3)")


def test_row_ids_follow_the_input_index():
    df = _messy().iloc[3:].copy()  # index 3..9, e.g. a later chunk of a file
    res = clean_table(df, _cfg())
    assert set(res.dataset.row_ids.tolist()) | set(res.rejected["row_id"].tolist()) == \
        set(range(3, 10))
