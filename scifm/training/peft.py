"""Parameter-efficient fine-tuning of the transformer family through the ``peft`` library.

``peft.method`` picks LoRA, AdaLoRA, IA3 or prompt tuning (:func:`apply_peft`); with ``none``,
``freeze_layers`` / ``linear_probe`` freeze part or all of the encoder instead
(:func:`freeze_backbone`). The task head is always trained and saved with the adapter
(``modules_to_save``, found by :func:`head_modules`).

A saved adapter model is a folder that reloads with no network and no extra steps
(:func:`save_adapter_model`, :func:`load_adapter_model`)::

    model/
      adapter_config.json, adapter_model.safetensors   adapter + trained task head
      base/                                             the frozen base model (HF folder)
      tokenizer.json, scifm.json, ...

With ``peft.merge: true`` (LoRA, AdaLoRA, IA3) the adapter is merged into the weights instead
(:func:`finalize`) and ``model/`` is a plain Hugging Face model.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, TrainerCallback

from scifm.config.schema import PeftConfig
from scifm.errors import ConfigError, RunDirError
from scifm.models.backbones import Backbone, HeadKind
from scifm.models.safeload import (
    LOAD_ERRORS,
    check_json_files,
    first_line,
    refuse_unsafe_files,
)

logger = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
BASE_DIR = "base"
"""Sub-folder of a saved adapter model holding the frozen base model."""
MERGEABLE = ("lora", "adalora", "ia3")
_GUESS_TARGETS = {
    "lora": ("query", "value", "q_proj", "v_proj", "q_lin", "v_lin"),
    "adalora": ("query", "value", "q_proj", "v_proj", "q_lin", "v_lin"),
}


def _import_peft() -> Any:
    try:
        import peft
    except ImportError as err:  # a core dependency: only a broken install lacks it
        raise ConfigError("peft.method needs the peft package, a dependency of scifm: "
                          "pip install -c constraints.txt -e .") from err
    return peft


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(trainable), int(sum(p.numel() for p in model.parameters()))


def head_modules(model: PreTrainedModel) -> list[str]:
    """Names of the task-head modules: direct children with parameters, other than the encoder.

    ``BertForSequenceClassification`` -> ``["classifier"]``; DistilBERT ->
    ``["pre_classifier", "classifier"]``.
    """
    prefix = getattr(model, "base_model_prefix", "")
    return [name for name, child in model.named_children()
            if name != prefix and any(True for _ in child.parameters())]


def _encoder_layers(encoder: nn.Module, n_layers: int | None) -> nn.ModuleList | None:
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and (n_layers is None or len(module) == n_layers):
            return module
    return None


def freeze_backbone(model: PreTrainedModel, n_layers: int | None = None) -> None:
    """Freeze the encoder (``n_layers=None``: linear probe) or its embeddings + first N layers.

    Raises
    ------
    ConfigError
        ``n_layers`` exceeds the encoder depth, or no layer list is found.
    """
    encoder = model.base_model
    if encoder is model:
        raise ConfigError("cannot tell the encoder from the task head of this model")
    if n_layers is None:
        encoder.requires_grad_(False)
        return
    layers = _encoder_layers(encoder, getattr(model.config, "num_hidden_layers", None))
    if layers is None or n_layers > len(layers):
        depth = "unknown" if layers is None else len(layers)
        raise ConfigError(f"peft.freeze_layers: {n_layers} but the encoder has {depth} layers")
    embeddings = getattr(encoder, "embeddings", None) or encoder.get_input_embeddings()
    embeddings.requires_grad_(False)
    for layer in layers[:n_layers]:
        layer.requires_grad_(False)


def _targets(model: PreTrainedModel, cfg: PeftConfig, peft: Any) -> list[str] | None:
    """``peft.target_modules``, else peft's default for the architecture, else a guess."""
    if cfg.target_modules:
        return list(cfg.target_modules)
    mapping = {
        "lora": peft.utils.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING,
        "adalora": peft.utils.TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING,
        "ia3": peft.utils.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
    }.get(cfg.method, {})
    if getattr(model.config, "model_type", None) in mapping:
        return None  # peft knows this architecture
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    guess = [n for n in _GUESS_TARGETS.get(cfg.method, ()) if n in names]
    if not guess:
        raise ConfigError(f"peft.target_modules: no default for model type "
                          f"{model.config.model_type!r}; name the linear layers to adapt "
                          f"(e.g. --set 'peft.target_modules=[query,value]')")
    return guess


def _peft_config(model: PreTrainedModel, cfg: PeftConfig, total_steps: int, peft: Any,
                 head: HeadKind) -> Any:
    task_type = peft.TaskType.TOKEN_CLS if head == "token" else peft.TaskType.SEQ_CLS
    common = {"task_type": task_type, "modules_to_save": head_modules(model)}
    if cfg.method == "prompt_tuning":
        return peft.PromptTuningConfig(num_virtual_tokens=cfg.num_virtual_tokens, **common)
    targets = _targets(model, cfg, peft)
    if cfg.method == "lora":
        return peft.LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                               target_modules=targets, **common)
    if cfg.method == "adalora":
        total = max(2, total_steps)
        return peft.AdaLoraConfig(init_r=math.ceil(1.5 * cfg.r), target_r=cfg.r,
                                  lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                  target_modules=targets, total_step=total, tinit=total // 10,
                                  tfinal=total // 5, **common)
    if cfg.method == "ia3":
        return peft.IA3Config(target_modules=targets, **common)
    raise ConfigError(f"peft.method: unknown method {cfg.method!r}")


def apply_peft(model: PreTrainedModel, cfg: PeftConfig, total_steps: int,
               head: HeadKind = "sequence") -> nn.Module:
    """Wrap ``model`` for the configured method (or freeze part of it); head stays trainable.

    Parameters
    ----------
    model
        A sequence- or token-classification model.
    cfg
        The ``peft`` section.
    total_steps
        Planned optimiser steps (AdaLoRA's rank-allocation schedule).
    head
        ``sequence`` or ``token``: the kind of head on ``model`` (peft's task type).

    Returns
    -------
    torch.nn.Module
        ``model`` itself (``none``) or a :class:`peft.PeftModel`.
    """
    if cfg.method == "none":
        if cfg.linear_probe:
            freeze_backbone(model, None)
        elif cfg.freeze_layers:
            freeze_backbone(model, cfg.freeze_layers)
    else:
        peft = _import_peft()
        try:
            model = peft.get_peft_model(model, _peft_config(model, cfg, total_steps, peft,
                                                             head))
        except ValueError as err:
            raise ConfigError(f"peft.method {cfg.method}: {str(err).splitlines()[0]}") from err
    trainable, total = parameter_counts(model)
    logger.info("peft %s: %d of %d parameters trainable (%.2f%%)", cfg.method, trainable, total,
                100.0 * trainable / max(total, 1))
    return model


def prompt_capped_length(config: PretrainedConfig, max_length: int, cfg: PeftConfig) -> int:
    """Tokens per input that leave room in the position table for prompt-tuning tokens."""
    n_pos = getattr(config, "max_position_embeddings", None)
    if cfg.method != "prompt_tuning" or not n_pos:
        return max_length
    room = n_pos - 2 - cfg.num_virtual_tokens
    if room < 4:
        raise ConfigError(f"peft.num_virtual_tokens: {cfg.num_virtual_tokens} leaves no room for "
                          f"inputs in a model with {n_pos} positions")
    return min(max_length, room)


class AdaLoraAllocator(TrainerCallback):
    """Calls AdaLoRA's rank allocation after every optimiser step (gradients still present)."""

    def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None,
                          **kwargs: Any) -> None:
        if model is not None:
            model.base_model.update_and_allocate(state.global_step)


def peft_callbacks(cfg: PeftConfig) -> list[TrainerCallback]:
    """Trainer callbacks a method needs (AdaLoRA: :class:`AdaLoraAllocator`)."""
    return [AdaLoraAllocator()] if cfg.method == "adalora" else []


def is_adapter(model: nn.Module) -> bool:
    """Whether ``model`` is a :class:`peft.PeftModel` (saved as adapter + base)."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def keeps_adapter(cfg: PeftConfig) -> bool:
    """Whether the trained model is saved as adapter + base (not merged, not plain)."""
    return cfg.method != "none" and not (cfg.merge and cfg.method in MERGEABLE)


def finalize(model: nn.Module, cfg: PeftConfig) -> nn.Module:
    """After training: merge the adapter into the weights when ``cfg.merge`` (and possible)."""
    if not (cfg.merge and is_adapter(model)):
        return model
    if cfg.method not in MERGEABLE:
        logger.warning("peft.merge: %s cannot be merged; saving the adapter", cfg.method)
        return model
    return model.merge_and_unload()


class BaseSnapshot:
    """The frozen base model on disk: a temporary copy taken before wrapping, or ``model/base``.

    Parameters
    ----------
    path
        Hugging Face folder of the base model.
    tmp
        Keeps a temporary folder alive as long as the snapshot.
    """

    def __init__(self, path: Path, tmp: tempfile.TemporaryDirectory | None = None) -> None:
        self.path = Path(path)
        self._tmp = tmp

    @classmethod
    def take(cls, model: PreTrainedModel) -> BaseSnapshot:
        """Write ``model`` (not yet wrapped) to a temporary folder."""
        tmp = tempfile.TemporaryDirectory(prefix="scifm-peft-base-")
        model.save_pretrained(tmp.name)
        return cls(Path(tmp.name), tmp)


def save_adapter_model(model: nn.Module, path: Path, base: BaseSnapshot) -> None:
    """Write the adapter (with the task head) into ``path``, the base model into ``path/base``."""
    path = Path(path)
    model.save_pretrained(str(path))
    dst = path / BASE_DIR
    if base.path.resolve() != dst.resolve():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(base.path, dst)


def is_adapter_dir(path: Path) -> bool:
    """Whether ``path`` was written by :func:`save_adapter_model`."""
    path = Path(path)
    return (path / ADAPTER_CONFIG).is_file() and (path / BASE_DIR / "config.json").is_file()


def load_adapter_model(path: Path, head: HeadKind = "sequence") -> nn.Module:
    """Base model from ``path/base`` with the adapter and trained head from ``path`` (inference).

    ``head``: ``sequence`` or ``token``, the kind of model the adapter was trained on. Only
    ``adapter_model.safetensors`` is read (peft would fall back to a pickled
    ``adapter_model.bin``: a folder holding one is refused).

    Raises
    ------
    RunDirError
        One line naming the adapter or base file that is missing, pickle-based or damaged.
    """
    peft = _import_peft()
    path = Path(path)
    refuse_unsafe_files(path)
    check_json_files(path, (ADAPTER_CONFIG,))
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise RunDirError(f"{weights} is missing: no adapter weights in {path}")
    base = Backbone(head).from_checkpoint(path / BASE_DIR)
    try:
        return peft.PeftModel.from_pretrained(base, str(path), is_trainable=False,
                                              local_files_only=True)
    except LOAD_ERRORS as err:
        raise RunDirError(f"cannot load the adapter {weights}: {first_line(err)}") from None
