"""Embeddings from a trained or pretrained transformer as features (mean-pooled).

``embed:PATH`` in a feature set (e.g. ``embed:runs/mlm/model+ecfp``) turns any Hugging Face
encoder folder — a ``scifm pretrain`` or ``scifm train`` run's ``model/``, or a checkpoint on disk
such as all-MiniLM-L6-v2 — into a fixed-width featurizer for the feature-based families. The
saved featurizer config records the folder's absolute path, so that folder must still exist when
the model is loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from scifm.data.datapoints import Inputs, primary_strings
from scifm.errors import ConfigError
from scifm.featurizers.base import BaseFeaturizer, register

logger = logging.getLogger(__name__)


@register("embedding")
class EmbeddingFeaturizer(BaseFeaturizer):
    """Mean of the last hidden states over non-padding tokens, ``n x hidden_size`` float32.

    Parameters
    ----------
    path
        A Hugging Face model folder with its tokenizer (``scifm.json`` beside it is used for the
        DNA k-mer size and maximum length when present).
    batch_size
        Inputs per forward pass.
    """

    name = "embedding"

    def __init__(self, path: str, batch_size: int = 64) -> None:
        self.path = path
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None

    def _params(self) -> dict[str, Any]:
        return {"path": self.path, "batch_size": self.batch_size}

    def _load(self) -> None:
        """Load the encoder: safetensors only, from a folder that
        :func:`~scifm.models.safeload.check_model_folder` accepts (no pickle-based file, every
        file as its manifest lists it); a damaged file is one RunDirError line naming it."""
        from transformers import AutoModel

        from scifm.models.base import MODEL_META, read_model_json
        from scifm.models.safeload import check_model_folder, load_hf_model, load_tokenizer

        folder = Path(self.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"features embed:{self.path}: no Hugging Face model (config.json) "
                              "there; point at a run's model/ folder or a checkpoint folder")
        check_model_folder(folder)
        meta = read_model_json(folder / MODEL_META) if (folder / MODEL_META).is_file() else {}
        self._dna_kmer = int(meta.get("dna_kmer") or 1)
        self._max_length = int(meta.get("max_length") or 256)
        self._tokenizer = load_tokenizer(folder)
        self._model = load_hf_model(AutoModel, folder).eval()

    def __len__(self) -> int:
        if self._model is None:
            self._load()
        return int(self._model.config.hidden_size)

    def __call__(self, xs: Inputs) -> np.ndarray:
        import torch

        from scifm.featurizers.tokenizers import kmerize

        if self._model is None:
            self._load()
        texts = primary_strings(xs)
        if self._dna_kmer > 1:  # the encoder was trained on overlapping k-mers
            texts = [kmerize(t, self._dna_kmer) for t in texts]
        out = np.zeros((len(texts), len(self)), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(texts[i:i + self.batch_size], padding=True,
                                        truncation=True, max_length=self._max_length,
                                        return_tensors="pt")
                hidden = self._model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out[i:i + len(pooled)] = pooled.numpy()
        return out
