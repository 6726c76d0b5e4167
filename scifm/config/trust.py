"""Config of the trust layer: uncertainty, calibration and applicability domain
(:mod:`scifm.trust`)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from scifm.config.base import Strict


class UncertaintyConfig(Strict):
    """Uncertainty of every prediction, fitted on the validation rows after training.

    Regression: conformal prediction intervals (crepes); classification: calibrated
    probabilities and conformal prediction sets; every modality: the similarity of each input to
    its nearest training input and an in/out-of-domain flag.
    """

    enabled: bool = True
    """Fit the uncertainty layer of the selected model (``model/uncertainty/``); ``predict``
    then writes interval / set / similarity columns."""
    confidence: float = 0.9
    """Nominal coverage of the prediction intervals and sets."""
    method: Literal["auto", "standard", "normalized", "mondrian"] = "auto"
    """Conformal regressor: ``standard`` (one width), ``normalized`` (width grows with the
    distance to the nearest training input), ``mondrian`` (calibrated separately in three bins of
    that distance); ``auto`` keeps the one with the narrowest intervals when each is fitted on
    half of the validation rows and measured on the other half."""
    calibration: Literal["auto", "none", "platt", "isotonic", "temperature"] = "auto"
    """Probability calibration (classification): ``auto`` keeps the calibrator with the lowest
    cross-fitted log loss on the validation rows (none, Platt or isotonic per binary task;
    none or temperature for multiclass)."""
    domain: bool = True
    """Applicability domain: similarity to the nearest training input (the modality's
    similarity: ECFP4 Tanimoto, k-mer Jaccard, TF-IDF cosine) and ``in_domain``."""
    domain_quantile: float = 0.1
    """An input is in domain when it is at least as similar to the training set as this share
    of the validation rows is not: the threshold is this quantile of the validation rows'
    similarities (validation rows are new scaffolds / clusters under a grouped split)."""

    mc_dropout: int = 0
    """Monte-Carlo dropout passes (torch models without members: the transformer): the standard
    deviation of that many predictions with dropout on is written as ``spread_<t>`` and is a
    difficulty the conformal regressor may choose. 0 = off; each pass costs one prediction, at
    training and at every ``predict``."""

    @field_validator("mc_dropout")
    @classmethod
    def _passes(cls, v: int) -> int:
        if v != 0 and not 2 <= v <= 100:
            raise ValueError(f"uncertainty.mc_dropout must be 0 (off) or 2-100 passes, got {v}")
        return v

    @field_validator("confidence")
    @classmethod
    def _level(cls, v: float) -> float:
        if not 0.5 <= v < 1.0:
            raise ValueError(f"uncertainty.confidence must be in [0.5, 1), got {v}")
        return v

    @field_validator("domain_quantile")
    @classmethod
    def _quantile(cls, v: float) -> float:
        if not 0.0 <= v < 0.5:
            raise ValueError(f"uncertainty.domain_quantile must be in [0, 0.5), got {v}")
        return v
