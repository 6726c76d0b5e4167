"""The tokenizer a fine-tuning run trains with: resumed, the checkpoint's own, or trained here.

One rule for every recipe: a run resumed from a checkpoint reloads the tokenizer saved there; a run
from ``model.init`` uses the checkpoint's tokenizer; otherwise a tokenizer is trained on the
training inputs (:func:`scifm.featurizers.tokenizers.build_tokenizer`). Under ``torchrun`` the
main process trains it and saves it, and the other processes load that copy, so every process
holds the same vocabulary whatever the tokenizer trainer does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from transformers import PreTrainedTokenizerBase, TrainingArguments

from scifm.config.schema import ModelConfig
from scifm.featurizers.tokenizers import build_tokenizer, checkpoint_dna_kmer
from scifm.models.manifest import staged_folder
from scifm.models.safeload import load_tokenizer

logger = logging.getLogger(__name__)

SHARED_DIR = "tokenizer"
"""Sub-folder of the checkpoint folder where the main process leaves the trained tokenizer."""


def run_dna_kmer(model_cfg: ModelConfig) -> int:
    """DNA k-mer size of the run: the ``model.init`` checkpoint's (``scifm.json``), else
    ``model.dna_kmer``."""
    init_kmer = checkpoint_dna_kmer(Path(model_cfg.init)) if model_cfg.init else None
    return init_kmer or model_cfg.dna_kmer


def training_tokenizer(
    modality: str, corpus: Sequence[str], model_cfg: ModelConfig, args: TrainingArguments,
    resume_from: str | None = None,
) -> PreTrainedTokenizerBase:
    """The tokenizer to fine-tune with.

    Parameters
    ----------
    modality
        Input modality (picks the tokenizer kind).
    corpus
        Training inputs as the tokenizer reads them (after
        :func:`~scifm.featurizers.tokenizers.prepare_inputs`).
    model_cfg
        ``init`` (use the checkpoint's tokenizer), ``max_length``, ``dna_kmer``,
        ``text_vocab_size``.
    args
        The run's Trainer arguments: process rank and world size, and ``output_dir``, where the
        main process shares the tokenizer it trained.
    resume_from
        Checkpoint folder a resumed run continues from (its tokenizer is reloaded).
    """
    if resume_from is not None:
        logger.info("resuming from %s", resume_from)
        return load_tokenizer(Path(resume_from))
    if model_cfg.init is not None or args.world_size <= 1:
        return build_tokenizer(modality, corpus, model_cfg)
    shared = Path(args.output_dir) / SHARED_DIR
    with args.main_process_first(local=False, desc="tokenizer"):
        if args.process_index != 0:
            return load_tokenizer(shared)
        tokenizer = build_tokenizer(modality, corpus, model_cfg)
        with staged_folder(shared, manifest=False) as tmp:  # whole, or not there at all
            tokenizer.save_pretrained(str(tmp))
        return tokenizer
