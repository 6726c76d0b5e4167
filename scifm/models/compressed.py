"""The families of compressed models (``scifm compress``), each registered once.

They are load-only: a compressed model is made from a trained run by
:mod:`scifm.recipes.compress`, never trained by ``--model``. Their model folders are normal
run-directory models, so ``predict``, ``evaluate``, ``screen`` and ``serve`` use them unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scifm.config.registry import FAMILIES
from scifm.errors import ConfigError
from scifm.models.registry import FamilySpec

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.models.base import Predictor
    from scifm.tasks import TaskSpec


def _made_by_compress(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                      work_dir: Path) -> Predictor:
    raise ConfigError("a compressed model is made by `scifm compress RUN_DIR` from a trained run")


def _load_onnx_transformer(path: Path) -> Predictor:
    from scifm.models.onnx_transformer import OnnxTransformerPredictor

    return OnnxTransformerPredictor.load(path)


def _load_onnx_features(path: Path) -> Predictor:
    from scifm.models.onnx_features import OnnxFeaturePredictor

    return OnnxFeaturePredictor.load(path)


FAMILIES.register(FamilySpec(
    "onnx_transformer", _made_by_compress, _load_onnx_transformer, uses_features=False,
    uses_n_jobs=False, trainable=False, in_auto=False,
    description="a transformer exported to ONNX (fp32 or int8), run by ONNX Runtime "
                "(made by scifm compress)"))
FAMILIES.register(FamilySpec(
    "onnx_features", _made_by_compress, _load_onnx_features, trainable=False, in_auto=False,
    description="a feature model (trees, linear, ensembles) converted to ONNX, run by ONNX "
                "Runtime (made by scifm compress)"))
