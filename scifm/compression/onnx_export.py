"""A sequence-level transformer as an ONNX graph: export, check, quantise.

* :func:`export_onnx`: ``torch.onnx.export`` of ``input_ids``, ``attention_mask`` (``batch x
  seq`` int64, both axes dynamic) -> ``logits``; the dynamo exporter first (``torch.export`` +
  onnxscript), the TorchScript exporter when it fails for the model. The exporter's debug
  metadata (stack traces naming local files) is dropped from the saved graph.
* :func:`check_export`: the graph's logits against the PyTorch model's on real inputs, batch 1
  and full batches of other shapes than the export example (a traced graph that baked in a
  shape fails here, not in a user's hands).
* :func:`quantize_dynamic_int8` / :func:`quantize_static_int8`: ONNX Runtime's quantisation
  tools (int8 weights; static: QDQ, per-channel weights, activation ranges calibrated on
  inputs the caller feeds).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from scifm.errors import ScifmError
from scifm.models.onnx_transformer import INPUT_NAMES, OUTPUT_NAME
from scifm.models.safeload import first_line

logger = logging.getLogger(__name__)

__all__ = ["OPSET", "CalibrationFeeds", "LogitsGraph", "OnnxExportError", "check_export",
           "export_onnx", "quantize_dynamic_int8", "quantize_static_int8"]

OPSET = 18
"""ONNX opset of the exported graph (>= 17: ``LayerNormalization`` is one node)."""
ATOL = 1e-4
"""Largest allowed difference between the fp32 graph's logits and the PyTorch model's."""
STATIC_OPS = ["MatMul", "Gemm", "Gather"]
"""Operators static quantisation puts between Q/DQ pairs: the linear layers, the attention
products and the embedding tables (element-wise ops and LayerNorm stay fp32)."""

Feed = dict[str, np.ndarray]
"""One batch of graph inputs: ``input_ids`` and ``attention_mask``, ``batch x seq`` int64."""


class OnnxExportError(ScifmError):
    """The model cannot be exported to ONNX, or the exported graph does not compute what the
    PyTorch model computes."""


class LogitsGraph(nn.Module):
    """``model(input_ids, attention_mask).logits`` as a plain forward: what the graph computes.

    Parameters
    ----------
    model
        A Hugging Face sequence-classification model (``batch x seq`` ids -> ``batch x
        n_outputs`` logits), PEFT adapters already merged.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's log lines (missing torchvision ops, progress) and its Python warnings
    (deprecations, axis renaming) off meanwhile: nothing a user can act on."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir")
    before = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for n, level in before.items():
            logging.getLogger(n).setLevel(level)


def export_onnx(model: nn.Module, example: Feed, path: Path, opset: int = OPSET) -> str:
    """Export ``model`` (eval mode, CPU, fp32) to the ONNX file ``path``, one self-contained
    file with dynamic batch and sequence axes.

    Parameters
    ----------
    example
        Example inputs (at least 2 rows and 2 tokens, so no axis is specialised to 1).

    Returns
    -------
    str
        The exporter that made it: ``dynamo`` or ``torchscript``.

    Raises
    ------
    OnnxExportError
        Both exporters fail.
    """
    graph = LogitsGraph(model).eval()
    args = tuple(torch.from_numpy(example[k]) for k in INPUT_NAMES)
    common = {"input_names": list(INPUT_NAMES), "output_names": [OUTPUT_NAME],
              "opset_version": opset, "external_data": False, "verbose": False}
    with _quiet_exporter():
        try:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
            torch.onnx.export(graph, args, str(path), dynamo=True, **common,
                              dynamic_shapes={k: {0: batch, 1: seq} for k in INPUT_NAMES})
            exporter = "dynamo"
        except Exception as err:  # noqa: BLE001 - torch.export fails in many ways per model
            logger.warning("compress: the dynamo ONNX exporter failed for this model (%s: %s); "
                           "using the TorchScript exporter", type(err).__name__, first_line(err))
            axes = {k: {0: "batch", 1: "sequence"} for k in INPUT_NAMES}
            try:
                torch.onnx.export(graph, args, str(path), dynamo=False, **common,
                                  dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}})
            except Exception as err2:  # noqa: BLE001
                raise OnnxExportError(f"cannot export the model to ONNX: {first_line(err2)}") \
                    from err2
            exporter = "torchscript"
    _strip_debug_metadata(path)
    return exporter


def _strip_debug_metadata(path: Path) -> None:
    """Drop per-node metadata and doc strings (the exporter's stack traces, which name local
    files and take more room than a small model's weights); check and rewrite ``path``."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for info in (*model.graph.value_info, *model.graph.input, *model.graph.output):
        del info.metadata_props[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_export(model: nn.Module, session: Any, feeds: Iterable[Feed],
                 atol: float = ATOL) -> float:
    """The largest difference between the logits of ``session`` (the fp32 graph) and of
    ``model`` on ``feeds``.

    Raises
    ------
    OnnxExportError
        A difference over ``atol`` (with ``rtol = atol``): the graph does not compute what the
        model computes.
    """
    worst = 0.0
    for feed in feeds:
        with torch.inference_mode():
            want = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits
        want = want.float().numpy()
        got = session.run([OUTPUT_NAME], feed)[0]
        if got.shape != want.shape or not np.allclose(got, want, rtol=atol, atol=atol):
            diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            raise OnnxExportError(
                f"the ONNX export does not reproduce the model: logits differ by up to {diff:.3g}"
                f" (allowed {atol:g}) on a batch of shape {feed[INPUT_NAMES[0]].shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def _preprocessed(src: Path, dst: Path) -> Path:
    """``src`` after ONNX Runtime's quantisation pre-processing (shape inference, graph
    optimisation), or ``src`` itself when that fails for this graph. Symbolic shape inference is
    skipped: it does not handle the dynamo exporter's shape expressions."""
    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    except Exception as err:  # noqa: BLE001 - an optional step
        logger.info("compress: quantisation pre-processing skipped (%s)", first_line(err))
        return src
    return dst


def quantize_dynamic_int8(src: Path, dst: Path, work: Path) -> None:
    """int8 weights, activations quantised on the fly per batch (ONNX Runtime
    ``quantize_dynamic``, ``QInt8``); ``work``: a folder for the intermediate graph."""
    pre = _preprocessed(src, work / "dynamic-pre.onnx")
    quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)


class CalibrationFeeds(CalibrationDataReader):
    """ONNX Runtime's calibration reader over prepared batches."""

    def __init__(self, feeds: list[Feed]) -> None:
        self.feeds = feeds
        self._it = iter(feeds)

    def get_next(self) -> Feed | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.feeds)


def quantize_static_int8(src: Path, dst: Path, work: Path, feeds: list[Feed]) -> None:
    """int8 weights (symmetric, per output channel) and uint8 activations (asymmetric) whose
    ranges are calibrated (min / max) on ``feeds``, as QDQ nodes around :data:`STATIC_OPS`
    (ONNX Runtime ``quantize_static``); ``work``: a folder for the intermediate graph.

    uint8 activations with int8 weights (U8S8) run ~1.5x faster than int8 activations (S8S8)
    on an x86 CPU with VNNI (MiniLM, one thread), at the same size."""
    reader = CalibrationFeeds(feeds)
    pre = _preprocessed(src, work / "static-pre.onnx")
    quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=STATIC_OPS, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
