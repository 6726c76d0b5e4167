"""A fine-tuned model on disk: a Hugging Face folder plus ``scifm.json``.

Shared by the transformer adapters (:mod:`scifm.models.transformer`, :mod:`scifm.models.token`):
the weights are a standard Hugging Face folder (``config.json``, ``model.safetensors``) or a PEFT
adapter with the frozen base model in ``base/`` (:mod:`scifm.training.peft`), beside the tokenizer
files and ``scifm.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from scifm.errors import RunDirError
from scifm.models.backbones import Backbone, HeadKind
from scifm.models.base import MODEL_META
from scifm.training.device import accelerator
from scifm.training.peft import (
    BASE_DIR,
    BaseSnapshot,
    is_adapter,
    is_adapter_dir,
    load_adapter_model,
    save_adapter_model,
)

logger = logging.getLogger(__name__)


def read_meta(path: Path, family: str, what: str) -> dict[str, Any]:
    """``scifm.json`` of a saved model folder of ``family``, checking the weights are there.

    Raises
    ------
    RunDirError
        No ``scifm.json`` / weights, or a model of another family.
    """
    meta_file = path / MODEL_META
    has_weights = (path / "config.json").is_file() or is_adapter_dir(path)
    if not meta_file.is_file() or not has_weights:
        raise RunDirError(f"{path} is not a saved {what} model (no {MODEL_META} or config.json)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("family") != family:
        raise RunDirError(f"{path} holds a {meta.get('family')!r} model, not a {what} model")
    return meta


def load_hf_folder(path: Path, head: HeadKind) -> tuple[torch.nn.Module, PreTrainedTokenizerBase,
                                                    BaseSnapshot | None]:
    """Model (on :func:`~scifm.training.device.accelerator`, eval mode), tokenizer and, for a PEFT
    adapter, its base snapshot, from a folder written by :func:`save_hf_folder`."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
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
    """Write the model (safetensors; a PEFT adapter plus ``base/``) and its tokenizer."""
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
