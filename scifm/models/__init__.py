"""Model families behind one :class:`~scifm.models.base.Predictor` interface.

Families are registered once, by name, in :data:`scifm.config.registry.FAMILIES` (built-ins in
:mod:`scifm.models.families`; the spec is :class:`scifm.models.registry.FamilySpec`).
:func:`build_predictor` makes an unfitted predictor of a family from the experiment config;
:func:`load_predictor` reads a saved ``model/`` folder back, dispatching on ``family`` in its
``scifm.json``. Family modules are imported lazily (``import scifm.models`` stays light).
"""

from __future__ import annotations

from scifm.models.base import MODEL_META, Predictor
from scifm.models.registry import (
    FAMILIES,
    FamilySpec,
    build_predictor,
    family_params,
    get_family,
    load_predictor,
)

__all__ = ["FAMILIES", "MODEL_META", "FamilySpec", "Predictor", "build_predictor",
           "family_params", "get_family", "load_predictor"]
