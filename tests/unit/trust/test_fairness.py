"""Fairness metrics against hand-computed values on tiny tables; groups; threshold rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
)

from scifm.errors import ConfigError, DataError
from scifm.trust.fairness import classification_fairness, regression_fairness
from scifm.trust.groups import group_key, make_groups, quantile_groups, scaffold_groups
from scifm.trust.mitigation import check_rule, decide, fit_rule, positive_probability
from scifm.utils.io import to_json

# group a: y 1 1 0 0, pred 1 0 0 1  -> TPR 1/2, FPR 1/2, selection 2/4, accuracy 2/4
# group b: y 1 1 1 0 0 0, pred 1 1 1 0 0 1 -> TPR 1, FPR 1/3, selection 4/6, accuracy 5/6
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0])
P = np.array([1, 0, 0, 1, 1, 1, 1, 0, 0, 1])
G = ["a"] * 4 + ["b"] * 6
S = np.array([0.9, 0.4, 0.2, 0.6, 0.8, 0.7, 0.9, 0.1, 0.2, 0.6])


def _by_group(result: dict) -> dict[str, dict]:
    return {g["group"]: g for g in result["groups"]}


def test_per_group_rates_and_differences_equal_hand_computed_values():
    res = classification_fairness(Y, P, G, y_score=S, n_bootstrap=200)
    a, b = _by_group(res)["a"], _by_group(res)["b"]
    assert (a["count"], b["count"]) == (4, 6)
    assert a["tpr"] == pytest.approx(0.5) and b["tpr"] == pytest.approx(1.0)
    assert a["fpr"] == pytest.approx(0.5) and b["fpr"] == pytest.approx(1 / 3)
    assert a["selection_rate"] == pytest.approx(0.5) and b["selection_rate"] == pytest.approx(2 / 3)
    assert a["accuracy"] == pytest.approx(0.5) and b["accuracy"] == pytest.approx(5 / 6)
    assert a["roc_auc"] == pytest.approx(3 / 4)  # pairs: .9>.2 .9>.6 .4>.2, .4<.6
    assert b["roc_auc"] == pytest.approx(1.0)
    d = {k: v["value"] for k, v in res["differences"].items()}
    assert d["demographic_parity_difference"] == pytest.approx(2 / 3 - 1 / 2)
    assert d["equal_opportunity_difference"] == pytest.approx(0.5)
    assert d["equalized_odds_difference"] == pytest.approx(0.5)  # max(1/2, 1/2 - 1/3)
    assert res["overall"]["count"] == 10 and res["overall"]["accuracy"] == pytest.approx(0.7)


def test_intervals_contain_the_estimate_and_verdicts_are_words():
    res = classification_fairness(Y, P, G, y_score=S, n_bootstrap=300, seed=1)
    for entry in res["differences"].values():
        lo, hi = entry["ci95"]
        assert lo <= entry["value"] <= hi
        assert entry["verdict"] in ("ok", "gap", "uncertain")
        assert entry["text"].split(":")[0] in ("fair within the tolerance 0.1", "a gap beyond "
                                               "the tolerance 0.1", "not conclusive")
    assert any("too noisy" in w for w in res["warnings"])  # groups of 4 and 6 rows


def test_differences_match_fairlearn_on_a_random_table():
    rng = np.random.default_rng(0)
    g = rng.choice(["x", "y", "z"], 300)
    y = rng.integers(0, 2, 300)
    p = (rng.random(300) < 0.3 + 0.4 * y + 0.1 * (g == "z")).astype(int)
    d = classification_fairness(y, p, g, n_bootstrap=100)["differences"]
    assert d["demographic_parity_difference"]["value"] == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=g))
    assert d["equal_opportunity_difference"]["value"] == pytest.approx(
        equal_opportunity_difference(y, p, sensitive_features=g))
    assert d["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=g))


def test_a_clear_gap_is_called_a_gap_and_equal_groups_are_fair():
    y = np.tile([1, 0], 200)
    g = np.repeat(["a", "b"], 200)
    biased = np.where(g == "a", y, 0)  # group b: every positive missed
    assert classification_fairness(y, biased, g, n_bootstrap=200)["differences"][
        "equal_opportunity_difference"]["verdict"] == "gap"
    fair = classification_fairness(y, y, g, n_bootstrap=200)["differences"]
    assert fair["equalized_odds_difference"]["verdict"] == "ok"


def test_a_group_without_positives_has_an_undefined_tpr():
    y, p, g = np.array([1, 0, 0, 0]), np.array([1, 0, 1, 0]), ["a", "a", "b", "b"]
    res = classification_fairness(y, p, g, n_bootstrap=50)
    assert math.isnan(_by_group(res)["b"]["tpr"])
    assert any("no positive label" in w for w in res["warnings"])
    assert math.isnan(res["differences"]["equal_opportunity_difference"]["value"])
    assert res["differences"]["equal_opportunity_difference"]["verdict"] == "undefined"


def test_regression_gaps_equal_hand_computed_values():
    # a: errors 0 0 2 -> MAE 2/3, RMSE sqrt(4/3); b: errors 1 1 -> MAE 1, RMSE 1
    y = np.array([1.0, 2.0, 3.0, 0.0, 0.0])
    p = np.array([1.0, 2.0, 5.0, 1.0, -1.0])
    res = regression_fairness(y, p, ["a", "a", "a", "b", "b"], n_bootstrap=200)
    a, b = _by_group(res)["a"], _by_group(res)["b"]
    assert a["mae"] == pytest.approx(2 / 3) and a["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert b["mae"] == pytest.approx(1.0) and b["rmse"] == pytest.approx(1.0)
    gaps = res["differences"]
    assert gaps["mae_gap"]["value"] == pytest.approx(1 / 3)
    assert gaps["rmse_gap"]["value"] == pytest.approx(math.sqrt(4 / 3) - 1)
    for entry in gaps.values():
        lo, hi = entry["ci95"]
        assert lo <= entry["value"] <= hi
    assert "MAE is 1 for 'b' (worst)" in gaps["mae_gap"]["text"]


def test_group_keys_and_derived_groups():
    assert [group_key(v) for v in (1.0, 0, " F ", float("nan"), "", 2.5)] == \
        ["1", "0", "F", None, None, "2.5"]
    frame = pd.DataFrame({"age": [30, 40, 50, 60, 70, 80, None, 90]})
    bins = quantile_groups(frame["age"], "derived:bins:age:2", 2)
    assert bins.groups[:3] == ["Q1 [30, 60]"] * 3 and bins.groups[6] is None
    assert len(set(make_groups("derived:bins:age", frame, []).groups) - {None}) == 4
    smiles = ["c1ccccc1C"] * 5 + ["c1ccccc1O", "CCO", "C1CCCCC1N"]
    sc = scaffold_groups(smiles)
    assert sc.groups == ["scaffold 1"] * 6 + ["acyclic", "other scaffolds"]
    assert sc.labels == {"scaffold 1": "c1ccccc1"}
    with pytest.raises(DataError, match="no column 'sex'"):
        make_groups("sex", frame, [])
    with pytest.raises(ConfigError, match="unknown derived grouping"):
        make_groups("derived:cluster", frame, [])


def _biased_table(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Scores that are informative in both groups but shifted down for group b."""
    rng = np.random.default_rng(seed)
    g = np.where(rng.random(n) < 0.5, "a", "b")
    y = rng.integers(0, 2, n)
    s = np.clip(0.25 + 0.4 * y - 0.2 * (g == "b") + rng.normal(0, 0.15, n), 0, 1)
    return s, y, g


@pytest.mark.parametrize("constraint", ["equalized_odds", "true_positive_rate_parity"])
def test_mitigation_brings_the_rates_closer(constraint):
    s, y, g = _biased_table()
    before = classification_fairness(y, (s >= 0.5).astype(int), g, n_bootstrap=50)
    rule = fit_rule(s, y, g, constraint)
    keys = [f"row{i}" for i in range(len(y))]
    after = classification_fairness(y, decide(rule, s, g, keys), g, n_bootstrap=50)
    name = "equal_opportunity_difference"
    assert before["differences"][name]["value"] > 0.3
    assert after["differences"][name]["value"] < before["differences"][name]["value"] / 3


def test_rules_round_trip_through_json_and_decisions_are_reproducible():
    s, y, g = _biased_table(400, seed=1)
    rule = fit_rule(s, y, g, "equalized_odds")
    back = json.loads(to_json(rule))  # what thresholds.json and scifm.json hold
    check_rule(back)
    np.testing.assert_allclose(positive_probability(back, s, g),
                               positive_probability(rule, s, g))
    keys = [str(i) for i in range(len(s))]
    np.testing.assert_array_equal(decide(back, s, g, keys), decide(rule, s, g, keys))
    unseen = positive_probability(back, np.array([0.2, 0.7]), ["zz", None])
    np.testing.assert_array_equal(unseen, [0.0, 1.0])  # default threshold 0.5
    bad = {**back, "groups": {"a": {**back["groups"]["a"], "p0": 2.0}}}
    with pytest.raises(ValueError, match="probabilities"):
        check_rule(bad)
