"""A predictor answers a repeated ``predict`` on equal inputs from memory (auto's combinations
and uncertainty layer predict the val and test rows again)."""

from __future__ import annotations

import numpy as np

from scifm.models.memo import MEMO_ENTRIES, remember_predictions


class _Counting:
    def __init__(self, tags: bool = False) -> None:
        self.calls = 0
        self.tags = tags

    def predict(self, x):
        self.calls += 1
        if self.tags:
            return [["O"] * len(s.split()) for s in x]
        return np.array([[len(s) + self.calls] for s in x], dtype=float)


def test_equal_inputs_are_answered_once_and_as_copies():
    model = _Counting()
    assert remember_predictions(model) is model
    first = model.predict(["CCO", "c1ccccc1"])
    first[0, 0] = -1.0  # the caller's copy
    again = model.predict(["CCO", "c1ccccc1"])  # an equal list, another object
    assert model.calls == 1 and again[0, 0] == 4.0
    other = model.predict(["CCO", "c1ccccc"])  # one item differs: predicted
    assert model.calls == 2 and other[0, 0] == 5.0
    assert remember_predictions(model) is model  # wrapped once only
    model.predict(["CCO"])
    assert model.calls == 3


def test_old_answers_are_dropped_and_non_array_answers_not_kept():
    model = remember_predictions(_Counting())
    for i in range(MEMO_ENTRIES + 1):
        model.predict([f"C{i}"])
    model.predict(["C0"])  # the least recent was dropped: predicted again
    assert model.calls == MEMO_ENTRIES + 2
    tagger = remember_predictions(_Counting(tags=True))
    tagger.predict(["a b"])
    tagger.predict(["a b"])
    assert tagger.calls == 2


def test_monte_carlo_dropout_passes_are_never_answered_from_memory():
    from scifm.models.memo import fresh_predict

    model = remember_predictions(_Counting())
    model.predict(["CCO"])
    fresh = fresh_predict(model)
    assert fresh(["CCO"])[0, 0] != fresh(["CCO"])[0, 0] and model.calls == 3
    plain = _Counting()
    assert fresh_predict(plain) == plain.predict  # a model without memory: its own predict
