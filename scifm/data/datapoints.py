"""One input record: the canonical primary input plus optional further input columns.

A :class:`Datapoint` is what cleaning produces (:attr:`scifm.data.clean.CleanDataset.inputs`)
and what predictors and featurizers receive. The *primary* input is the modality's string
(canonical SMILES, sequence, text): it is what de-duplication, the split groups (scaffolds,
sequence clusters), the leakage audit and the prediction tables use. Further input columns
(``data.input_col: [smiles, temperature]``) travel with it as ``extras``, for plug-ins and
featurizers that read them (SMILES + numeric conditions, text + table).

Featurizers and tokenizers that only read the primary string call :func:`primary_strings`, so
they accept plain strings and datapoints alike (``Sequence[Datapoint | str]``).

Raw values are checked by a modality's validator, which raises :class:`InvalidInput` with a
reason of the form ``"<category>: <detail>"``; the category is what the cleaning report counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Value = str | float
"""The value of a further input column: a string or a number."""


@dataclass(frozen=True, eq=False)
class Datapoint:
    """One validated input record.

    A datapoint without further columns compares and hashes equal to its primary string, so
    sets, dictionaries and comparisons written for plain strings give the same answers.

    Examples
    --------
    >>> d = Datapoint("CCO", (("temperature", 298.0),))
    >>> str(d), d.get("temperature")
    ('CCO', 298.0)
    >>> Datapoint("CCO") == "CCO"
    True
    """

    primary: str
    """The canonical primary input (SMILES, sequence or text): used for de-duplication, split
    grouping, the leakage audit and display."""
    extras: tuple[tuple[str, Value], ...] = ()
    """Further input columns as ``(column, value)`` pairs, in ``data.input_col`` order; values
    are numbers or strings as the modality's plug-in parsed them (empty for one-column data)."""

    def __str__(self) -> str:
        return self.primary

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Datapoint):
            return self.primary == other.primary and self.extras == other.extras
        if isinstance(other, str):
            return not self.extras and self.primary == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.primary) if not self.extras else hash((self.primary, self.extras))

    @property
    def columns(self) -> dict[str, Value]:
        """The further input columns as a dict (column -> value)."""
        return dict(self.extras)

    def get(self, column: str, default: Value | None = None) -> Value | None:
        """The value of a further input column (``default`` when absent)."""
        for name, value in self.extras:
            if name == column:
                return value
        return default


Inputs = Sequence[Datapoint | str]
"""What predictors, featurizers and tokenizers accept: datapoints or plain primary strings."""


def primary_strings(xs: Iterable[Datapoint | str]) -> list[str]:
    """The primary input string of each item (a plain string is its own primary input)."""
    return [x.primary if isinstance(x, Datapoint) else str(x) for x in xs]


def as_datapoint(x: Datapoint | str) -> Datapoint:
    """``x`` itself, or a one-column datapoint for a plain string."""
    return x if isinstance(x, Datapoint) else Datapoint(str(x))


class InvalidInput(ValueError):
    """A raw input value that cannot be used; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def category(self) -> str:
        """The reason without its detail (text before the first colon)."""
        return reason_category(self.reason)


def reason_category(reason: str) -> str:
    """Category of a rejection reason: the text before the first ``:``."""
    return reason.split(":", 1)[0].strip()


__all__ = ["Datapoint", "Inputs", "InvalidInput", "Value", "as_datapoint", "primary_strings",
           "reason_category"]
