"""The featurizer interface and its registry.

A featurizer (chemprop's ``Featurizer[S, T]`` shape) is a callable with one job: turn a batch of
input strings (canonical SMILES, sequences or texts) into a numeric matrix for a
:class:`~scifm.models.baselines.LGBMTaskModel`.

* ``featurizer(xs)`` -> ``n x d`` float32 matrix: a dense :class:`numpy.ndarray`, or a
  :class:`scipy.sparse.csr_matrix` for high-dimensional sparse features (TF-IDF);
* ``len(featurizer)`` -> ``d`` (known at construction for fixed featurizers, after ``fit`` for
  fitted ones such as TF-IDF);
* ``featurizer.fit(xs)`` -> ``featurizer`` (a no-op for fixed featurizers);
* ``featurizer.to_config()`` -> a JSON-able dict holding everything needed to rebuild it, fitted
  state included; :func:`build_featurizer` is its inverse. Nothing is pickled.

Names in the registry: ``ecfp``, ``rdkit2d``, ``concat`` (``ecfp+rdkit2d``), ``kmer``, ``tfidf``,
``maccs``, ``protdesc``; named feature sets (``ecfp6``, ``ecfp+maccs``, ...) are in
:mod:`scifm.featurizers.sets`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import scipy.sparse as sp

from scifm.errors import ConfigError

logger = logging.getLogger(__name__)

Features = np.ndarray | sp.csr_matrix
"""What a featurizer returns: ``n x d`` float32, dense or CSR."""


@runtime_checkable
class Featurizer(Protocol):
    """Turns a batch of strings into an ``n x d`` float32 feature matrix."""

    name: str
    """Registry name, stored in :meth:`to_config` under ``"name"``."""

    def __call__(self, xs: Sequence[str]) -> Features:
        """Featurize ``xs``; shape ``len(xs) x len(self)``, float32."""
        ...

    def __len__(self) -> int:
        """Number of features ``d``."""
        ...

    def fit(self, xs: Sequence[str]) -> Featurizer:
        """Learn any data-dependent state (vocabularies) from training inputs; returns self."""
        ...

    def to_config(self) -> dict[str, Any]:
        """JSON-able dict with ``"name"`` and everything :func:`build_featurizer` needs."""
        ...


class BaseFeaturizer:
    """Shared defaults: fixed featurizers need no fitting and are rebuilt from their params."""

    name: str = ""

    def fit(self, xs: Sequence[str]) -> BaseFeaturizer:
        """No-op for fixed featurizers; returns ``self``."""
        return self

    def __bool__(self) -> bool:  # a featurizer is truthy even when ``len`` is 0
        return True

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, **self._params()}

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaseFeaturizer:
        """Inverse of :meth:`to_config`."""
        params = {k: v for k, v in config.items() if k != "name"}
        return cls(**params)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if k != "names")
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


F = TypeVar("F", bound=type)

FEATURIZERS: dict[str, type] = {}
"""Registry: name -> featurizer class (each has a ``from_config`` classmethod)."""


def register(name: str) -> Callable[[F], F]:
    """Class decorator adding a featurizer class to :data:`FEATURIZERS` under ``name``."""

    def deco(cls: F) -> F:
        FEATURIZERS[name] = cls
        cls.name = name
        return cls

    return deco


def _load_builtins() -> None:
    # the concrete modules register themselves on import
    from scifm.featurizers import (  # noqa: F401
        embedding,
        fingerprints,
        molecule,
        protein,
        sequence,
        text,
    )


def build_featurizer(config: dict[str, Any]) -> Featurizer:
    """Rebuild a featurizer from :meth:`Featurizer.to_config` output.

    Raises
    ------
    ConfigError
        When ``config`` has no known ``"name"`` or its parameters are invalid.
    """
    _load_builtins()
    name = config.get("name") if isinstance(config, dict) else None
    if name not in FEATURIZERS:
        raise ConfigError(f"unknown featurizer {name!r}; known: {', '.join(sorted(FEATURIZERS))}")
    try:
        return FEATURIZERS[name].from_config(config)
    except (TypeError, KeyError, ValueError) as err:
        raise ConfigError(f"invalid config for featurizer {name!r}: {err}") from err


AUTO_FEATURES = {"smiles": "ecfp+rdkit2d", "protein": "kmer", "dna": "kmer", "text": "tfidf"}
"""What ``features: auto`` means for each modality."""

_MODALITIES_OF = {
    "ecfp": ("smiles",),
    "rdkit2d": ("smiles",),
    "ecfp+rdkit2d": ("smiles",),
    "kmer": ("protein", "dna"),
    "tfidf": ("smiles", "protein", "dna", "text"),
}


def _feature_set_atoms() -> frozenset[str]:
    from scifm.featurizers.sets import ATOM_MODALITIES

    return frozenset(ATOM_MODALITIES) - frozenset(_MODALITIES_OF)


def featurizer_from_name(name: str, modality: str) -> Featurizer:
    """A fresh (unfitted) featurizer for a ``LightGBMConfig.features`` name and a modality.

    Parameters
    ----------
    name
        ``auto``, ``ecfp``, ``rdkit2d``, ``ecfp+rdkit2d``, ``kmer`` or ``tfidf``; or any
        feature set of :mod:`scifm.featurizers.sets` (``ecfp6``, ``maccs``, ``ecfp+maccs``,
        ``kmer3+protdesc``, ...).
    modality
        ``smiles``, ``protein``, ``dna`` or ``text``; resolves ``auto`` (see
        :data:`AUTO_FEATURES`) and the k-mer alphabet.

    Raises
    ------
    ConfigError
        Unknown name or modality, or features that do not apply to the modality.
    """
    _load_builtins()
    from scifm.featurizers.molecule import (
        ConcatFeaturizer,
        ECFPFeaturizer,
        RDKit2DFeaturizer,
    )
    from scifm.featurizers.sequence import KmerSpectrumFeaturizer
    from scifm.featurizers.text import TfidfFeaturizer

    if modality not in AUTO_FEATURES:
        raise ConfigError(f"unknown modality {modality!r}; expected one of {list(AUTO_FEATURES)}")
    resolved = AUTO_FEATURES[modality] if name == "auto" else name
    if (resolved not in _MODALITIES_OF and "+" in resolved) or resolved in _feature_set_atoms():
        from scifm.featurizers.sets import feature_set

        return feature_set(resolved, modality)  # named feature sets (ecfp6, ecfp+maccs, ...)
    if resolved not in _MODALITIES_OF:
        raise ConfigError(
            f"lightgbm.features: unknown featurizer {name!r}; expected auto or one of "
            f"{', '.join(_MODALITIES_OF)}"
        )
    if modality not in _MODALITIES_OF[resolved]:
        raise ConfigError(
            f"lightgbm.features={resolved!r} does not apply to {modality} inputs; "
            f"use one of {[n for n, m in _MODALITIES_OF.items() if modality in m]} or auto"
        )
    logger.debug("featurizer %s for modality %s", resolved, modality)
    if resolved == "ecfp":
        return ECFPFeaturizer()
    if resolved == "rdkit2d":
        return RDKit2DFeaturizer()
    if resolved == "ecfp+rdkit2d":
        return ConcatFeaturizer([ECFPFeaturizer(), RDKit2DFeaturizer()])
    if resolved == "kmer":
        return KmerSpectrumFeaturizer.for_modality(modality)
    return TfidfFeaturizer()
