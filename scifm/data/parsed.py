"""Parsed molecules, kept by canonical SMILES so that a process parses each molecule once.

The SMILES validator (:mod:`scifm.modalities.smiles`) parses every input to canonicalise it;
it hands the molecule it parsed to :func:`remember`, under the canonical SMILES it wrote. A
featurizer of the same process whose features do not depend on atom order (Morgan counts: a
sum over atom environments) then takes that molecule with :func:`recall` instead of parsing the
canonical SMILES again, which cost a fifth of a screen's time. The features are the same either
way (``tests/unit/featurizers/test_parsed_memo.py`` compares them on every BBBP molecule);
features that sum floating-point contributions in atom order (RDKit 2D descriptors) always parse
again, so their values stay bit-identical to training's.

Molecules are kept only inside :func:`scope` (one chunk's validation and prediction,
:func:`scifm.evaluation.chunks.predict_chunk`) and dropped at its end, so memory stays flat;
validation anywhere else keeps nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["recall", "remember", "scope"]

_MOLS: dict[str, Any] | None = None


@contextmanager
def scope() -> Iterator[None]:
    """Keep the molecules validated inside this block (nested blocks share the outer one)."""
    global _MOLS
    if _MOLS is not None:
        yield
        return
    _MOLS = {}
    try:
        yield
    finally:
        _MOLS = None


def remember(canonical: str, mol: Any) -> None:
    """Keep ``mol`` (an RDKit molecule) as the molecule of ``canonical`` (inside :func:`scope`)."""
    if _MOLS is not None:
        _MOLS[canonical] = mol


def recall(canonical: str) -> Any | None:
    """The molecule remembered for ``canonical``, or None."""
    return None if _MOLS is None else _MOLS.get(canonical)
