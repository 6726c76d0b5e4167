"""The ``onnx_transformer`` family: a fine-tuned sequence-level transformer run by ONNX Runtime.

Made by ``scifm compress`` (:mod:`scifm.compression.onnx_transformer`), never trained. Its model
folder holds ``model.onnx`` (fp32, or int8 from dynamic / static quantisation), the tokenizer
files and ``scifm.json`` (``family: onnx_transformer``, ``source_family: transformer``, task,
modality, target scaling, DNA k-mer size, maximum length, ``precision`` and the run's ``data`` /
``split`` settings). The graph takes ``input_ids`` and ``attention_mask`` (``batch x seq``
int64, both axes dynamic) and returns ``logits`` (``batch x n_outputs``).

Inputs are prepared, tokenised and batched exactly as :class:`~scifm.models.transformer.
TransformerPredictor` does (same tokenizer, same length-sorted batches), and the logits become
predictions through the same :func:`~scifm.models.transformer.predictions_from_logits`, so an
fp32 export predicts what the PyTorch model predicts.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from scifm.errors import ConfigError, RunDirError
from scifm.featurizers.tokenizers import prepare_inputs
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.manifest import staged_folder
from scifm.models.safeload import first_line, load_tokenizer
from scifm.models.transformer import predictions_from_logits
from scifm.tasks import TaskSpec
from scifm.training.data import encode_texts, length_sorted_batches
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

__all__ = ["FAMILY", "ONNX_FILE", "PRECISIONS", "OnnxTransformerPredictor", "Precision"]

FAMILY = "onnx_transformer"
ONNX_FILE = "model.onnx"
"""The ONNX graph in the model folder."""
Precision = Literal["fp32", "int8-dynamic", "int8-static"]
PRECISIONS: tuple[str, ...] = ("fp32", "int8-dynamic", "int8-static")
"""``precision`` values of ``scifm.json``."""
INPUT_NAMES = ("input_ids", "attention_mask")
"""The graph's inputs (``batch x seq`` int64)."""
OUTPUT_NAME = "logits"


class OnnxTransformerPredictor:
    """A sequence-level transformer exported to ONNX: predictions through ONNX Runtime.

    The :class:`onnxruntime.InferenceSession` is created on the first prediction and is not
    pickled (a spawned worker that receives the predictor opens its own).

    Parameters
    ----------
    task
        Task type, targets and classes (see :mod:`scifm.tasks`).
    modality
        Input modality (how inputs are prepared for the tokenizer).
    model_file
        The ONNX graph (``input_ids``, ``attention_mask`` -> ``logits``).
    tokenizer
        The tokenizer of the exported model.
    dna_kmer
        DNA k-mer size the inputs are prepared with.
    target_mean, target_std
        Regression: the training targets' mean and standard deviation (``n_tasks``); the graph
        predicts standardised values.
    max_length
        Tokens per input (longer inputs are truncated).
    batch_size
        Inputs per inference batch (the PyTorch model's: twice the training batch size).
    threads
        ONNX Runtime intra-op threads (0: ``OMP_NUM_THREADS`` when set, else every core).
    precision
        What the graph computes in (one of :data:`PRECISIONS`).
    n_parameters
        Parameters of the exported model (for the report).
    extra_meta
        Further ``scifm.json`` entries kept as they are (``data``, ``split``, ``model``,
        ``train``, ``seed``...: what ``predict`` and ``evaluate`` read from a run's model).
    """

    family = FAMILY

    def __init__(
        self, task: TaskSpec, modality: str, model_file: Path,
        tokenizer: PreTrainedTokenizerBase, *, dna_kmer: int = 1,
        target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None,
        max_length: int = 256, batch_size: int = 64, threads: int = 0,
        precision: Precision = "fp32", n_parameters: int = 0,
        extra_meta: dict[str, Any] | None = None,
    ) -> None:
        self.task, self.modality, self.model_file = task, modality, Path(model_file)
        self.tokenizer_, self.dna_kmer_ = tokenizer, dna_kmer
        self.target_mean_, self.target_std_ = target_mean, target_std
        self.max_length_, self.batch_size, self.threads = max_length, batch_size, threads
        self.precision, self.n_parameters_ = precision, n_parameters
        self.extra_meta = extra_meta or {}
        self.history_: list[dict[str, Any]] = []
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_session": None}  # a session does not pickle: reopened lazily

    def fit(self, *args: Any, **kwargs: Any) -> OnnxTransformerPredictor:
        """Not trainable.

        Raises
        ------
        ConfigError
            Always: the model is made by ``scifm compress`` from a trained run.
        """
        raise ConfigError("an onnx_transformer model is made by `scifm compress RUN_DIR` from a "
                          "trained transformer run; it cannot be trained")

    # ---------------------------------------------------------------- inference
    @property
    def session(self) -> Any:
        """The ONNX Runtime session (CPU), opened on first use.

        Raises
        ------
        RunDirError
            ONNX Runtime cannot load :attr:`model_file`.
        """
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = session_threads(self.threads)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3  # errors only: no per-node placement warnings
            try:
                self._session = ort.InferenceSession(str(self.model_file), opts,
                                                     providers=["CPUExecutionProvider"])
            except Exception as err:  # noqa: BLE001 - onnxruntime raises its own kinds
                raise RunDirError(f"cannot load the ONNX model {self.model_file}: "
                                  f"{first_line(err)}") from None
        return self._session

    def feeds(self, x: Sequence[Any]) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """``(row indices, inputs)`` batches of ``x`` as the graph takes them: prepared,
        tokenised and length-sorted as :class:`~scifm.models.transformer.TransformerPredictor`
        does; ``input_ids`` / ``attention_mask`` are ``batch x longest`` int64 arrays."""
        if not len(x):
            return
        ids = encode_texts(self.tokenizer_, prepare_inputs(self.modality, x, self.dna_kmer_),
                           self.max_length_)
        for idx, batch in length_sorted_batches(self.tokenizer_, ids, self.batch_size,
                                                torch.device("cpu")):
            yield idx, {k: np.asarray(batch[k].numpy(), dtype=np.int64) for k in INPUT_NAMES}

    def predict_logits(self, x: Sequence[Any]) -> np.ndarray:
        """Raw outputs, ``n x n_outputs`` float32 (standardised scale for regression)."""
        out = np.zeros((len(x), self.task.n_outputs), dtype=np.float32)
        for idx, feed in self.feeds(x):
            out[idx] = self.session.run([OUTPUT_NAME], feed)[0]
        return out

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        """Predictions, ``n x n_outputs``: probabilities (classification) or target units."""
        return predictions_from_logits(self.task, self.predict_logits(x), self.target_mean_,
                                       self.target_std_)

    # ---------------------------------------------------------------- persistence
    def meta(self) -> dict[str, Any]:
        """The ``scifm.json`` of this model."""
        scaling = None
        if self.target_mean_ is not None:
            scaling = {"mean": np.asarray(self.target_mean_).tolist(),
                       "std": np.asarray(self.target_std_).tolist()}
        return {**self.extra_meta, "family": FAMILY, "source_family": "transformer",
                "modality": self.modality, "task": self.task.to_dict(),
                "target_scaling": scaling, "dna_kmer": self.dna_kmer_,
                "max_length": self.max_length_, "precision": self.precision,
                "batch_size": self.batch_size, "threads": self.threads,
                "n_parameters": self.n_parameters_}

    def save(self, path: Path) -> None:
        """Write ``model.onnx``, the tokenizer files and ``scifm.json`` into ``path`` as a whole
        (:func:`~scifm.models.manifest.staged_folder`, with its manifest); the predictor then
        reads its graph from there."""
        path = Path(path)
        with staged_folder(path) as tmp:
            shutil.copyfile(self.model_file, tmp / ONNX_FILE)
            self.tokenizer_.save_pretrained(str(tmp))
            atomic_write_json(tmp / MODEL_META, self.meta())
        self.model_file = path / ONNX_FILE

    @classmethod
    def load(cls, path: Path) -> OnnxTransformerPredictor:
        """Rebuild the predictor saved in ``path`` by :meth:`save` (the session opens lazily).

        Raises
        ------
        RunDirError
            Not an ``onnx_transformer`` folder, ``model.onnx`` or the tokenizer missing or
            damaged, an unknown ``precision``.
        """
        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        if meta.get("family") != FAMILY:
            raise RunDirError(f"{path} holds a {meta.get('family')!r} model, not an {FAMILY} one")
        missing = [k for k in ("task", "modality") if k not in meta]
        if missing:
            raise RunDirError(f"{path / MODEL_META} has no {', '.join(missing)}: not a saved "
                              f"{FAMILY} model")
        if not (path / ONNX_FILE).is_file():
            raise RunDirError(f"{path / ONNX_FILE} is missing: {path} is not a saved {FAMILY} "
                              "model")
        if meta.get("precision") not in PRECISIONS:
            raise RunDirError(f"{path / MODEL_META}: precision {meta.get('precision')!r} is not "
                              f"one of {', '.join(PRECISIONS)}")
        tokenizer = load_tokenizer(path)
        max_length = int(meta.get("max_length") or 256)
        tokenizer.model_max_length = max_length
        scaling = meta.get("target_scaling")
        own = {"family", "source_family", "modality", "task", "target_scaling", "dna_kmer",
               "max_length", "precision", "batch_size", "threads", "n_parameters"}
        return cls(
            TaskSpec.from_dict(meta["task"]), meta["modality"], path / ONNX_FILE, tokenizer,
            dna_kmer=int(meta.get("dna_kmer") or 1),
            target_mean=np.asarray(scaling["mean"], dtype=np.float64) if scaling else None,
            target_std=np.asarray(scaling["std"], dtype=np.float64) if scaling else None,
            max_length=max_length, batch_size=int(meta.get("batch_size") or 64),
            threads=int(meta.get("threads") or 0), precision=meta["precision"],
            n_parameters=int(meta.get("n_parameters") or 0),
            extra_meta={k: v for k, v in meta.items() if k not in own})


def session_threads(threads: int) -> int:
    """Intra-op threads of a session: ``threads``, else ``OMP_NUM_THREADS`` (set in worker
    processes that share the cores), else every core available to this process."""
    if threads > 0:
        return threads
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
