"""Applicability domain: nearest-training similarity, the validation threshold, error bins."""

from __future__ import annotations

import numpy as np

import scifm.modalities  # noqa: F401 - registers the built-in modalities
from scifm.trust.domain import ApplicabilityDomain, error_by_similarity, fit_domain

TRAIN = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "c1ccccc1C", "CC(=O)O"]


def test_similarity_is_one_for_a_training_molecule_and_low_for_a_stranger() -> None:
    domain, s_val = fit_domain("smiles", TRAIN, ["CCCCCO", "c1ccccc1CC", "O=S(=O)(O)O"], 0.0)
    sim = domain.similarity(["CCO", "FC(F)(F)C(F)(F)F"])
    assert sim[0] == 1.0 and sim[1] < 0.2
    assert domain.threshold == s_val.min()  # quantile 0 = the least similar validation row
    assert list(domain.in_domain(np.array([domain.threshold, domain.threshold - 1e-9]))) == \
        [True, False]


def test_threshold_is_the_validation_quantile() -> None:
    val = ["CCCCCO", "c1ccccc1CC", "O=S(=O)(O)O", "CCCCCCO", "Cc1ccccc1C"]
    domain, s_val = fit_domain("smiles", TRAIN, val, 0.4)
    assert np.isclose(domain.threshold, np.quantile(s_val, 0.4))
    again = ApplicabilityDomain.from_dict(domain.to_dict(), domain.reference)
    np.testing.assert_array_equal(again.similarity(val), s_val)


def test_text_and_sequence_modalities_have_a_similarity() -> None:
    assert ApplicabilityDomain.available("text") and ApplicabilityDomain.available("protein")
    domain, _ = fit_domain("text", ["the cat sat on the mat", "proteins fold"],
                           ["the cat sat"], 0.1)
    sim = domain.similarity(["the cat sat on the mat", "quantum chromodynamics"])
    assert np.isclose(sim[0], 1.0) and sim[1] == 0.0


def test_error_by_similarity_bins() -> None:
    sim = np.array([0.1, 0.15, 0.55, 0.9, 1.0, 0.5])
    err = np.array([2.0, 4.0, 1.0, 0.5, 0.1, np.nan])
    bins = error_by_similarity(sim, err)
    assert [(b["lo"], b["n"]) for b in bins] == [(0.0, 2), (0.5, 1), (0.8, 2)]
    assert bins[0]["error"] == 3.0 and np.isclose(bins[2]["error"], 0.3)
