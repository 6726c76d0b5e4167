"""Tokenised sequence data for ``transformers.Trainer``: dataset and padding collator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import DataCollatorWithPadding


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
