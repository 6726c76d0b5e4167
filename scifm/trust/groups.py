"""Which group each row belongs to: a column of the data, or a group derived from it.

``--group-col`` names the groups of a fairness audit (:mod:`scifm.trust.fairness`):

* ``COLUMN`` — the values of a column (``sex``, a data-source column, an assay); a number that
  is an integer is written without its decimals (``1.0`` -> ``"1"``), so the groups of a CSV
  column and of the same column read as a model's input agree;
* ``derived:scaffold`` — the Bemis-Murcko scaffold of each molecule (SMILES inputs): each of the
  :data:`TOP_SCAFFOLDS` most frequent scaffolds with at least :data:`MIN_SCAFFOLD_ROWS` rows is a
  group (``scaffold 1`` = the most frequent; the SMILES is kept in the audit's ``labels``),
  acyclic molecules are ``acyclic`` and every other molecule is ``other scaffolds`` — "is the
  model equally good across chemical series?";
* ``derived:bins:COLUMN`` or ``derived:bins:COLUMN:K`` — ``K`` (default 4) quantile bins of a
  numeric column (``age``, molecular weight), named by their range (``Q1 [29, 48]``).

A blank cell has no group (``None``); the audit leaves such rows out and says how many.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scifm.errors import ConfigError, DataError

DERIVED = "derived:"
"""Prefix of a derived grouping."""
TOP_SCAFFOLDS = 5
"""At most this many scaffolds are groups of their own (``derived:scaffold``)."""
MIN_SCAFFOLD_ROWS = 5
"""A scaffold needs at least this many rows to be a group of its own."""
DEFAULT_BINS = 4
"""Quantile bins of ``derived:bins:COLUMN``."""


@dataclass
class Grouping:
    """The group of every row and what the names mean."""

    groups: list[str | None]
    """Group name of each row (``None``: no group, e.g. a blank cell)."""
    spec: str
    """The ``--group-col`` it was made from."""
    column: str | None
    """The data column read (``None`` for ``derived:scaffold``, which reads the inputs)."""
    labels: dict[str, str] = field(default_factory=dict)
    """What a derived group name stands for (``scaffold 1`` -> its SMILES)."""

    @property
    def derived(self) -> bool:
        """Whether the groups were computed from the data rather than read from a column."""
        return self.spec.startswith(DERIVED)


def group_key(value: object) -> str | None:
    """The group name of a cell: integral numbers (also written as text: ``"1.0"``) without
    decimals, other text stripped, blank -> ``None`` (as a model's further input column reads it:
    :func:`scifm.modalities.base.parse_number_or_text`).

    Examples
    --------
    >>> group_key(1.0), group_key("1.0"), group_key(" F "), group_key(float("nan")), group_key(2.5)
    ('1', '1', 'F', None, '2.5')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    try:  # numbers read as text (a CSV read as strings) name the same group as numbers
        number = float(text)
    except ValueError:
        return text or None
    return group_key(number) if math.isfinite(number) else text


def needed_column(spec: str) -> str | None:
    """The data column a ``--group-col`` reads (``None``: the inputs, ``derived:scaffold``).

    Raises
    ------
    ConfigError
        An unknown ``derived:`` grouping.
    """
    if not spec.startswith(DERIVED):
        return spec
    kind = spec[len(DERIVED):]
    if kind == "scaffold":
        return None
    if kind.startswith("bins:") and kind[5:]:
        column, _ = _bins_spec(kind[5:])
        return column
    raise ConfigError(f"--group-col {spec!r}: unknown derived grouping; use derived:scaffold, "
                      "derived:bins:COLUMN or derived:bins:COLUMN:K")


def _bins_spec(text: str) -> tuple[str, int]:
    column, _, k = text.rpartition(":")
    if column and k.isdigit():
        if int(k) < 2:
            raise ConfigError(f"derived:bins:{text}: at least 2 bins")
        return column, int(k)
    return text, DEFAULT_BINS


def make_groups(spec: str, frame: pd.DataFrame, inputs: Sequence[str]) -> Grouping:
    """The groups of ``--group-col spec`` for the rows of ``frame`` / ``inputs`` (aligned).

    Parameters
    ----------
    spec
        A column name, ``derived:scaffold`` or ``derived:bins:COLUMN[:K]``.
    frame
        The rows' other columns.
    inputs
        The rows' primary inputs (canonical SMILES for ``derived:scaffold``).

    Raises
    ------
    DataError
        The column is missing, or a bins column is not numeric.
    """
    column = needed_column(spec)
    if column is not None and column not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"--group-col {spec}: no column {column!r} in the data; columns: {shown}")
    if spec == DERIVED + "scaffold":
        return scaffold_groups(inputs, spec)
    if column is not None and spec.startswith(DERIVED):
        return quantile_groups(frame[column], spec, _bins_spec(spec[len(DERIVED) + 5:])[1])
    return Grouping([group_key(v) for v in frame[column].tolist()], spec, column)


def scaffold_groups(smiles: Sequence[str], spec: str = "derived:scaffold") -> Grouping:
    """Bemis-Murcko scaffold clusters: the most frequent scaffolds, ``acyclic`` and ``other
    scaffolds`` (see the module docstring)."""
    from scifm.modalities.smiles import scaffolds

    found = scaffolds([str(s) for s in smiles])
    counts = Counter(s for s in found if s)
    top = [s for s, k in counts.most_common(TOP_SCAFFOLDS) if k >= MIN_SCAFFOLD_ROWS]
    names = {s: f"scaffold {i + 1}" for i, s in enumerate(top)}
    groups = [names.get(s, "other scaffolds") if s else "acyclic" for s in found]
    return Grouping(groups, spec, None, {v: k for k, v in names.items()})


def quantile_groups(values: pd.Series, spec: str, k: int = DEFAULT_BINS) -> Grouping:
    """``k`` quantile bins of a numeric column, named ``Q<i> [lo, hi]`` (blank cells: no
    group; ties can merge bins, so there may be fewer than ``k``)."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        raise DataError(f"--group-col {spec}: column {values.name!r} is not numeric "
                        f"(e.g. {values[bad].iloc[0]!r})")
    if numbers.notna().sum() < 2:
        raise DataError(f"--group-col {spec}: fewer than 2 numbers in {values.name!r}")
    codes, edges = pd.qcut(numbers, k, labels=False, retbins=True, duplicates="drop")
    names = [f"Q{i + 1} [{_short(edges[i])}, {_short(edges[i + 1])}]"
             for i in range(len(edges) - 1)]
    groups = [None if pd.isna(c) else names[int(c)] for c in codes]
    return Grouping(groups, spec, str(values.name))


def _short(x: float) -> str:
    return f"{x:.4g}"
