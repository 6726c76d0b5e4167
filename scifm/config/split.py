"""The ``split`` section of the experiment spec and its short forms.

Re-exported by :mod:`scifm.config.schema`, which assembles the whole experiment spec; the loader
(:mod:`scifm.config.load`) expands the short forms the same way in YAML, CLI flags and ``--set``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from scifm.config.base import Strict

__all__ = ["SplitConfig", "SplitMethod", "expand_split"]

SplitMethod = Literal["random", "stratified", "scaffold", "similarity", "predefined"]


def expand_split(value: object) -> object:
    """The short forms of the ``split`` section as the full mapping.

    ``"scaffold"`` -> ``{"method": "scaffold"}``; ``"column:NAME"`` (alone or as ``method``) ->
    ``{"method": "predefined", "column": "NAME"}``. Anything else is returned unchanged.

    Raises
    ------
    ValueError
        ``column:`` without a name, or a ``column`` key that names another column.
    """
    if isinstance(value, str):
        value = {"method": value}
    method = value.get("method") if isinstance(value, dict) else None
    if not (isinstance(method, str) and method.startswith("column:")):
        return value
    column = method.removeprefix("column:").strip()
    if not column:
        raise ValueError("column:NAME needs a column name, e.g. column:split")
    if value.get("column", column) != column:
        raise ValueError(f"method {method!r} and column {value['column']!r} disagree")
    return {**value, "method": "predefined", "column": column}


class SplitConfig(Strict):
    """How rows are split into train / val / test.

    One syntax everywhere (YAML, ``--split``, ``--set``): the section may be given as its method
    alone (``split: scaffold``), and ``column:NAME`` stands for ``method: predefined`` +
    ``column: NAME`` (``split: column:fold``, ``--split column:fold``,
    ``--set split.method=column:fold``)."""

    method: SplitMethod = "scaffold"
    """``random``, ``stratified`` (classification), ``scaffold`` (balanced Bemis-Murcko, smiles),
    ``similarity`` (sequence clusters never straddle splits), ``predefined`` (a column; also
    written ``column:NAME``). When not given, the field's default for the modality: ``scaffold``
    for SMILES, ``similarity`` for protein / DNA, ``stratified`` for text (random for regression
    targets)."""
    column: str = "split"
    """For ``predefined``: column whose values are train / val (or valid, dev) / test."""
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    n_folds: int | None = None
    """k-fold variant: test = fold ``fold`` of ``n_folds``; val is carved from the rest."""
    fold: int = 0
    similarity_threshold: float = 0.9
    """For ``similarity``: sequences whose k-mer Jaccard similarity reaches this are grouped."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: object) -> object:
        """``"scaffold"`` -> ``{method: scaffold}``; ``method: column:NAME`` -> ``predefined``."""
        return expand_split(v)

    @field_validator("sizes")
    @classmethod
    def _sizes_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s < 0 for s in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] <= 0:
            raise ValueError("sizes must be three non-negative fractions (train>0) summing to 1")
        return v

    @model_validator(mode="after")
    def _fold_in_range(self) -> SplitConfig:
        if self.n_folds is not None:
            if self.n_folds < 2:
                raise ValueError("n_folds must be at least 2")
            if not 0 <= self.fold < self.n_folds:
                raise ValueError(f"fold must be in 0..{self.n_folds - 1}")
        return self
