"""Registries: swappable parts picked by a short name (model families, modalities).

A :class:`Registry` maps a name to a spec. Built-in entries are registered by one module per
registry (``scifm.models.families``, ``scifm.modalities``), imported the first time the registry is
read, so that ``import scifm.config`` stays light and no import cycle forms: config validation
reads the registries, the registering modules import the config, never the other way round.

A user (or a test) adds an entry with ``FAMILIES.register(spec)`` / ``MODALITIES.register(spec)``
before building the config, or ships a package whose ``scifm.families`` / ``scifm.modalities``
entry point names a module that does so; every list of names (config validation, CLI help,
``auto``'s default families, search spaces) is read from here. Compare chemprop's
``utils/registry.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Generic, Protocol, TypeVar

from scifm.errors import ConfigError


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Name -> spec, filled by ``builtins`` (a module path) on first use, then by users.

    Parameters
    ----------
    kind
        What the entries are, for error messages (``"model family"``).
    builtins
        Module that registers the built-in entries when imported.
    group
        Entry-point group through which installed packages add entries: each entry point names
        a module that registers its specs when imported (so worker processes see them too).
    """

    def __init__(self, kind: str, builtins: str, group: str) -> None:
        self.kind = kind
        self.builtins = builtins
        self.group = group
        self._entries: dict[str, T] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self.builtins)
            for plugin in entry_points(group=self.group):  # installed packages' plug-ins
                importlib.import_module(plugin.value.split(":")[0])

    def register(self, spec: T, *, replace: bool = False) -> T:
        """Add ``spec`` under ``spec.name``; returns it (usable as a decorator on factories).

        Raises
        ------
        ValueError
            The name is taken and ``replace`` is False.
        """
        self._load()
        if spec.name in self._entries and not replace:
            raise ValueError(f"{self.kind} {spec.name!r} is already registered")
        self._entries[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a toy entry clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The spec registered as ``name``.

        Raises
        ------
        ConfigError
            One line naming the unknown name and every known one.
        """
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: "
                              f"{', '.join(self.names())}") from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._entries.values()))

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        self._load()
        return list(self._entries)


FAMILIES: Registry = Registry("model family", "scifm.models.families", "scifm.families")
"""Model families (:class:`scifm.models.registry.FamilySpec`), registered in
:mod:`scifm.models.families`."""

MODALITIES: Registry = Registry("modality", "scifm.modalities", "scifm.modalities")
"""Input modalities (:class:`scifm.modalities.base.ModalitySpec`), registered in
:mod:`scifm.modalities`."""
