"""Chaining: int8 or bf16 on top of a smaller transformer.

Pruning and distillation make a transformer with fewer or smaller layers, but its size on disk
is set by the fp32 weights (MiniLM's word embeddings alone are half its parameters); int8
quantisation makes the weights 4x smaller but speeds fp32 matrix products up only a little on a
CPU. Each alone rarely gives both "much smaller" and "much faster"; together they can. When
``scifm compress`` runs the ``onnx`` maker, every other ``transformer`` variant that runs in fp32
(``pruned-*``, ``distilled-*``) also gets an ``<name>+int8`` variant: exported, checked against
it and quantised to dynamic int8 like the run's own model. When it runs the ``bf16`` maker, each
of them also gets a ``<name>+bf16`` variant (bf16 weights and bf16 inference, like ``bf16``): on
a CPU with bf16 matrix units that is the fast path, and it halves the size.
"""

from __future__ import annotations

from dataclasses import replace

from scifm.compression.base import CompressJob, Variant
from scifm.models import load_predictor
from scifm.models.base import MODEL_META, read_model_json

__all__ = ["bf16_of", "chainable", "int8_of"]


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


def bf16_of(job: CompressJob, variant: Variant) -> Variant:
    """``<variant>+bf16``: the variant's model with bf16 weights, inferring in bf16."""
    from scifm.compression.onnx_transformer import make_bf16_variant

    name = f"{variant.name}+bf16"
    sub = replace(job, model_dir=variant.model_dir,
                  meta=read_model_json(variant.model_dir / MODEL_META),
                  teacher=load_predictor(variant.model_dir), work=job.work / f".{name}")
    sub.work.mkdir(parents=True, exist_ok=True)
    made = make_bf16_variant(sub)[0]
    folder = made.model_dir.rename(job.work / name)  # the variant's folder, as for the others
    sub.work.rmdir()
    return Variant(name, folder, f"{variant.description}; then bf16 weights and inference",
                   {**variant.details, "bf16": made.details})
