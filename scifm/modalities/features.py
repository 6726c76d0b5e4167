"""Feature-set names: their syntax and which atoms apply to which modality (pure data).

A feature-set name is ``auto`` or atoms joined by ``+`` (``ecfp+maccs``); the atoms a modality
accepts are its plug-in's ``feature_atoms``, and ``embed:PATH`` applies to every modality. This
module imports no featurizer, so the config can check a name without loading RDKit or torch;
:mod:`scifm.featurizers.sets` builds the featurizers.
"""

from __future__ import annotations

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError

__all__ = ["EMBED_PREFIX", "applies", "atoms", "check_feature_name", "is_embed", "known_atoms"]

EMBED_PREFIX = "embed:"
"""``embed:PATH``: mean-pooled embeddings of the encoder in folder ``PATH`` (every modality)."""


def is_embed(atom: str) -> bool:
    """Whether ``atom`` is an ``embed:PATH`` atom."""
    return atom.startswith(EMBED_PREFIX) and len(atom) > len(EMBED_PREFIX)


def known_atoms() -> list[str]:
    """Every atom some registered modality accepts, in registration order."""
    return list(dict.fromkeys(a for spec in MODALITIES for a in spec.feature_atoms))


def atoms(name: str) -> list[str]:
    """The atoms of a feature-set name (``"ecfp+maccs"`` -> ``["ecfp", "maccs"]``).

    Raises
    ------
    ConfigError
        Empty, repeated or unknown atoms.
    """
    parts = [p.strip() for p in str(name).split("+")]
    known = known_atoms()
    unknown = [p for p in parts if p not in known and not is_embed(p)]
    if unknown or len(set(parts)) != len(parts):
        raise ConfigError(f"unknown feature set {name!r}: use auto or atoms joined by '+' from "
                          f"{', '.join(known)} (each at most once)")
    return parts


def applies(atom: str, modality: str) -> bool:
    """Whether ``atom`` applies to ``modality`` inputs."""
    return is_embed(atom) or atom in MODALITIES.get(modality).feature_atoms


def check_feature_name(name: str) -> str:
    """Validate a feature-set name (``auto`` or atoms); returns it unchanged."""
    if name != "auto":
        atoms(name)
    return name
