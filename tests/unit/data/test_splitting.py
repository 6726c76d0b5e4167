"""Splits: partitions, seeds, group integrity, predefined columns, k-fold, persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import SplitConfig
from scifm.data.leakage import similarity_groups
from scifm.data.splitting import (
    data_hash,
    kfold_indices,
    load_splits,
    make_split,
    save_splits,
)
from scifm.errors import ConfigError, DataError
from scifm.modalities.smiles import scaffolds

from .helpers import make_dataset, mutants


def _assert_partition(splits, n):
    allpos = np.concatenate([splits["train"], splits["val"], splits["test"]])
    assert len(allpos) == n and set(allpos.tolist()) == set(range(n))
    for v in splits.values():
        assert np.all(np.diff(v) > 0)  # sorted, no repeats


@pytest.mark.parametrize("method", ["random", "stratified", "scaffold"])
def test_partition_and_seeds(mol_ds, method):
    cfg = SplitConfig(method=method)
    a = make_split(mol_ds, cfg, seed=0)
    _assert_partition(a, len(mol_ds))
    assert len(a["test"]) > 0 and len(a["val"]) > 0
    b = make_split(mol_ds, cfg, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = make_split(mol_ds, cfg, seed=1)
    assert not np.array_equal(a["test"], c["test"])


def test_random_sizes_and_stratification(mol_ds):
    sp = make_split(mol_ds, SplitConfig(method="random", sizes=(0.7, 0.1, 0.2)), seed=3)
    assert [len(sp[k]) for k in ("train", "val", "test")] == [75, 11, 22]
    strat = make_split(mol_ds, SplitConfig(method="stratified", sizes=(0.5, 0.0, 0.5)), seed=0)
    assert len(strat["val"]) == 0
    y = mol_ds.y[:, 0]
    assert abs(y[strat["train"]].sum() - y[strat["test"]].sum()) <= 1


def test_scaffold_split_keeps_scaffolds_whole(mol_ds):
    scaf = np.array(scaffolds(mol_ds.inputs), dtype=object)
    assert scaf[mol_ds.inputs.index("CCCC")] == ""  # acyclic share the empty scaffold
    for seed in range(3):
        sp = make_split(mol_ds, SplitConfig(method="scaffold"), seed=seed)
        sets = [set(scaf[sp[k]].tolist()) for k in ("train", "val", "test")]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_scaffold_split_rejects_sequences_and_tiny_data():
    ds = make_dataset(pd.DataFrame({"s": ["MKT", "MKA", "MKC"], "y": ["1.5", "2", "3"]}),
                      modality="protein", input_col="s", target_cols=["y"])
    with pytest.raises(ConfigError, match="'scaffold' needs SMILES"):
        make_split(ds, SplitConfig(method="scaffold"), 0)
    one = make_dataset(pd.DataFrame({"smiles": ["CCC", "CCO", "CCN", "CCCl"],
                                     "y": ["1.5", "2", "3", "4"]}), target_cols=["y"])
    with pytest.raises(DataError, match="scaffold split left"):  # one scaffold: no real split
        make_split(one, SplitConfig(method="scaffold"), 0)


@pytest.mark.parametrize(("modality", "alphabet", "length"),
                         [("protein", "ACDEFGHIKLMNPQRSTVWY", 100), ("dna", "ACGT", 200)])
def test_similarity_split_keeps_mutants_together(modality, alphabet, length):
    seqs, family = mutants(30, length, alphabet, seed=1)
    fam = np.array(family)
    ds = make_dataset(pd.DataFrame({"s": seqs, "y": np.arange(len(seqs)) * 0.5 + 0.1}),
                      modality=modality, input_col="s", target_cols=["y"])
    groups = similarity_groups(ds.inputs, k=3 if modality == "protein" else 5, threshold=0.9)
    assert len(np.unique(groups)) == 30  # exactly the families
    assert all(len(np.unique(groups[fam == f])) == 1 for f in range(30))
    for seed in (0, 1):
        sp = make_split(ds, SplitConfig(method="similarity"), seed)
        _assert_partition(sp, len(ds))
        fams = [set(fam[sp[k]].tolist()) for k in ("train", "val", "test")]
        assert not (fams[0] & fams[1] or fams[0] & fams[2] or fams[1] & fams[2])
        assert len(sp["test"]) == 9  # 3 families of 3


def test_similarity_threshold_controls_grouping():
    seqs = ["ACDEFGHIKLMNPQRSTVWY" * 2, "ACDEFGHIKLMNPQRSTVWY" * 2 + "AAAAAAA", "W" * 10]
    assert similarity_groups(seqs, 3, threshold=0.5).tolist()[:2] == [0, 0]
    tight = similarity_groups(seqs, 3, threshold=0.99)
    assert tight[0] != tight[1] and tight[2] not in tight[:2]


def test_predefined_aliases_and_errors(mol_frame):
    vals = np.array(["train", "Train", "valid", "dev", "VALIDATION", "Test", "test "])
    mol_frame["split"] = vals[np.arange(len(mol_frame)) % len(vals)]
    ds = make_dataset(mol_frame, target_cols=["y"])
    sp = make_split(ds, SplitConfig(method="predefined"), 0)
    _assert_partition(sp, len(ds))
    assert ds.extra["split"].iloc[sp["val"]].str.lower().isin(
        ["valid", "dev", "validation"]).all()
    assert len(sp["test"]) == 2 * len(ds) // 7 + (1 if len(ds) % 7 > 5 else 0)
    with pytest.raises(DataError, match=r"column 'fold' not found"):
        make_split(ds, SplitConfig(method="predefined", column="fold"), 0)
    bad = ds.extra.copy()
    bad.loc[[3, 5], "split"] = ["holdout", None]
    with pytest.raises(DataError, match=r"column 'split' has unknown split values") as info:
        make_split(ds, SplitConfig(method="predefined"), 0, frame=bad)
    assert "holdout" in str(info.value) and "<blank>" in str(info.value)
    noval = ds.extra.assign(split=np.where(np.arange(len(ds)) % 4 == 0, "test", "train"))
    sp = make_split(ds, SplitConfig(method="predefined"), 0, frame=noval)
    assert len(sp["val"]) > 0 and set(sp["test"].tolist()) == set(range(0, len(ds), 4))


@pytest.mark.parametrize("method", ["random", "stratified", "scaffold"])
def test_kfold_partitions(mol_ds, method):
    folds = kfold_indices(mol_ds, method, n_folds=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(mol_ds)))
    for tr, te in folds:
        assert not set(tr.tolist()) & set(te.tolist()) and len(tr) + len(te) == len(mol_ds)
    if method == "scaffold":
        scaf = np.array(scaffolds(mol_ds.inputs), dtype=object)
        for tr, te in folds:
            assert not set(scaf[tr].tolist()) & set(scaf[te].tolist())
    cfg = SplitConfig(method=method, n_folds=5, fold=2)
    sp = make_split(mol_ds, cfg, seed=0)
    _assert_partition(sp, len(mol_ds))
    assert np.array_equal(sp["test"], folds[2][1]) and len(sp["val"]) > 0
    assert np.array_equal(kfold_indices(mol_ds, method, 5, 0)[4][1], folds[4][1])
    with pytest.raises(ConfigError, match="predefined"):
        kfold_indices(mol_ds, "predefined", 5, 0)


def test_save_and_load_splits(tmp_path, mol_frame):
    mol_frame.loc[[0, 5], "smiles"] = "not a smiles"  # row ids no longer equal positions
    ds = make_dataset(mol_frame, target_cols=["y"])
    sp = make_split(ds, SplitConfig(method="scaffold"), seed=7)
    path = save_splits(tmp_path / "run", sp, ds, "scaffold", 7)
    assert path.name == "splits.json"
    doc = json.loads(path.read_text())
    assert doc["method"] == "scaffold" and doc["seed"] == 7 and doc["n"] == len(ds)
    assert doc["data_hash"] == data_hash(ds)
    assert doc["test"] == ds.row_ids[sp["test"]].tolist() and 0 not in doc["train"]
    back = load_splits(tmp_path / "run", ds)
    assert all(np.array_equal(back[k], sp[k]) for k in sp)
    ds.y[0, 0] = 1 - ds.y[0, 0]
    with pytest.raises(DataError, match="made for different data"):
        load_splits(path, ds)
    with pytest.raises(DataError, match="splits file not found"):
        load_splits(tmp_path / "none.json", ds)


def test_data_hash_covers_further_input_columns():
    frame = pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "t": ["300", "310", "320"],
                          "y": ["1.5", "2", "3"]})
    one = make_dataset(frame, target_cols=["y"])
    two = make_dataset(frame, input_col=["smiles", "t"], target_cols=["y"])
    hotter = make_dataset(frame.assign(t=["301", "310", "320"]), input_col=["smiles", "t"],
                          target_cols=["y"])
    assert len({data_hash(one), data_hash(two), data_hash(hotter)}) == 3
