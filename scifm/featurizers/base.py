"""The featurizer interface and its registry.

A featurizer (chemprop's ``Featurizer[S, T]`` shape) is a callable with one job: turn a batch of
inputs into a numeric matrix for a :class:`~scifm.models.baselines.LGBMTaskModel`. Inputs are
:class:`~scifm.data.datapoints.Datapoint` records or plain strings (canonical SMILES, sequences or
texts); a featurizer that reads only the primary string calls
:func:`~scifm.data.datapoints.primary_strings`, one that reads further input columns (numeric
conditions) reads them from the datapoints.

* ``featurizer(xs)`` -> ``n x d`` float32 matrix: a dense :class:`numpy.ndarray`, or a
  :class:`scipy.sparse.csr_matrix` for high-dimensional sparse features (TF-IDF);
* ``len(featurizer)`` -> ``d`` (known at construction for fixed featurizers, after ``fit`` for
  fitted ones such as TF-IDF);
* ``featurizer.fit(xs)`` -> ``featurizer`` (a no-op for fixed featurizers);
* ``featurizer.to_config()`` -> a JSON-able dict holding everything needed to rebuild it, fitted
  state included; :func:`build_featurizer` is its inverse. Nothing is pickled.

Names in the registry: ``ecfp``, ``rdkit2d``, ``concat`` (``ecfp+rdkit2d``), ``kmer``, ``tfidf``,
``maccs``, ``protdesc``, ``embedding``; feature-set names (``auto``, ``ecfp6``, ``ecfp+maccs``,
...) are turned into featurizers by :func:`scifm.featurizers.sets.featurizer_from_name`.

:func:`featurize` is how the models call a featurizer on many inputs: a chunk at a time, with a
progress bar (inputs per second) and a log line when done (:mod:`scifm.utils.progress`).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import scipy.sparse as sp

from scifm.data.datapoints import Inputs
from scifm.errors import ConfigError
from scifm.featurizers.memo import current_memo
from scifm.utils import progress
from scifm.utils.deadline import check_deadline

logger = logging.getLogger(__name__)

Features = np.ndarray | sp.csr_matrix
"""What a featurizer returns: ``n x d`` float32, dense or CSR."""


@runtime_checkable
class Featurizer(Protocol):
    """Turns a batch of strings into an ``n x d`` float32 feature matrix."""

    name: str
    """Registry name, stored in :meth:`to_config` under ``"name"``."""

    def __call__(self, xs: Inputs) -> Features:
        """Featurize ``xs``; shape ``len(xs) x len(self)``, float32."""
        ...

    def __len__(self) -> int:
        """Number of features ``d``."""
        ...

    def fit(self, xs: Inputs) -> Featurizer:
        """Learn any data-dependent state (vocabularies) from training inputs; returns self."""
        ...

    def to_config(self) -> dict[str, Any]:
        """JSON-able dict with ``"name"`` and everything :func:`build_featurizer` needs."""
        ...


class BaseFeaturizer:
    """Shared defaults: fixed featurizers need no fitting and are rebuilt from their params."""

    name: str = ""

    def fit(self, xs: Inputs) -> BaseFeaturizer:
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


def is_fixed(featurizer: Any) -> bool:
    """Whether ``featurizer`` has no data-dependent state (its rows depend on the input only):
    not TF-IDF, nor a feature set containing it."""
    parts = getattr(featurizer, "featurizers", None)
    if parts is not None:
        return all(is_fixed(p) for p in parts)
    return type(featurizer).fit is BaseFeaturizer.fit


def memo_key(featurizer: Any) -> str | None:
    """The featurizer's identity for the memo (its config as JSON), or ``None`` when it cannot
    be memoised (fitted state, or a config that is not JSON)."""
    if not is_fixed(featurizer):
        return None
    try:
        return json.dumps(featurizer.to_config(), sort_keys=True, default=str)
    except (TypeError, ValueError, NotImplementedError):
        return None


FEATURIZE_CHUNK = 256
"""Inputs featurised per call by :func:`featurize` (between two updates of its bar)."""


def featurize(featurizer: Featurizer, xs: Inputs, *, what: str = "inputs",
              level: int = logging.DEBUG) -> Features:
    """``featurizer(xs)``, :data:`FEATURIZE_CHUNK` inputs at a time, with a progress bar; the
    finished step is logged at ``level`` (at INFO when it was slow: :mod:`scifm.utils.progress`;
    ``what``: the inputs, e.g. ``SMILES``).

    Featurizers work row by row (a fitted one's state is fixed), so the stacked chunks equal
    ``featurizer(xs)``. Inside :func:`scifm.featurizers.memo.feature_memo` rows already computed
    are reused (only new inputs are featurised); under a
    :func:`scifm.utils.deadline.fit_deadline` it stops between chunks once the time is up.
    """
    memo = current_memo()
    key = memo_key(featurizer) if memo is not None else None
    if memo is None or key is None or key in memo.sparse_keys:
        return _featurize_chunks(featurizer, xs, what, level)
    xs = list(xs)
    todo = memo.missing(key, xs)
    if todo:
        new = [xs[i] for i in todo]
        computed = _featurize_chunks(featurizer, new, what, level)
        if sp.issparse(computed):  # not kept: compute the whole request instead
            memo.sparse_keys.add(key)
            return computed if len(new) == len(xs) else \
                _featurize_chunks(featurizer, xs, what, level)
        memo.store(key, new, computed)
    return memo.assemble(key, xs)


def _featurize_chunks(featurizer: Featurizer, xs: Inputs, what: str, level: int) -> Features:
    n = len(xs)
    if n <= FEATURIZE_CHUNK:  # one call: the bar only shows that it runs
        chunks = [xs]
    else:
        chunks = [xs[i:i + FEATURIZE_CHUNK] for i in range(0, n, FEATURIZE_CHUNK)]
    parts: list[Features] = []
    name = getattr(featurizer, "name", "") or type(featurizer).__name__
    with progress.track(f"featurising {n:,} {what} ({name})", total=n,
                        unit="inputs", level=level) as bar:
        for chunk in chunks:
            check_deadline(f"featurising ({name})")
            parts.append(featurizer(chunk))
            bar.advance(len(chunk))
    if len(parts) == 1:
        return parts[0]
    if any(sp.issparse(p) for p in parts):
        return sp.vstack(parts, format="csr")
    return np.vstack(parts)


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


BUILTIN_MODULES = ("embedding", "fingerprints", "molecule", "protein", "sequence", "text")
"""Modules of the built-in featurizers (each registers its classes when imported)."""


def load_builtins() -> None:
    """Import the built-in featurizer modules, which register themselves (by name, like the
    other registries, so that this module does not import the modules that import it)."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"scifm.featurizers.{module}")


def build_featurizer(config: dict[str, Any]) -> Featurizer:
    """Rebuild a featurizer from :meth:`Featurizer.to_config` output.

    Raises
    ------
    ConfigError
        When ``config`` has no known ``"name"`` or its parameters are invalid.
    """
    load_builtins()
    name = config.get("name") if isinstance(config, dict) else None
    if name not in FEATURIZERS:
        raise ConfigError(f"unknown featurizer {name!r}; known: {', '.join(sorted(FEATURIZERS))}")
    try:
        return FEATURIZERS[name].from_config(config)
    except (TypeError, KeyError, ValueError) as err:
        raise ConfigError(f"invalid config for featurizer {name!r}: {err}") from err
