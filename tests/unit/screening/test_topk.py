"""Top K in bounded memory equals a full sort (ties by row id); lazy exclusion asks about few
rows and equals sorting the kept rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scifm.screening.scores import Target
from scifm.screening.topk import TopK


def _chunks(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    size = -(-len(frame) // n)
    return [frame.iloc[i:i + size] for i in range(0, len(frame), size)]


def _stream(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.integers(0, 50, size=n) / 10  # many ties
    score[rng.integers(0, n, size=20)] = np.nan  # never ranked
    return pd.DataFrame({"row_id": rng.permutation(n), "prob_a": score})


@pytest.mark.parametrize("direction", ["max", "min"])
def test_equals_a_full_sort(direction):
    frame = _stream()
    target = Target("a", "prob_a", direction)
    top = TopK(37, target)
    for chunk in _chunks(frame, 23):
        top.add(chunk)
    full = frame.dropna().sort_values(["prob_a", "row_id"],
                                      ascending=[direction == "min", True]).head(37)
    got = top.result()
    assert got["row_id"].tolist() == full["row_id"].tolist()
    assert got["rank"].tolist() == list(range(1, 38)) and (got["target"] == "a").all()
    assert got["score"].tolist() == full["prob_a"].tolist()


def test_lazy_exclusion_equals_sorting_the_kept_rows():
    frame = _stream(seed=1)
    asked: list[int] = []

    def keep(rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        asked.extend(rows["row_id"])
        flagged = rows["row_id"].to_numpy() % 3 == 0
        return ~flagged, rows.assign(flagged=flagged)

    top = TopK(10, Target("a", "prob_a", "max"), keep)
    for chunk in _chunks(frame, 50):
        top.add(chunk)
    kept = frame[frame["row_id"] % 3 != 0].dropna()
    full = kept.sort_values(["prob_a", "row_id"], ascending=[False, True]).head(10)
    got = top.result()
    assert got["row_id"].tolist() == full["row_id"].tolist()
    assert not got["flagged"].any()
    assert len(asked) == len(set(asked)) < len(frame) // 4  # each row once, few rows
    assert top.n_excluded == sum(r % 3 == 0 for r in asked)


def test_empty_stream_gives_no_rows():
    top = TopK(5, Target("a", "prob_a", "max"))
    top.add(pd.DataFrame({"row_id": [], "prob_a": []}))
    assert len(top.result()) == 0
