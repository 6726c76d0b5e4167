"""Input modalities as plug-ins: one :class:`~scifm.modalities.base.ModalitySpec` per modality.

The built-in plug-ins (:mod:`~scifm.modalities.smiles`, :mod:`~scifm.modalities.protein`,
:mod:`~scifm.modalities.dna`, :mod:`~scifm.modalities.text`) register themselves in
:data:`scifm.config.registry.MODALITIES` when this package is imported, which the registry does
the first time it is read. Code outside this package asks the registry
(``MODALITIES.get(name).<hook>``) and never compares a modality's name.
"""

import importlib

from scifm.modalities.base import MODALITIES, ModalitySpec, NNSimilarity, get_modality

BUILTINS = ("smiles", "protein", "dna", "text")
"""The built-in plug-in modules, imported (and so registered) in this order."""

for _name in BUILTINS:
    importlib.import_module(f"scifm.modalities.{_name}")

__all__ = ["BUILTINS", "MODALITIES", "ModalitySpec", "NNSimilarity", "get_modality"]
