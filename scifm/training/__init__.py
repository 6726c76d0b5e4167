"""Fine-tuning components for ``transformers.Trainer``: the Trainer arguments (``args``), the
tokenizer rule (``tokenizer``), tokenised data (``data``), heads with their labels, losses and
validation metrics (``heads``, ``losses``), PEFT (``peft``), MLM masking (``masking``), device and
precision choices (``device``) and the fine-tuning steps themselves (``finetune``).

``transformers.Trainer`` owns the loop; this package supplies the pieces it is handed.
"""

import importlib
from typing import Any

_EXPORTS = {
    "accelerator": "device",
    "bf16_supported": "device",
    "resolve_bf16": "device",
    "balanced_class_weights": "losses",
    "make_compute_loss": "losses",
    "masked_bce_with_logits": "losses",
    "masked_cross_entropy": "losses",
    "masked_mse": "losses",
}
"""Names re-exported from submodules, imported on first use (PEP 562): importing a light
submodule such as ``scifm.training.distributed`` must not load torch, transformers and peft."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"scifm.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scifm.training' has no attribute {name!r}")
