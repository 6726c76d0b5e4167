"""Tokenised data for ``transformers.Trainer`` and for inference: datasets, collator, batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                 max_length: int) -> list[list[int]]:
    """Token ids of each text (special tokens included, truncated to ``max_length``)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length,
                    return_token_type_ids=False, return_attention_mask=False)
    return enc["input_ids"]


class EncodedDataset(Dataset):
    """Inputs tokenised once, with optional float labels (``n x n_tasks``, NaN = missing)."""

    def __init__(self, input_ids: list[list[int]], labels: np.ndarray | None = None) -> None:
        self.input_ids = input_ids
        self.labels = None if labels is None else np.asarray(labels, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids = self.input_ids[i]
        item: dict[str, Any] = {"input_ids": ids, "attention_mask": [1] * len(ids)}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item


class ListDataset(Dataset):
    """Ready-made items (``{"input_ids": [...], "labels": [...]}``), e.g. token-labelled inputs
    for :class:`~transformers.DataCollatorForTokenClassification`."""

    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


@dataclass
class FloatLabelCollator(DataCollatorWithPadding):
    """:class:`~transformers.DataCollatorWithPadding` that carries float labels with NaN.

    Returns ``input_ids``/``attention_mask`` (``batch x longest``) and, when present, ``labels``
    (``batch x n_tasks`` float32).
    """

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        labels = [f["labels"] for f in features if "labels" in f]
        batch = super().__call__([{k: v for k, v in f.items() if k != "labels"} for f in features])
        if labels:
            batch["labels"] = torch.tensor(np.stack(labels), dtype=torch.float32)
        return batch


def length_sorted_batches(
    tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[Sequence[int]], batch_size: int,
    device: torch.device,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """Inference batches of inputs sorted by length (little padding).

    Yields ``(row indices, tensors)``: ``input_ids`` and ``attention_mask``, ``batch x longest``,
    on ``device``; write results back through the row indices to restore the input order.
    """
    order = np.argsort([len(i) for i in input_ids], kind="stable")
    for start in range(0, len(order), max(1, batch_size)):
        idx = order[start:start + max(1, batch_size)]
        batch = tokenizer.pad({"input_ids": [input_ids[i] for i in idx]}, return_tensors="pt",
                              return_attention_mask=True)
        yield idx, {k: v.to(device) for k, v in batch.items()
                    if k in ("input_ids", "attention_mask")}
