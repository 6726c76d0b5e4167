"""Chaining: int8 on top of a smaller transformer.

Pruning and distillation make a transformer with fewer or smaller layers, but its size on disk
is set by the fp32 weights (MiniLM's word embeddings alone are half its parameters); int8
quantisation makes the weights 4x smaller but speeds fp32 matrix products up only a little on a
CPU. Each alone rarely gives both "much smaller" and "much faster"; together they can. When
``scifm compress`` runs the ``onnx`` maker, every other ``transformer`` variant that runs in fp32
(``pruned-*``, ``distilled-*``) also gets an ``<name>+int8`` variant: exported, checked against
it and quantised to dynamic int8 like the run's own model.
"""

from __future__ import annotations

from dataclasses import replace

from scifm.compression.base import CompressJob, Variant
from scifm.models import load_predictor
from scifm.models.base import MODEL_META, read_model_json

__all__ = ["chainable", "int8_of"]


def chainable(variant: Variant) -> bool:
    """Whether ``variant`` is an fp32 ``transformer`` folder (int8 can be chained on it)."""
    meta = read_model_json(variant.model_dir / MODEL_META)
    return meta.get("family") == "transformer" and not meta.get("inference_dtype")


def int8_of(job: CompressJob, variant: Variant) -> Variant:
    """``<variant>+int8``: the variant's model exported to ONNX and quantised to dynamic int8."""
    from scifm.compression.onnx_transformer import make_dynamic_int8

    sub = replace(job, model_dir=variant.model_dir,
                  meta=read_model_json(variant.model_dir / MODEL_META),
                  teacher=load_predictor(variant.model_dir))
    out = make_dynamic_int8(sub, f"{variant.name}+int8",
                            f"{variant.description}; then ONNX Runtime dynamic int8")
    out.details = {**variant.details, "int8": out.details}
    return out
