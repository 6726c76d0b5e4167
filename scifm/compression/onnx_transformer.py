"""Variant makers for transformer runs: ONNX Runtime fp32 / int8, and bf16 weights.

* :func:`make_onnx_variants`: the run's model (a PEFT adapter merged into its base first) is
  exported to ONNX (:mod:`scifm.compression.onnx_export`), its fp32 logits checked against the
  PyTorch model's on validation rows, then quantised: ``onnx-fp32``, ``onnx-int8-dynamic``
  (int8 weights, activations quantised per batch) and ``onnx-int8-static`` (int8 weights and
  activations, ranges calibrated on ``options.calibration_rows`` validation rows). Each is an
  ``onnx_transformer`` model folder (:class:`~scifm.models.onnx_transformer.
  OnnxTransformerPredictor`). When static quantisation fails for an architecture, that one
  variant is skipped with a warning (named in the fp32 variant's ``details``).
* :func:`make_bf16_variant`: a ``transformer`` model folder with bf16 weights and
  ``inference_dtype: bfloat16`` (the PyTorch model runs in bf16).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scifm.compression.base import CompressJob, Variant
from scifm.compression.onnx_export import (
    OPSET,
    check_export,
    export_onnx,
    quantize_dynamic_int8,
    quantize_static_int8,
)
from scifm.models.hf_folder import load_hf_folder
from scifm.models.onnx_transformer import OnnxTransformerPredictor, Precision
from scifm.models.safeload import first_line
from scifm.models.transformer import TransformerPredictor
from scifm.training.peft import is_adapter

logger = logging.getLogger(__name__)

__all__ = ["make_bf16_variant", "make_dynamic_int8", "make_onnx_variants",
           "plain_teacher_model", "predictor_like"]

CHECK_ROWS = 64
"""Validation rows the fp32 graph is checked on (plus the first one alone, batch 1)."""
SOURCE_ONLY = ("family", "peft", "n_trainable_parameters", "inference_dtype", "uncertainty",
               "bf16")
"""``scifm.json`` entries of the teacher that do not describe an exported graph."""


def plain_teacher_model(job: CompressJob) -> tuple[nn.Module, bool]:
    """A fresh fp32 CPU copy of the run's model in eval mode (the teacher is left untouched),
    a PEFT adapter merged into its base (``merge_and_unload``); and whether one was merged."""
    model, _, _ = load_hf_folder(job.model_dir, "sequence")
    merged = is_adapter(model)
    if merged:
        model = model.merge_and_unload()
    return model.float().cpu().eval(), merged


def _reference_rows(job: CompressJob, n: int) -> Sequence[Any]:
    """Up to ``n`` validation inputs (training inputs when the run has no validation rows)."""
    for split in ("val", "train"):
        rows = job.rows.get(split)
        if rows is not None and len(rows):
            if split != "val":
                logger.warning("compress: the run has no validation rows; the ONNX check and "
                               "int8 calibration use training rows")
            return rows.inputs[:n]
    return job.rows["test"].inputs[:n]


def _predictor(job: CompressJob, model_file: Path, precision: Precision,
               n_parameters: int) -> OnnxTransformerPredictor:
    """The ONNX predictor of ``model_file``, prepared exactly like the teacher's inputs."""
    t = job.teacher
    batch_size = 2 * int(t.settings.get("train", {}).get("batch_size", 32))
    extra = {k: v for k, v in job.meta.items() if k not in SOURCE_ONLY}
    return OnnxTransformerPredictor(
        t.task, t.modality, model_file, t.tokenizer_, dna_kmer=t.dna_kmer_,
        target_mean=t.target_mean_, target_std=t.target_std_, max_length=t.max_length_,
        batch_size=batch_size, threads=job.options.threads, precision=precision,
        n_parameters=n_parameters, extra_meta=extra)


def _example(p: OnnxTransformerPredictor, rows: Sequence[Any]) -> dict[str, Any]:
    """Export example: two rows padded together (no axis of length 1 for the tracer)."""
    pair = list(rows[:2]) if len(rows) >= 2 else [rows[0], rows[0]]
    _, feed = next(p.feeds(pair))  # >= 2 tokens: [CLS] ... [SEP]
    return feed


def _export_checked(job: CompressJob, model: nn.Module, build: Path,
                    ) -> tuple[OnnxTransformerPredictor, dict[str, Any]]:
    """Export to ``build/model.onnx``, check it against ``model``: its predictor and details."""
    rows = _reference_rows(job, max(CHECK_ROWS, 2))
    n_parameters = int(sum(p.numel() for p in model.parameters()))
    fp32 = _predictor(job, build / "model.onnx", "fp32", n_parameters)
    exporter = export_onnx(model, _example(fp32, rows), fp32.model_file)
    feeds = [feed for _, feed in fp32.feeds(rows)] + [feed for _, feed in fp32.feeds(rows[:1])]
    diff = check_export(model, fp32.session, feeds)
    logger.info("compress: ONNX export (%s exporter, opset %d) reproduces the model's logits on "
                "%d rows (max difference %.2g)", exporter, OPSET, len(rows), diff)
    return fp32, {"exporter": exporter, "opset": OPSET, "check_rows": len(rows),
                  "max_abs_logit_diff": diff}


def make_onnx_variants(job: CompressJob) -> list[Variant]:
    """``onnx-fp32``, ``onnx-int8-dynamic`` and ``onnx-int8-static`` model folders under
    ``job.work`` (see the module docstring).

    Raises
    ------
    OnnxExportError
        The model cannot be exported, or the fp32 graph's logits differ from the model's.
    """
    model, merged = plain_teacher_model(job)
    build = job.work / ".onnx-build"
    build.mkdir(parents=True, exist_ok=True)
    try:
        fp32, info = _export_checked(job, model, build)
        info["merged_adapter"] = merged
        variants = [_save(job, fp32, "onnx-fp32", "ONNX Runtime, fp32 "
                          f"({info['exporter']} exporter, opset {OPSET})", info)]
        quantize_dynamic_int8(fp32.model_file, build / "dynamic.onnx", build)
        dyn = _predictor(job, build / "dynamic.onnx", "int8-dynamic", fp32.n_parameters_)
        variants.append(_save(job, dyn, "onnx-int8-dynamic", "ONNX Runtime, int8 weights, "
                              "activations quantised per batch (dynamic)",
                              {"weights": "int8 per tensor"}))
        static, problem = _static_variant(job, fp32, build)
        if static is None:
            variants[0].details["skipped"] = {"onnx-int8-static": problem}
        else:
            variants.append(static)
        return variants
    finally:
        shutil.rmtree(build, ignore_errors=True)


def make_dynamic_int8(job: CompressJob, name: str, description: str) -> Variant:
    """One ``onnx_transformer`` folder ``name``: the job's model exported (checked against it)
    and quantised to dynamic int8 — used to chain int8 after pruning or distillation."""
    model, merged = plain_teacher_model(job)
    build = job.work / f".onnx-build-{name}"
    build.mkdir(parents=True, exist_ok=True)
    try:
        fp32, info = _export_checked(job, model, build)
        quantize_dynamic_int8(fp32.model_file, build / "dynamic.onnx", build)
        dyn = _predictor(job, build / "dynamic.onnx", "int8-dynamic", fp32.n_parameters_)
        return _save(job, dyn, name, description, {**info, "merged_adapter": merged,
                                                   "weights": "int8 per tensor"})
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _static_variant(job: CompressJob, fp32: OnnxTransformerPredictor,
                    build: Path) -> tuple[Variant | None, str]:
    """``onnx-int8-static``, or None and why (a warning) when static quantisation fails."""
    rows = _reference_rows(job, job.options.calibration_rows)
    feeds = [feed for _, feed in fp32.feeds(rows)]
    try:
        quantize_static_int8(fp32.model_file, build / "static.onnx", build, feeds)
        static = _predictor(job, build / "static.onnx", "int8-static", fp32.n_parameters_)
        static.predict_logits(rows[:2])  # the quantised graph loads and runs
    except Exception as err:  # noqa: BLE001 - one variant skipped, the others kept
        problem = f"static int8 quantisation failed: {type(err).__name__}: {first_line(err)}"
        logger.warning("compress: %s; onnx-int8-static is skipped", problem)
        return None, problem
    return _save(job, static, "onnx-int8-static", "ONNX Runtime, int8 weights (per channel), "
                 f"uint8 activations (QDQ, calibrated on {len(rows)} validation rows)",
                 {"calibration_rows": len(rows), "format": "QDQ", "per_channel": True,
                  "activations": "uint8"}), ""


def _save(job: CompressJob, p: OnnxTransformerPredictor, name: str, description: str,
          details: dict[str, Any]) -> Variant:
    folder = job.work / name
    p.save(folder)
    size = p.model_file.stat().st_size
    return Variant(name, folder, description, {**details, "onnx_bytes": size,
                                               "precision": p.precision})


def predictor_like(t: TransformerPredictor, model: nn.Module, tokenizer: Any = None,
                   bf16: bool = False) -> TransformerPredictor:
    """A predictor with ``t``'s task, inputs and scaling around another ``model`` (and
    ``tokenizer``); ``bf16``: the weights cast to bf16, inferring in bf16."""
    if bf16:
        model = model.to(torch.bfloat16)
    return TransformerPredictor(
        t.task, t.modality, model, tokenizer if tokenizer is not None else t.tokenizer_,
        dna_kmer=t.dna_kmer_, target_mean=t.target_mean_, target_std=t.target_std_,
        max_length=t.max_length_, settings=t.settings,
        n_parameters=int(sum(p.numel() for p in model.parameters())), bf16=t.bf16_,
        inference_dtype="bfloat16" if bf16 else None)


def make_bf16_variant(job: CompressJob) -> list[Variant]:
    """``bf16``: the run's model (adapter merged) with bf16 weights, inferring in bf16."""
    model, merged = plain_teacher_model(job)
    bf16 = predictor_like(job.teacher, model, bf16=True)
    folder = job.work / "bf16"
    bf16.save(folder)
    return [Variant("bf16", folder, "PyTorch, bf16 weights and inference",
                    {"merged_adapter": merged, "dtype": "bfloat16"})]
