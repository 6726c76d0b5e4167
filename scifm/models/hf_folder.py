"""A fine-tuned model on disk: a Hugging Face folder plus ``scifm.json``.

Shared by the transformer adapters (:mod:`scifm.models.transformer`, :mod:`scifm.models.token`):
the weights are a standard Hugging Face folder (``config.json``, ``model.safetensors``) or a PEFT
adapter with the frozen base model in ``base/`` (:mod:`scifm.training.peft`), beside the tokenizer
files and ``scifm.json``. :class:`HFAdapter` is what both adapters share: the model, its tokenizer,
the settings it was trained with, and the common part of saving and loading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from scifm.errors import RunDirError
from scifm.models.backbones import Backbone, HeadKind
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.manifest import staged_folder
from scifm.models.safeload import load_tokenizer, refuse_unsafe_files
from scifm.training.data import length_sorted_batches
from scifm.training.device import accelerator, bf16_supported
from scifm.training.peft import (
    BASE_DIR,
    BaseSnapshot,
    is_adapter,
    is_adapter_dir,
    load_adapter_model,
    save_adapter_model,
)
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

INFERENCE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""``inference_dtype`` values of ``scifm.json``: the dtype the model is cast to on load and runs
in (absent: the weights' own dtype, fp32 for every trained run; ``bfloat16``: the bf16 variant
of ``scifm compress``)."""


def read_meta(path: Path, family: str, what: str) -> dict[str, Any]:
    """``scifm.json`` of a saved model folder of ``family``, checking the weights are there.

    Raises
    ------
    RunDirError
        No ``scifm.json`` / weights, or a model of another family.
    """
    meta_file = path / MODEL_META
    needed = [meta_file] if is_adapter_dir(path) else [meta_file, path / "config.json"]
    for file in needed:
        if not file.is_file():
            raise RunDirError(f"{file} is missing: {path} is not a saved {what} model")
    meta = read_model_json(meta_file)
    if meta.get("family") != family:
        raise RunDirError(f"{path} holds a {meta.get('family')!r} model, not a {what} model")
    return meta


def load_hf_folder(path: Path, head: HeadKind) -> tuple[torch.nn.Module, PreTrainedTokenizerBase,
                                                    BaseSnapshot | None]:
    """Model (on :func:`~scifm.training.device.accelerator`, eval mode), tokenizer and, for a PEFT
    adapter, its base snapshot, from a folder written by :func:`save_hf_folder` (safetensors
    only; a missing or damaged file is one :class:`~scifm.errors.RunDirError` line naming it)."""
    refuse_unsafe_files(path)
    tokenizer = load_tokenizer(path)
    base = None
    hf_logging.disable_progress_bar()  # no "Loading weights" bar for one small folder
    try:
        if is_adapter_dir(path):
            model = load_adapter_model(path, head)
            base = BaseSnapshot(path / BASE_DIR)
        else:
            model = Backbone(head).from_checkpoint(path)
    finally:
        hf_logging.enable_progress_bar()
    model.to(accelerator()).eval()
    return model, tokenizer, base


def save_hf_folder(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, path: Path,
                   peft_base: BaseSnapshot | None) -> None:
    """Write the model (safetensors; a PEFT adapter plus ``base/``) and its tokenizer into the
    (staged) folder ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar for one small file
    try:
        if is_adapter(model):
            save_adapter_model(model, path, peft_base)
        else:
            model.save_pretrained(str(path))
    finally:
        hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(str(path))


class HFAdapter:
    """A fine-tuned encoder behind a predictor: the part the sequence-level
    (:class:`~scifm.models.transformer.TransformerPredictor`) and token-level
    (:class:`~scifm.models.token.TokenPredictor`) adapters share.

    Parameters
    ----------
    modality
        Input modality.
    model, tokenizer
        The fine-tuned model (or a PEFT adapter model) and its tokenizer.
    max_length
        Tokens per input (longer inputs are truncated).
    settings
        ``model``, ``train``, ``peft`` sections and ``seed`` of the training run, as written to
        ``scifm.json`` (``train.batch_size`` sets the inference batch size).
    peft_base
        The untouched base model of a PEFT adapter (saved beside it).
    n_parameters, n_trainable_parameters
        Parameter counts, for the report.
    bf16
        Whether training used bf16 autocast.
    inference_dtype
        A key of :data:`INFERENCE_DTYPES` the model was cast to (written to ``scifm.json``), or
        None: the weights' dtype (fp32).
    """

    family = ""
    """``family`` in ``scifm.json``."""
    head: HeadKind = "sequence"
    """The head :func:`load_hf_folder` rebuilds."""

    def __init__(
        self, modality: str, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, *,
        max_length: int = 256, settings: dict[str, Any] | None = None,
        peft_base: BaseSnapshot | None = None, n_parameters: int = 0,
        n_trainable_parameters: int = 0, bf16: bool = False, inference_dtype: str | None = None,
    ) -> None:
        self.modality, self.model_, self.tokenizer_ = modality, model, tokenizer
        self.max_length_, self.settings = max_length, settings or {}
        self.peft_base_, self.bf16_ = peft_base, bf16
        self.inference_dtype = inference_dtype
        self.n_parameters_, self.n_trainable_parameters_ = n_parameters, n_trainable_parameters
        self.history_: list[dict[str, Any]] = []

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.model_.parameters()).device

    def batches(self, ids: Sequence[Sequence[int]]) -> Iterator[tuple[Any, dict[str, Any]]]:
        """``(row indices, batch)`` on the model's device, similar lengths together; the model is
        put in eval mode (the caller chooses ``inference_mode`` / autocast)."""
        batch_size = 2 * int(self.settings.get("train", {}).get("batch_size", 32))
        self.model_.eval()
        yield from length_sorted_batches(self.tokenizer_, ids, batch_size, self.device)

    def save_folder(self, path: Path, **entries: Any) -> None:
        """Write the Hugging Face folder and ``scifm.json`` (common keys plus ``entries``) into a
        staged folder that replaces ``path`` as a whole, with its manifest
        (:func:`~scifm.models.manifest.staged_folder`)."""
        with staged_folder(Path(path)) as tmp:
            save_hf_folder(self.model_, self.tokenizer_, tmp, self.peft_base_)
            self._write_meta(tmp, entries)

    def _write_meta(self, path: Path, entries: dict[str, Any]) -> None:
        s = self.settings
        atomic_write_json(path / MODEL_META, {
            "family": self.family, "modality": self.modality, **entries,
            "max_length": self.max_length_, "model": s.get("model", {}),
            "train": s.get("train", {}), "seed": s.get("seed", 0),
            "n_parameters": self.n_parameters_,
            "n_trainable_parameters": self.n_trainable_parameters_,
            "peft": {**s.get("peft", {}), "adapter": is_adapter(self.model_)},
            **({"inference_dtype": self.inference_dtype} if self.inference_dtype else {}),
        })

    @classmethod
    def read_folder(cls, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """``scifm.json`` of a folder written by :meth:`save_folder`, and the keyword arguments
        of :class:`HFAdapter` rebuilt from it (model and tokenizer loaded).

        Raises
        ------
        RunDirError
            Not a saved model of this family.
        """
        path = Path(path)
        meta = read_meta(path, cls.family, cls.family)
        model, tokenizer, base = load_hf_folder(path, cls.head)
        dtype = meta.get("inference_dtype")
        if dtype is not None:
            if dtype not in INFERENCE_DTYPES:
                raise RunDirError(f"{path / MODEL_META}: inference_dtype {dtype!r} is not one of "
                                  f"{', '.join(INFERENCE_DTYPES)}")
            model.to(INFERENCE_DTYPES[dtype])
        max_length = int(meta.get("max_length") or (meta.get("model") or {}).get("max_length")
                         or 256)
        tokenizer.model_max_length = max_length
        settings = {k: meta.get(k) or {} for k in ("model", "train", "peft")}
        settings["peft"] = {k: v for k, v in settings["peft"].items() if k != "adapter"}
        settings["seed"] = int(meta.get("seed", 0))
        return meta, {
            "modality": meta["modality"], "model": model, "tokenizer": tokenizer,
            "max_length": max_length, "settings": settings, "peft_base": base,
            "n_parameters": int(meta.get("n_parameters") or model.num_parameters()),
            "n_trainable_parameters": int(meta.get("n_trainable_parameters") or 0),
            "bf16": settings["train"].get("bf16", "auto") != "off" and bf16_supported(),
            "inference_dtype": dtype,
        }
