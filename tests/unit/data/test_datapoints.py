"""Datapoint: a record that behaves as its primary string when it has no further columns."""

from __future__ import annotations

import pytest

from scifm.data.datapoints import (
    Datapoint,
    InvalidInput,
    as_datapoint,
    primary_strings,
    reason_category,
)


def test_one_column_datapoint_equals_its_string():
    d = Datapoint("CCO")
    assert d == "CCO" and hash(d) == hash("CCO") and str(d) == "CCO"
    assert {d, "CCO"} == {"CCO"} and ["CCO", "CCN"].index(d) == 0
    assert d != 3 and d != Datapoint("CCO", (("t", 1.0),))


def test_further_columns_take_part_in_equality():
    a = Datapoint("CCO", (("t", 298.0),))
    assert a != "CCO" and a == Datapoint("CCO", (("t", 298.0),))
    assert a != Datapoint("CCO", (("t", 310.0),))
    assert len({a, Datapoint("CCO", (("t", 298.0),)), Datapoint("CCO")}) == 2
    assert a.columns == {"t": 298.0} and a.get("t") == 298.0 and a.get("p", 1.0) == 1.0
    with pytest.raises(AttributeError):
        a.primary = "CCN"  # frozen


def test_helpers():
    assert primary_strings([Datapoint("A", (("x", 1.0),)), "B"]) == ["A", "B"]
    assert as_datapoint("A") == Datapoint("A") and as_datapoint(Datapoint("B")).primary == "B"
    err = InvalidInput("invalid SMILES syntax: cannot parse 'x'")
    assert err.category == reason_category(err.reason) == "invalid SMILES syntax"
