"""Entity-level F1 (seqeval definition) and Q3 over scored residues, with bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from scifm.evaluation.token_metrics import entity_counts, evaluate_tokens, token_scores


def _random_tags(rng, n, length):
    tags = ["O", "B-Dis", "I-Dis", "B-Chem", "I-Chem"]
    return [[tags[i] for i in rng.integers(0, 5, length)] for _ in range(n)]


def test_entity_scores_match_seqeval_on_random_iob():
    rng = np.random.default_rng(0)
    y_true, y_pred = _random_tags(rng, 40, 12), _random_tags(rng, 40, 12)
    got = token_scores("ner", y_true, y_pred)
    assert got["entity_f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert got["entity_precision"] == pytest.approx(precision_score(y_true, y_pred))
    assert got["entity_recall"] == pytest.approx(recall_score(y_true, y_pred))


def test_entity_match_needs_exact_span_and_iob1_is_read():
    y_true = [["B-D", "I-D", "O", "I-D"]]  # IOB1-style: I- after O starts the 2nd entity
    assert entity_counts(y_true, y_true).tolist() == [[2, 2, 2]]
    partial = [["B-D", "O", "O", "I-D"]]  # first span cut short: not a match
    assert entity_counts(y_true, partial).tolist() == [[1, 2, 2]]
    m = evaluate_tokens("ner", y_true * 5, partial * 5, n_bootstrap=50)
    assert m["entity_f1"]["value"] == pytest.approx(0.5)
    assert m["n"] == 5 and m["n_scored"] == 10


def test_q3_ignores_unscored_residues():
    y_true = [[None, "H", "E", "C"], ["C", None]]
    wrong_where_masked = [["E", "H", "E", "H"], ["C", "H"]]
    m = evaluate_tokens("residue", y_true, wrong_where_masked, n_bootstrap=200, seed=1)
    assert m["q3"]["value"] == pytest.approx(3 / 4)  # 3 of the 4 scored residues are right
    assert m["n_scored"] == 4
    lo, hi = m["q3"]["ci95"]
    assert 0.0 <= lo <= m["q3"]["value"] <= hi <= 1.0


def test_bootstrap_is_over_units_and_seeded():
    rng = np.random.default_rng(3)
    y_true, y_pred = _random_tags(rng, 60, 8), _random_tags(rng, 60, 8)
    a = evaluate_tokens("ner", y_true, y_pred, n_bootstrap=300, seed=5)
    b = evaluate_tokens("ner", y_true, y_pred, n_bootstrap=300, seed=5)
    assert a == b
    lo, hi = a["entity_f1"]["ci95"]
    assert lo < a["entity_f1"]["value"] < hi
    with pytest.raises(ValueError, match="2 true tags but 1"):
        evaluate_tokens("ner", [["O", "O"]], [["O"]])
