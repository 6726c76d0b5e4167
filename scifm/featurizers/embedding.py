"""Embeddings from a trained or pretrained transformer as features (mean-pooled).

``embed:PATH`` in a feature set (e.g. ``embed:runs/mlm/model+ecfp``) turns any Hugging Face
encoder folder — a ``scifm pretrain`` or ``scifm train`` run's ``model/``, or a checkpoint on disk
such as all-MiniLM-L6-v2 — into a fixed-width featurizer for the feature-based families. The
saved featurizer config records the folder's absolute path, so that folder must still exist when
the model is loaded.

Embeddings are memoised in-process (:data:`MEMO_FLOATS` floats at most, least recently used
dropped first), keyed by the folder and the exact inputs, so that a search trying both
``embed:P`` and ``embed:P+ecfp`` on the same pool runs the encoder once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from scifm.data.datapoints import Inputs, primary_strings
from scifm.errors import ConfigError
from scifm.featurizers.base import BaseFeaturizer, register

logger = logging.getLogger(__name__)

MEMO_FLOATS = 32 * 2**20
"""Most float32 values of embeddings kept by the in-process memo (128 MiB)."""
_MEMO: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()


def check_encoder_folder(folder: str | Path, what: str) -> Path:
    """``folder`` when it holds a Hugging Face model (``config.json``).

    Parameters
    ----------
    folder
        The encoder folder.
    what
        What names it in the error (``features embed:PATH``, ``automl.auto.embed PATH``).

    Raises
    ------
    ConfigError
        One line: no ``config.json`` there.
    """
    if not (Path(folder) / "config.json").is_file():
        raise ConfigError(f"{what}: no Hugging Face model (config.json) there; point at a run's "
                          "model/ folder or a checkpoint folder")
    return Path(folder)


def _memo_key(path: str, texts: list[str]) -> tuple[Any, ...]:
    """The folder, its files' modification times (a re-trained folder is a new key), inputs."""
    folder = Path(path)
    stamps = tuple(f.stat().st_mtime_ns for f in (folder / "config.json",
                                                   folder / "model.safetensors") if f.is_file())
    return (str(folder.resolve()), stamps, tuple(texts))


def _remember(key: tuple[Any, ...], out: np.ndarray) -> None:
    """Keep ``out`` under ``key``; forget the least recently used beyond :data:`MEMO_FLOATS`."""
    _MEMO[key] = out
    while _MEMO and sum(a.size for a in _MEMO.values()) > MEMO_FLOATS:
        _MEMO.popitem(last=False)


def _quietly(load: Any) -> Any:
    """``load()`` with transformers' load report off: an encoder read from a masked-LM run leaves
    its MLM head out (and has no pooler) by design, which is not news."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load()
    finally:
        hf_logging.set_verbosity(level)


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
        self._width: int | None = None

    def _params(self) -> dict[str, Any]:
        return {"path": self.path, "batch_size": self.batch_size}

    def _load(self) -> None:
        """Load the encoder: safetensors only, from a folder that
        :func:`~scifm.models.safeload.check_model_folder` accepts (no pickle-based file, every
        file as its manifest lists it); a damaged file is one RunDirError line naming it."""
        from transformers import AutoModel

        from scifm.models.backbones import checkpoint_max_length
        from scifm.models.base import MODEL_META, read_model_json
        from scifm.models.safeload import check_model_folder, load_hf_model, load_tokenizer

        folder = check_encoder_folder(self.path, f"features embed:{self.path}")
        check_model_folder(folder)
        meta = read_model_json(folder / MODEL_META) if (folder / MODEL_META).is_file() else {}
        self._dna_kmer = int(meta.get("dna_kmer") or 1)
        self._tokenizer = load_tokenizer(folder)
        self._model = _quietly(lambda: load_hf_model(AutoModel, folder)).eval()
        # a checkpoint without scifm.json: 256 tokens, at most what its position table holds
        self._max_length = checkpoint_max_length(self._model.config,
                                                 int(meta.get("max_length") or 256))

    def __len__(self) -> int:
        if self._model is None and self._width is not None:  # known from a memoised batch
            return self._width
        if self._model is None:
            self._load()
        return int(self._model.config.hidden_size)

    def __call__(self, xs: Inputs) -> np.ndarray:
        """Embeddings of ``xs`` (``n x hidden_size``), from the memo when the same folder
        embedded the same inputs earlier in this process (a copy: callers may modify it)."""
        texts = primary_strings(xs)
        key = _memo_key(self.path, texts)
        if key in _MEMO:
            _MEMO.move_to_end(key)
            self._width = _MEMO[key].shape[1]
            return _MEMO[key].copy()
        out = self._embed(texts)
        _remember(key, out.copy())
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Run the encoder on ``texts`` in batches; mean-pool over non-padding tokens."""
        import torch

        from scifm.featurizers.tokenizers import kmerize

        if self._model is None:
            self._load()
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
