"""Config keys that the chosen recipe and families do not read: warned about, never ignored
silently.

Every key of the experiment spec is read by a recipe (``scifm train`` reads ``data``, ``split``,
``eval``...) or by a model family (the transformer reads ``train``, ``peft``, ``model.size``...;
each :class:`~scifm.models.registry.FamilySpec` lists its keys in ``config_keys``, and family
``NAME`` reads ``params.NAME``). A key the user set (:func:`scifm.config.load.explicit_keys`) that
neither the recipe (:data:`RECIPE_READS`) nor any chosen family reads changes nothing: a recipe
calls :func:`check_applicable` once, at its start, and the user gets one WARNING line naming the
keys, e.g. ``--model lightgbm --set train.lr=3e-5``::

    config keys with no effect: train.lr=3e-05 (read by transformer, token); neither
    `scifm train` nor the chosen families (lightgbm) read them

Warnings, not errors, by default: one YAML spec is often shared by several commands (a
``pretrain`` section beside ``train`` settings), and such a spec must still run. ``strict=True``
turns the warning into a :class:`~scifm.errors.ConfigError` (for tests and for callers that want
refusal). A key set to its default value changes nothing either way and is not reported, so a
fully resolved ``RUN_DIR/config.yaml`` re-used as a spec does not warn about every key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from scifm.config.load import explicit_keys
from scifm.config.registry import FAMILIES
from scifm.errors import ConfigError
from scifm.utils.extras import require_extra

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig

logger = logging.getLogger(__name__)

__all__ = ["RECIPE_READS", "RecipeKeys", "check_applicable", "family_keys", "inapplicable_keys"]

_MISSING = object()


@dataclass(frozen=True)
class RecipeKeys:
    """What a recipe reads of the config, whatever the family."""

    reads: tuple[str, ...]
    """Dotted keys or section prefixes (``"data"`` covers ``data.path``, ``data.smiles.*``)."""
    families: Callable[[ExperimentConfig], list[str]] | None = None
    """The families the recipe builds from this config (their ``config_keys`` apply too);
    None: no model family (``pretrain``)."""


def _auto_families(cfg: ExperimentConfig) -> list[str]:
    from scifm.models.registry import auto_families

    return list(cfg.automl.auto.families or auto_families(cfg.data.modality, cfg))


def _finetune_family(cfg: ExperimentConfig) -> list[str]:
    return ["token" if cfg.data.task == "token_classification" else "transformer"]


_RUN = ("seed", "out", "overwrite", "tracking")
_LABELLED = (*_RUN, "data", "split", "eval", "model.class_weight", "uncertainty",
             "privacy.redact", "privacy.entities", "privacy.membership_audit")
_CORPUS = ("data.path", "data.format", "data.modality", "data.input_col", "data.smiles",
           "data.sequence", "data.text")
_BACKBONE = ("model.size", "model.init", "model.max_length", "model.dna_kmer",
             "model.text_vocab_size", "model.dropout")
_TRAINER = ("train.max_steps", "train.lr", "train.batch_size", "train.weight_decay",
            "train.warmup_ratio", "train.bf16", "train.grad_accum", "train.gradient_checkpointing",
            "train.num_workers", "train.fsdp", "train.fsdp_config", "train.deepspeed",
            "train.resume", "train.keep_checkpoints")
"""``train`` keys of a step-counted Trainer loop (no ``epochs``, no early-stopping
``patience``)."""

RECIPE_READS: dict[str, RecipeKeys] = {
    "train": RecipeKeys((*_LABELLED, "model.families"), lambda cfg: list(cfg.model.families)),
    "tune": RecipeKeys((*_LABELLED, "automl.tune", "automl.auto.embed"),
                       lambda cfg: [cfg.automl.tune.family]),
    "auto": RecipeKeys((*_LABELLED, "automl.tune", "automl.auto"), _auto_families),
    "finetune": RecipeKeys(_LABELLED, _finetune_family),
    "pretrain": RecipeKeys((*_RUN, *_CORPUS, "pretrain", *_BACKBONE, *_TRAINER)),
}
"""Recipe name -> the keys it reads itself and the families it builds (a declarative table: a
new recipe is one entry)."""


def _covered(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _chosen(spec: RecipeKeys, cfg: ExperimentConfig, families: Iterable[str] | None) -> list[str]:
    if families is not None:
        return list(families)
    return spec.families(cfg) if spec.families is not None else []


def family_keys(name: str) -> tuple[str, ...]:
    """Config keys family ``name`` reads: its ``config_keys`` and its ``params.<name>``."""
    return (*FAMILIES.get(name).config_keys, f"params.{name}")


def _value_and_default(cfg: BaseModel, key: str) -> tuple[Any, Any]:
    """The value at dotted ``key`` and the default of its field (``_MISSING`` if none)."""
    node: Any = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    if isinstance(node, dict):
        return node.get(leaf), _MISSING
    field = type(node).model_fields.get(leaf)
    default = field.get_default(call_default_factory=True) if field is not None else _MISSING
    return getattr(node, leaf), default


def inapplicable_keys(cfg: ExperimentConfig, explicit: Iterable[str] | None = None, *,
                      recipe: str, families: Iterable[str] | None = None) -> dict[str, Any]:
    """Keys set away from their default that neither ``recipe`` nor a chosen family reads.

    Parameters
    ----------
    cfg
        The loaded experiment config.
    explicit
        Dotted keys the user set; default :func:`scifm.config.load.explicit_keys` of ``cfg``.
    recipe
        A name in :data:`RECIPE_READS` (``train``, ``tune``, ``auto``, ``finetune``,
        ``pretrain``).
    families
        The families the recipe builds; default: read from ``cfg`` as the recipe does.

    Returns
    -------
    dict
        ``{dotted key: value}``, sorted by key; empty when every key applies.
    """
    if recipe not in RECIPE_READS:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPE_READS)}")
    spec = RECIPE_READS[recipe]
    chosen = _chosen(spec, cfg, families)
    reads = [*spec.reads, *(k for name in chosen for k in family_keys(name))]
    out: dict[str, Any] = {}
    for key in sorted(explicit_keys(cfg) if explicit is None else explicit):
        if _covered(key, reads):
            continue
        value, default = _value_and_default(cfg, key)
        if value != default:
            out[key] = value
    return out


def check_applicable(cfg: ExperimentConfig, explicit: Iterable[str] | None = None, *,
                     recipe: str, families: Iterable[str] | None = None,
                     strict: bool = False) -> list[str]:
    """Warn (one line) about set keys that ``recipe`` and the chosen families do not read.

    Parameters are those of :func:`inapplicable_keys`; ``strict`` raises instead of warning.

    Returns
    -------
    list of str
        The keys with no effect (empty when all apply).

    Raises
    ------
    ConfigError
        With ``strict=True``, when a set key has no effect.
    """
    for name in _chosen(RECIPE_READS[recipe], cfg, families):  # optional dependencies first
        needs = FAMILIES.get(name).requires if name in FAMILIES else None
        if needs is not None:
            require_extra(needs[0], needs[1], f"--model {name}")
    ignored = inapplicable_keys(cfg, explicit, recipe=recipe, families=families)
    if not ignored:
        return []
    chosen = _chosen(RECIPE_READS[recipe], cfg, families)
    items = []
    for key, value in ignored.items():
        readers = [s.name for s in FAMILIES if _covered(key, family_keys(s.name))]
        shown = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        items.append(f"{key}={shown}" + (f" (read by {', '.join(readers)})" if readers else ""))
    by = (f"neither `scifm {recipe}` nor the chosen families ({', '.join(chosen)}) read them"
           if chosen else f"`scifm {recipe}` does not read them")
    msg = f"config keys with no effect: {'; '.join(items)}; {by}"
    if strict:
        raise ConfigError(msg)
    logger.warning(msg)
    return list(ignored)
