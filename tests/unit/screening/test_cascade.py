"""The cascade's recall and sample, on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scifm.screening.cascade import cascade_recall, rescore_count, sample_positions
from scifm.screening.scores import Target


def test_recall_by_hand():
    # 10 sampled rows; the full model's best are rows 9, 8, 7, ...; the cascade re-scored 9, 7, 3
    sample = pd.DataFrame({"row_id": np.arange(10), "prob_a": np.arange(10) / 10})
    got = cascade_recall(sample, [Target("a", "prob_a", "max")], np.array([9, 7, 3]),
                         n_scored=100, k=20, m=40)["a"]
    assert got["n_reference"] == 2 and got["recall"] == 0.5  # rows 9, 8: 9 re-scored
    assert got["n_reference_rescore"] == 4 and got["recall_at_rescore"] == 0.5  # 9, 8, 7, 6


def test_rescore_count_and_sample():
    assert rescore_count(1_000, 0.05, 10) == 50
    assert rescore_count(1_000, 0.001, 10) == 10  # at least K
    assert rescore_count(5, 0.5, 10) == 5  # at most n
    a, b = sample_positions(1_000, 100, 0), sample_positions(1_000, 100, 0)
    assert (a == b).all() and len(set(a)) == 100 and (np.diff(a) > 0).all()
    assert len(sample_positions(50, 100, 0)) == 50
