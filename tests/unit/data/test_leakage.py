"""Leakage audit: exact duplicates across splits, nearest-neighbour similarity, k-mer tools."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scifm.data.clean import CleanDataset
from scifm.data.leakage import audit_split, kmer_codes, minhash_signatures, nn_kmer_jaccard
from scifm.tasks import TaskSpec
from scifm.utils.io import to_json

from .helpers import mutants


def _ds(inputs: list[str], modality: str) -> CleanDataset:
    n = len(inputs)
    return CleanDataset(inputs=inputs, raw_inputs=inputs, ids=[str(i) for i in range(n)],
                        row_ids=np.arange(n), y=np.zeros((n, 1)),
                        task=TaskSpec("regression", ["y"]), modality=modality)


def _splits(train, val, test):
    return {k: np.array(v, dtype=np.int64) for k, v in
            (("train", train), ("val", val), ("test", test))}


def test_smiles_audit_finds_injected_duplicate():
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCCCC1", "CCCCCCCC",  # train
              "CCN",  # val
              "c1ccccc1O", "CC(=O)Nc1ccc(OC)cc1", "O=C=O"]  # test: duplicate, analogue, far
    ds = _ds(smiles, "smiles")
    rep = audit_split(ds, _splits(range(5), [5], [6, 7, 8]), "smiles")
    assert rep["exact_duplicates"] == {"train_test": 1, "train_val": 0, "val_test": 0}
    nn = rep["nn_similarity"]
    vals = nn["values"]
    assert len(vals) == 3 and vals[0] == 1.0
    assert 0.3 < vals[1] < 1.0 and vals[2] < 0.3
    assert nn["frac_eq_1"] == pytest.approx(1 / 3) and nn["mean"] == pytest.approx(np.mean(vals),
                                                                                   abs=1e-4)
    assert sum(nn["histogram"]["counts"]) == 3 and len(nn["histogram"]["edges"]) == 21
    assert nn["q05"] <= nn["q25"] <= nn["median"] <= nn["q75"] <= nn["q95"]
    assert any("also appear in train" in w for w in rep["warnings"])
    assert any(w.startswith("33% of test molecules have a train neighbour with Tanimoto >= 0.8")
               for w in rep["warnings"])
    json.loads(to_json(rep))


def test_clean_split_has_no_duplicates_and_sampling():
    ds = _ds(["C" * (i + 1) for i in range(30)], "smiles")
    rep = audit_split(ds, _splits(range(20), [], range(20, 30)), "smiles", max_test=4)
    assert rep["exact_duplicates"]["train_test"] == 0
    assert rep["nn_similarity"]["n"] == 4 and "sample of 4" in rep["note"]


def test_sequence_audit_uses_kmer_jaccard():
    seqs, fam = mutants(4, 80, "ACDEFGHIKLMNPQRSTVWY", per_family=2, seed=3)
    # train: family 0..3 bases; test: mutant of family 0, and the base of family 1 again
    ds = _ds([seqs[0], seqs[2], seqs[4], seqs[6], seqs[1], seqs[2]], "protein")
    rep = audit_split(ds, _splits([0, 1, 2, 3], [], [4, 5]), "protein")
    vals = rep["nn_similarity"]["values"]
    assert 0.85 < vals[0] < 1.0 and vals[1] == 1.0
    assert rep["exact_duplicates"]["train_test"] == 1
    assert rep["metric"].startswith("3-mer Jaccard")


def test_text_audit_counts_exact_duplicates_only():
    ds = _ds(["a cat", "a dog", "a cat", "fish"], "text")
    rep = audit_split(ds, _splits([0, 1], [3], [2]), "text")
    assert rep["exact_duplicates"]["train_test"] == 1
    assert rep["nn_similarity"] is None and "not implemented for text" in rep["note"]


def test_kmer_tools_match_python_sets():
    seqs = ["ACGTACGTAA", "ACGTACGTAC", "AC", "TTTTTTTTTT"]
    codes, starts = kmer_codes(seqs, 3)
    sets = [{s[i:i + 3] for i in range(len(s) - 2)} or {s} for s in seqs]
    assert np.diff(starts).tolist() == [len(s) for s in sets]
    exact = [max(len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for j in (0, 1)) for i in (2, 3)]
    got = nn_kmer_jaccard(seqs[2:], seqs[:2], 3)
    np.testing.assert_allclose(got, exact)
    sig = minhash_signatures(codes, starts, n_hashes=32, seed=1)
    assert sig.shape == (4, 32) and np.array_equal(sig, minhash_signatures(codes, starts, 32, 1))
    assert not np.array_equal(sig, minhash_signatures(codes, starts, 32, 2))
