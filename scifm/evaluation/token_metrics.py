"""Token-level metrics with bootstrap confidence intervals over sentences / sequences.

* ``ner``: entity-level precision, recall and F1 (micro over entity types), the CoNLL
  ``conlleval`` definition as implemented by ``seqeval`` (its default mode): an entity counts as
  found only when type, start and end all match. IOB2 and IOB1 tags are both read correctly
  (an ``I-X`` after ``O`` or another type starts an entity).
* ``residue``: ``q3``, the per-residue accuracy over scored residues (label not ``None``; e.g.
  unresolved residues of a structure are not scored). With three states (H/E/C) this is the usual
  Q3 of secondary-structure prediction; the name is kept for any label set.

The confidence intervals resample whole sentences / sequences (the unit that was sampled), not
tokens. Each unit is reduced once to counts (``tp, n_pred, n_true`` or ``correct, scored``), so a
resample is a sum of rows and 1000 resamples cost milliseconds. The intervals are BCa (jackknife
over units), like the other metrics' (:mod:`scifm.evaluation.intervals`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from scifm.evaluation.intervals import bca_interval, jackknife_indices

logger = logging.getLogger(__name__)

TokenKind = Literal["ner", "residue"]
NER_METRICS: tuple[str, ...] = ("entity_f1", "entity_precision", "entity_recall")
RESIDUE_METRICS: tuple[str, ...] = ("q3",)
Tags = Sequence[Sequence[str | None]]


def primary_token_metric(kind: TokenKind) -> str:
    """``entity_f1`` (ner) or ``q3`` (residue); higher is better for both."""
    return "entity_f1" if kind == "ner" else "q3"


def _entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    from seqeval.metrics.sequence_labeling import get_entities

    return set(get_entities(list(tags)))


def entity_counts(y_true: Tags, y_pred: Tags) -> np.ndarray:
    """Per sentence ``[tp, n_pred, n_true]`` entity counts, shape ``n_sentences x 3``."""
    out = np.zeros((len(y_true), 3), dtype=np.int64)
    for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted")
        true, pred = _entities(["O" if x is None else x for x in t]), _entities(
            ["O" if x is None else x for x in p])
        out[i] = (len(true & pred), len(pred), len(true))
    return out


def residue_counts(y_true: Tags, y_pred: Tags) -> np.ndarray:
    """Per sequence ``[correct, scored]``, shape ``n_sequences x 2`` (true ``None`` = unscored)."""
    out = np.zeros((len(y_true), 2), dtype=np.int64)
    for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sequence {i}: {len(t)} true labels but {len(p)} predicted")
        scored = [(a, b) for a, b in zip(t, p, strict=True) if a is not None]
        out[i] = (sum(a == b for a, b in scored), len(scored))
    return out


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _from_counts(kind: TokenKind, sums: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from summed counts, ``B x 3`` (ner) or ``B x 2`` (residue) -> ``{name: (B,)}``."""
    if kind == "residue":
        return {"q3": _div(sums[:, 0], sums[:, 1])}
    precision, recall = _div(sums[:, 0], sums[:, 1]), _div(sums[:, 0], sums[:, 2])
    # conlleval / seqeval: F1 is 0 when precision + recall is 0 or undefined but entities exist
    f1 = _div(2 * precision * recall, precision + recall)
    f1 = np.where(np.isnan(f1) & ((sums[:, 1] + sums[:, 2]) > 0), 0.0, f1)
    return {"entity_f1": f1, "entity_precision": np.nan_to_num(precision),
            "entity_recall": np.nan_to_num(recall)}


def token_scores(kind: TokenKind, y_true: Tags, y_pred: Tags) -> dict[str, float]:
    """Point values only (no resampling); used to select checkpoints during training."""
    counts = entity_counts(y_true, y_pred) if kind == "ner" else residue_counts(y_true, y_pred)
    return {k: float(v[0]) for k, v in _from_counts(kind, counts.sum(0, keepdims=True)).items()}


def evaluate_tokens(kind: TokenKind, y_true: Tags, y_pred: Tags, n_bootstrap: int = 1000,
                    ci: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Token metrics with bootstrap (BCa) intervals over sentences / sequences.

    Parameters
    ----------
    kind
        ``ner`` (entity P/R/F1) or ``residue`` (``q3``).
    y_true, y_pred
        One list of tags per sentence / sequence, same lengths; ``None`` in ``y_true`` marks a
        position that is not scored (residues; treated as ``O`` for NER).
    n_bootstrap, ci, seed
        Resamples (0: no interval), confidence level, resampling seed.

    Returns
    -------
    dict
        ``{metric: {"value", "ci95": [lo, hi], "ci_method"}, "n": n_units, "n_scored": residues
        or true entities, "ci_level", "n_bootstrap"}``.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    counts = entity_counts(y_true, y_pred) if kind == "ner" else residue_counts(y_true, y_pred)
    n = len(counts)
    point = _from_counts(kind, counts.sum(0, keepdims=True))
    boot: dict[str, list[np.ndarray]] = {k: [] for k in point}
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(1, n * counts.shape[1]))
    done = 0
    while n and done < n_bootstrap:
        size = min(chunk, n_bootstrap - done)
        sums = counts[rng.integers(0, n, size=(size, n))].sum(axis=1)
        for k, v in _from_counts(kind, sums).items():
            boot[k].append(v)
        done += size
    jack = _jackknife(kind, counts, seed) if done else {}
    out: dict[str, Any] = {}
    for k, v in point.items():
        if not boot[k]:
            out[k] = {"value": float(v[0]), "ci95": [math.nan, math.nan], "ci_method": None}
            continue
        interval, method = bca_interval(np.concatenate(boot[k]), float(v[0]), jack[k], ci,
                                        (0.0, 1.0))
        out[k] = {"value": float(v[0]), "ci95": interval, "ci_method": method}
    out["n"] = int(n)
    out["n_scored"] = int(counts[:, 2 if kind == "ner" else 1].sum())
    out["ci_level"] = float(ci)
    out["n_bootstrap"] = int(n_bootstrap)
    return out


def _jackknife(kind: TokenKind, counts: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Metric values of the jackknife replicates (all units but one, or but one block)."""
    parts: dict[str, list[np.ndarray]] = {}
    for idx in jackknife_indices(len(counts), seed, counts.shape[1]):
        for k, v in _from_counts(kind, counts[idx].sum(axis=1)).items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()} or {
        k: np.array([]) for k in (NER_METRICS if kind == "ner" else RESIDUE_METRICS)}
