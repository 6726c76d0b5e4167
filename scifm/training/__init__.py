"""Fine-tuning components for ``transformers.Trainer``: the Trainer arguments (``args``), the
tokenizer rule (``tokenizer``), tokenised data (``data``), heads with their labels, losses and
validation metrics (``heads``, ``losses``), PEFT (``peft``), MLM masking (``masking``), device and
precision choices (``device``) and the fine-tuning steps themselves (``finetune``).

``transformers.Trainer`` owns the loop; this package supplies the pieces it is handed.
"""

from scifm.training.device import accelerator, bf16_supported, resolve_bf16
from scifm.training.losses import (
    balanced_class_weights,
    make_compute_loss,
    masked_bce_with_logits,
    masked_cross_entropy,
    masked_mse,
)

__all__ = [
    "accelerator",
    "balanced_class_weights",
    "bf16_supported",
    "make_compute_loss",
    "masked_bce_with_logits",
    "masked_cross_entropy",
    "masked_mse",
    "resolve_bf16",
]
