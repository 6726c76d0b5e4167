"""Config of privacy: PII redaction of text inputs and differentially private training."""

from __future__ import annotations

from pydantic import Field, field_validator

from scifm.config.base import Strict


class DPConfig(Strict):
    """Differential privacy (Opacus DP-SGD) for the families that support it."""

    epsilon: float | None = None
    """Target privacy budget epsilon; None: no differential privacy."""
    delta: float = 1e-5
    """Target delta (keep it below 1 / number of training rows)."""
    max_grad_norm: float = 1.0
    """Per-sample gradient clipping norm."""

    @field_validator("epsilon")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError(f"privacy.dp.epsilon must be > 0, got {v}")
        return v


class PrivacyConfig(Strict):
    """``privacy.redact``: PII in text inputs is replaced by its entity type before anything is
    trained, logged, tracked or reported; ``privacy.dp``: differentially private training."""

    redact: bool = False
    entities: list[str] | None = None
    """Entity types to redact (None: every supported type)."""
    dp: DPConfig = Field(default_factory=DPConfig)
    membership_audit: bool = False
    """Run the loss-threshold membership-inference audit (train vs test rows) after training
    (``metrics.json["membership"]``); always run when ``dp.epsilon`` is set."""
