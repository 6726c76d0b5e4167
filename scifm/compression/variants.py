"""The variant makers, listed once: which apply to a run, and how to call them.

Each entry names a maker function by ``"module:function"`` (imported only when it runs, so
listing them stays light) and says which runs it applies to, read from the model's
``scifm.json``. ``scifm compress --variants a,b`` picks among the makers that apply; by default
all of them run. A new variant is one maker module (:mod:`scifm.compression.base`) plus one
entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scifm.compression.base import CompressJob, Variant
from scifm.errors import ConfigError

__all__ = ["MAKERS", "MakerSpec", "applicable_makers", "run_maker"]

TRANSFORMERS = ("transformer",)
"""Sequence-level transformer runs (``token`` runs are not compressed yet)."""
TREE_LIKE = ("lightgbm", "xgboost", "rf", "extratrees", "linear", "knn", "svm", "ensemble",
             "stacking")
"""Feature-based runs (and ``auto``'s combinations of them) with an ONNX form."""


@dataclass(frozen=True)
class MakerSpec:
    """One variant maker."""

    name: str
    """What ``--variants`` calls it."""
    target: str
    """``"module:function"``: ``function(job: CompressJob) -> list[Variant]``."""
    applies: Callable[[dict[str, Any]], bool]
    """Whether it can compress the model described by this ``scifm.json``."""
    description: str


def _family_in(families: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    return lambda meta: meta.get("family") in families


def _not_transformer(meta: dict[str, Any]) -> bool:
    return meta.get("family") not in (*TRANSFORMERS, "token", "onnx_transformer")


MAKERS: tuple[MakerSpec, ...] = (
    MakerSpec("onnx", "scifm.compression.onnx_transformer:make_onnx_variants",
              _family_in(TRANSFORMERS),
              "ONNX export run by ONNX Runtime: fp32, dynamic int8, static int8 (calibrated "
              "on validation rows)"),
    MakerSpec("bf16", "scifm.compression.onnx_transformer:make_bf16_variant",
              _family_in(TRANSFORMERS), "bf16 weights, bf16 inference"),
    MakerSpec("vocab", "scifm.compression.vocab_trim:make_vocab_variants",
              _family_in(TRANSFORMERS),
              "the vocabulary trimmed to the pieces the train + validation rows use (+ special "
              "and single-character pieces), embedding rows sliced: fp32 and bf16, and bf16 "
              "keeping only pieces used >= 5 times (WordPiece tokenizers; others are skipped "
              "with a warning)"),
    MakerSpec("prune", "scifm.compression.pruning:make_pruned_variants",
              _family_in(TRANSFORMERS),
              "magnitude and structured (attention-head / FFN) pruning + a short recovery "
              "fine-tune"),
    MakerSpec("distill", "scifm.compression.distill:make_distilled_variants",
              _family_in(TRANSFORMERS),
              "a smaller student transformer trained on the teacher's soft targets"),
    MakerSpec("onnx-trees", "scifm.compression.onnx_features:make_onnx_feature_variants",
              _family_in(TREE_LIKE),
              "the feature model (trees, linear, ensembles of them) converted to ONNX, run by "
              "ONNX Runtime"),
    MakerSpec("distill-fp", "scifm.compression.distill_features:make_fingerprint_students",
              _not_transformer,
              "a fast fingerprint-only LightGBM student trained on the teacher's predictions"),
)


def applicable_makers(meta: dict[str, Any], chosen: list[str] | None = None) -> list[MakerSpec]:
    """The makers that apply to the model of ``meta`` (all, or those named in ``chosen``).

    Raises
    ------
    ConfigError
        ``chosen`` names an unknown maker or one that does not apply to this model.
    """
    fits = [m for m in MAKERS if m.applies(meta)]
    if not chosen:
        return fits
    known = {m.name for m in MAKERS}
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; expected some of "
                          f"{', '.join(sorted(known))}")
    misfit = [c for c in chosen if c not in {m.name for m in fits}]
    if misfit:
        raise ConfigError(f"variant(s) {', '.join(misfit)} do not apply to a "
                          f"{meta.get('family')!r} model; these do: "
                          f"{', '.join(m.name for m in fits) or 'none'}")
    return [m for m in fits if m.name in chosen]


def run_maker(spec: MakerSpec, job: CompressJob) -> list[Variant]:
    """Import the maker of ``spec`` and run it on ``job``."""
    module, function = spec.target.split(":")
    make = getattr(importlib.import_module(module), function)
    return list(make(job))
