"""Applicability domain: how similar an input is to the nearest training input, and whether that
is similar enough.

The similarity is the modality plug-in's (:meth:`~scifm.modalities.base.ModalitySpec.
similarity_to_train`): ECFP4 Tanimoto for molecules, k-mer Jaccard for sequences, word TF-IDF
cosine for text. The threshold is chosen on the validation rows: with ``quantile = 0.1`` an input
is *in domain* when it is at least as similar to the training set as 90% of the validation
rows (which, under a scaffold / similarity split, are themselves new chemical series or
clusters). The training inputs are kept in ``reference.json`` beside the model so that the
similarity of a new input can be measured at prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import primary_strings

SIMILARITY_BINS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0 + 1e-9)
"""Edges of the similarity bins of the report's error-by-similarity table."""


@dataclass
class ApplicabilityDomain:
    """Nearest-training-input similarity and the in-domain threshold of one model."""

    modality: str
    reference: list[str]
    """Primary inputs of the training rows."""
    threshold: float
    quantile: float
    name: str = ""
    metric: str = ""

    @classmethod
    def available(cls, modality: str) -> bool:
        """Whether ``modality`` has a similarity to measure the domain with."""
        return MODALITIES.get(modality).similarity_to_train() is not None

    def similarity(self, inputs: Sequence[Any]) -> np.ndarray:
        """Similarity in [0, 1] of each input to its nearest training input."""
        sim = MODALITIES.get(self.modality).similarity_to_train()
        if sim is None or not len(inputs):
            return np.full(len(inputs), np.nan)
        return np.asarray(sim.fn(primary_strings(inputs), self.reference), float)

    def in_domain(self, similarity: np.ndarray) -> np.ndarray:
        return np.asarray(similarity) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``uncertainty.json`` (the reference inputs are saved apart)."""
        return {"modality": self.modality, "threshold": self.threshold,
                "quantile": self.quantile, "name": self.name, "metric": self.metric}

    @classmethod
    def from_dict(cls, d: dict[str, Any], reference: list[str]) -> ApplicabilityDomain:
        return cls(d["modality"], reference, float(d["threshold"]), float(d["quantile"]),
                   d.get("name", ""), d.get("metric", ""))


def fit_domain(modality: str, train_inputs: Sequence[Any], val_inputs: Sequence[Any],
               quantile: float) -> tuple[ApplicabilityDomain, np.ndarray]:
    """The domain of a model trained on ``train_inputs``; also returns the validation rows'
    similarities (the threshold is their ``quantile``)."""
    sim = MODALITIES.get(modality).similarity_to_train()
    assert sim is not None, f"modality {modality} has no similarity"
    domain = ApplicabilityDomain(modality, primary_strings(train_inputs), 0.0, quantile,
                                 sim.name, sim.metric)
    s_val = domain.similarity(val_inputs)
    domain.threshold = float(np.quantile(s_val, quantile)) if len(s_val) else 0.0
    return domain, s_val


def error_by_similarity(similarity: np.ndarray, error: np.ndarray) -> list[dict[str, Any]]:
    """Mean error of the rows in each :data:`SIMILARITY_BINS` bin (rows with a NaN error are
    left out): ``{"lo", "hi", "n", "error"}`` per non-empty bin."""
    ok = np.isfinite(error) & np.isfinite(similarity)
    s, e = similarity[ok], error[ok]
    out = []
    for lo, hi in zip(SIMILARITY_BINS[:-1], SIMILARITY_BINS[1:], strict=True):
        m = (s >= lo) & (s < hi)
        if m.any():
            out.append({"lo": lo, "hi": min(hi, 1.0), "n": int(m.sum()),
                        "error": float(e[m].mean())})
    return out
