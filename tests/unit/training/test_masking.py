"""MLM masking: fixed held-out masks, padding of pre-masked batches, masked-token accuracy."""

from __future__ import annotations

import numpy as np
import torch
from transformers import EvalPrediction

from scifm.config.schema import ModelConfig
from scifm.featurizers.tokenizers import build_tokenizer
from scifm.training.masking import IGNORE_INDEX, MlmCollator, argmax_logits, mlm_accuracy, premask

TOK = build_tokenizer("smiles", ["CCOc1ccccc1N", "CC(=O)O", "ClCCBr"], ModelConfig())


def _examples(n: int = 40) -> list[dict[str, list[int]]]:
    texts = ["CCOc1ccccc1N", "CC(=O)O", "ClCCBr", "CC"] * (n // 4)
    return [{"input_ids": ids} for ids in TOK(texts)["input_ids"]]


def test_premask_is_reproducible_and_masks_every_example() -> None:
    a = premask(_examples(), TOK, 0.15, seed=3)
    b = premask(_examples(), TOK, 0.15, seed=3)
    c = premask(_examples(), TOK, 0.15, seed=4)
    assert a == b and a != c
    special = set(TOK.all_special_ids)
    for ex, orig in zip(a, _examples(), strict=True):
        scored = [i for i, lab in enumerate(ex["labels"]) if lab != IGNORE_INDEX]
        assert scored, "every held-out example has a scored position"
        assert all(orig["input_ids"][i] not in special for i in scored)
        assert all(ex["labels"][i] == orig["input_ids"][i] for i in scored)


def test_collator_masks_unlabeled_and_pads_premasked() -> None:
    coll = MlmCollator(TOK, mask_prob=0.5, seed=0)
    batch = coll(_examples(8))
    assert batch["input_ids"].shape == batch["labels"].shape
    assert (batch["labels"] != IGNORE_INDEX).any()
    fixed = premask(_examples(8), TOK, 0.15, seed=0)
    padded = coll(fixed)
    longest = max(len(ex["input_ids"]) for ex in fixed)
    assert padded["labels"].shape == (8, longest)
    assert padded["labels"][0, : len(fixed[0]["labels"])].tolist() == fixed[0]["labels"]
    short = min(range(8), key=lambda i: len(fixed[i]["input_ids"]))
    assert padded["labels"][short, -1].item() == IGNORE_INDEX  # padding is not scored


def test_mlm_accuracy_counts_only_masked_positions() -> None:
    logits = torch.zeros(2, 3, 5)
    logits[0, 1, 4] = logits[1, 2, 1] = logits[0, 0, 2] = 1.0
    preds = argmax_logits(logits, None)
    labels = np.array([[IGNORE_INDEX, 4, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 3]])
    out = mlm_accuracy(EvalPrediction(predictions=preds.numpy(), label_ids=labels))
    assert out["mlm_accuracy"] == 0.5 and out["n_masked"] == 2


def _runs(mask: torch.Tensor) -> list[int]:
    """Lengths of the maximal runs of True in each row."""
    out = []
    for row in mask.tolist():
        n = 0
        for m in [*row, False]:
            if m:
                n += 1
            elif n:
                out.append(n)
                n = 0
    return out


def test_span_masking_hides_whole_kmer_runs() -> None:
    """DNA 3-mers: masked positions come in runs of >= 3 tokens, about mask_prob of the tokens."""
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), size=90)) for i in range(64)]
    cfg = ModelConfig(dna_kmer=3, max_length=128)
    from scifm.featurizers.tokenizers import prepare_inputs

    texts = prepare_inputs("dna", seqs, 3)
    tok = build_tokenizer("dna", texts, cfg)
    feats = [{"input_ids": ids} for ids in tok(texts)["input_ids"]]
    special = torch.tensor([[t in tok.all_special_ids for t in f["input_ids"]] for f in feats])
    span = MlmCollator(tok, mask_prob=0.15, seed=0, span=3)(feats)
    masked = span["labels"] != IGNORE_INDEX
    assert not (masked & special).any()
    runs = _runs(masked)
    # runs shorter than 3 only where a span is cut by the end of a sequence
    assert sum(r < 3 for r in runs) <= 0.1 * len(runs)
    assert 0.10 < masked.float().sum() / (~special).sum() < 0.18
    token = _runs(MlmCollator(tok, mask_prob=0.15, seed=0)(feats)["labels"] != IGNORE_INDEX)
    assert sum(r == 1 for r in token) > 0.5 * len(token)  # span 1: mostly lone tokens
    fixed = premask(feats, tok, 0.15, seed=1, span=3)  # the held-out masks use the same scheme
    held = _runs(torch.tensor([[lab != IGNORE_INDEX for lab in f["labels"]] for f in fixed]))
    assert sum(r < 3 for r in held) <= 0.1 * len(held)
