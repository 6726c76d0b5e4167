"""The data layer: read a file, validate and clean it, split it, audit the split for leakage.

>>> from scifm.data import read_table, clean_table, make_split  # doctest: +SKIP
>>> result = clean_table(read_table("bbbp.csv"), data_cfg, source="bbbp.csv")  # doctest: +SKIP
>>> splits = make_split(result.dataset, split_cfg, seed=0)  # doctest: +SKIP
"""

from scifm.data.clean import CleanDataset, CleanResult, clean_table
from scifm.data.datapoints import Datapoint, primary_strings
from scifm.data.io import detect_format, iter_table, read_table, require_columns
from scifm.data.labels import infer_task
from scifm.data.leakage import audit_split, similarity_groups
from scifm.data.splitting import (
    data_hash,
    kfold_indices,
    load_splits,
    make_split,
    save_splits,
)
from scifm.data.validate import InvalidInput, make_validator, validate_inputs, validate_records

__all__ = [
    "CleanDataset",
    "CleanResult",
    "Datapoint",
    "InvalidInput",
    "audit_split",
    "clean_table",
    "data_hash",
    "detect_format",
    "infer_task",
    "iter_table",
    "kfold_indices",
    "load_splits",
    "make_split",
    "make_validator",
    "primary_strings",
    "read_table",
    "require_columns",
    "save_splits",
    "similarity_groups",
    "validate_inputs",
    "validate_records",
]
