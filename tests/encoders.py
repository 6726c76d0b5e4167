"""A tiny local Hugging Face encoder folder for tests (no network): BERT ``tiny`` + tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "OCCO", "c1ccncc1", "CCCC", "C1CCCCC1",
          "CC(F)(F)F", "c1ccc2ccccc2c1", "CS(=O)(=O)N", "Brc1ccccc1", "O=C1CCCN1"]
"""Enough SMILES for a tokenizer that knows the usual atoms, rings and bonds."""


def save_tiny_encoder(folder: Path, corpus: Sequence[str] = SMILES, modality: str = "smiles",
                      seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer BERT and its tokenizer in ``folder``
    (``save_pretrained``, safetensors); returns ``folder``."""
    import torch
    from transformers import BertModel

    from scifm.config.schema import ModelConfig
    from scifm.featurizers.tokenizers import build_tokenizer
    from scifm.models.backbones import build_backbone_config

    cfg = ModelConfig(max_length=64)
    tok = build_tokenizer(modality, list(corpus), cfg)
    torch.manual_seed(seed)
    BertModel(build_backbone_config("tiny", len(tok), cfg)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return Path(folder)
