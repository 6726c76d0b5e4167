"""Explanations of a trained model's predictions: per-unit attributions, their faithfulness and
the global view (which substructures / k-mers / words drive predictions across a data set).

Attributions are occlusion attributions (:mod:`scifm.trust.occlusion`) computed through the
model's ``predict``, so they apply to every model family; their faithfulness is the deletion test
of :mod:`scifm.trust.faithfulness`. The page is drawn by :mod:`scifm.trust.explain_page`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scifm.data.datapoints import Datapoint
from scifm.errors import ConfigError
from scifm.tasks import TaskSpec
from scifm.trust.faithfulness import deletion_test
from scifm.trust.occlusion import Output, Units, occlude, sampled_occlusion

Attribute = Callable[[Output, Units, list, "np.ndarray | None"], list[np.ndarray]]
"""``attribute(output, units, records, predicted) -> per-unit attributions of each input``."""

__all__ = ["METHODS", "Explanation", "explain_records", "global_view", "integrated_gradients",
           "target_index"]

METHODS = {
    "occlusion": "occlusion: attribution = f(input) - f(input with the unit masked)",
    "sampling": "sampled occlusion (RISE): random masks hiding the --fraction of the units; "
                "attribution = mean f(unit kept) - mean f(unit hidden)",
    "gradients": "Integrated Gradients (Captum LayerIntegratedGradients on the input "
                 "embeddings, baseline: padding tokens, 32 steps), token attributions summed "
                 "into the units they overlap (transformers only)",
    "shap": "TreeSHAP (LightGBM's exact pred_contrib) of the fingerprint bits in the raw "
            "output (log-odds / target units), each bit's value shared among the atoms of its "
            "environments (LightGBM on ECFP features only)",
}
"""Attribution methods by name, with what ``explain.json`` says of each. Masking: atoms ->
dummy atom '*', residues -> a neutral letter (N / X) or deleted, words -> deleted; every masked
input is re-predicted by the model."""


@dataclass
class Explanation:
    """Attributions of a set of inputs and their faithfulness."""

    records: list[Datapoint | str]
    """The explained (validated, canonical) inputs."""
    unit: str
    """What a unit is: ``atom``, ``residue`` or ``word``."""
    labels: list[list[str]]
    """Per input, the units' labels (atom symbols, residues, words)."""
    contexts: list[list[str]]
    """Per input and unit, what the global view counts (radius-1 environment, 3-mer, word)."""
    attributions: list[np.ndarray]
    """Per input, one occlusion attribution per unit (``f(input) - f(unit masked)``)."""
    base: np.ndarray
    """The explained output of each unmasked input (shape ``n``)."""
    explained: str
    """What the output is, in words (``probability of p_np = 1``)."""
    method: str = "occlusion"
    """The attribution method (a key of :data:`METHODS`)."""
    target: int = 0
    """Column of the explained target."""
    faithfulness: dict[str, Any] = field(default_factory=dict)
    """:func:`scifm.trust.faithfulness.deletion_test`'s result."""


def target_index(task: TaskSpec, target: str | None) -> int:
    """Column of the explained target (default: the first); a clear error for an unknown one."""
    if target is None:
        return 0
    if target not in task.target_cols:
        raise ConfigError(f"--target {target!r} is not a target of this run "
                          f"(targets: {', '.join(task.target_cols)})")
    return task.target_cols.index(target)


def _described(task: TaskSpec, target: int) -> str:
    """The explained output in words."""
    col = task.target_cols[target]
    if task.task_type == "binary":
        positive = task.classes[1] if len(task.classes) == 2 else "1"
        return f"probability of {col} = {positive}"
    if task.task_type == "multiclass":
        return f"probability of the predicted class of {col}"
    return f"predicted {col}"


def explain_records(predict: Callable[[list], np.ndarray], task: TaskSpec, units: Units,
                    records: Sequence[Datapoint | str], target: int = 0, fraction: float = 0.2,
                    n_random: int = 5, seed: int = 0, n_bootstrap: int = 1000,
                    method: str = "occlusion", n_samples: int = 128,
                    attribute: Attribute | None = None) -> Explanation:
    """Attributions of every unit of ``records`` and the deletion test on them.

    Parameters
    ----------
    predict
        ``Predictor.predict`` of the model explained.
    task
        The model's task (what its predictions mean).
    units
        How inputs split into units (:func:`scifm.trust.occlusion.units_for`).
    records
        Validated, canonical inputs.
    target
        Column of the explained target (binary / regression).
    fraction, n_random, seed, n_bootstrap
        The deletion test's settings (:func:`scifm.trust.faithfulness.deletion_test`).
    method, n_samples
        ``occlusion`` (one unit at a time), ``sampling`` (``n_samples`` random masks hiding
        ``fraction`` of the units, :func:`scifm.trust.occlusion.sampled_occlusion`) or
        ``gradients`` / ``shap`` (``attribute``: :func:`integrated_gradients` of a
        transformer, :func:`scifm.trust.tree_shap.tree_shap` of a fingerprint LightGBM).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}; choose "
                          f"{' or '.join(METHODS)}")
    records = list(records)
    output = Output(task, target)
    pred = np.asarray(predict(records), dtype=float).reshape(len(records), -1)
    predicted = np.argmax(pred, axis=1) if task.task_type == "multiclass" else None
    base = output(pred, predicted)
    if method in ("gradients", "shap"):
        if attribute is None:
            raise ConfigError(f"--method {method} needs "
                              f"{'a transformer' if method == 'gradients' else 'a LightGBM'} "
                              "model")
        attributions = attribute(output, units, records, predicted)
    elif method == "sampling":
        attributions = sampled_occlusion(predict, output, units, records, predicted,
                                         fraction=fraction, n_samples=n_samples, seed=seed)
    else:
        attributions = occlude(predict, output, units, records, base, predicted)
    faith = deletion_test(predict, output, units, records, attributions, base, predicted,
                          fraction=fraction, n_random=n_random, seed=seed,
                          n_bootstrap=n_bootstrap)
    return Explanation(records=records, unit=units.kind,
                       labels=[units.split(str(r)) for r in records],
                       contexts=[units.contexts(str(r)) for r in records],
                       attributions=attributions, base=base,
                       explained=_described(task, target), method=method, target=target,
                       faithfulness=faith)


def global_view(expl: Explanation, top_n: int = 15, min_count: int = 2) -> dict[str, Any]:
    """The contexts (substructures, k-mers, words) with the largest and smallest mean attribution
    over the data set, among those seen at least ``min_count`` times (fewer when none is).

    Returns ``{"unit", "min_count", "positive": [...], "negative": [...]}``, each entry
    ``{"context", "mean", "count"}``.
    """
    sums: dict[str, list[float]] = defaultdict(list)
    for ctx, attr in zip(expl.contexts, expl.attributions, strict=True):
        if len(ctx) != len(attr):
            continue
        for c, a in zip(ctx, attr, strict=True):
            sums[c].append(float(a))
    rows = [{"context": c, "mean": float(np.mean(v)), "count": len(v)} for c, v in sums.items()]
    if any(r["count"] >= min_count for r in rows):
        rows = [r for r in rows if r["count"] >= min_count]
    else:
        min_count = 1
    rows.sort(key=lambda r: (-r["mean"], r["context"]))
    positive = [r for r in rows if r["mean"] > 0][:top_n]
    negative = [r for r in reversed(rows) if r["mean"] < 0][:top_n]
    return {"unit": expl.unit, "min_count": min_count, "positive": positive,
            "negative": negative}


def _to_units(token_attr: np.ndarray, offsets: list[tuple[int, int]],
              spans: list[tuple[int, int]]) -> np.ndarray:
    """Token attributions summed into the unit spans they overlap (a token over several units
    is shared equally; special tokens, with empty offsets, are dropped)."""
    out = np.zeros(len(spans))
    for a, (s, e) in zip(token_attr, offsets, strict=True):
        hit = [u for u, (us, ue) in enumerate(spans) if e > s and s < ue and us < e]
        for u in hit:
            out[u] += a / len(hit)
    return out


def integrated_gradients(predictor: Any, n_steps: int = 32) -> Attribute:
    """Integrated Gradients of a transformer predictor (Captum ``LayerIntegratedGradients`` on
    the input embeddings; baseline: every non-special token replaced by the padding token).

    Token attributions go to the units whose character spans they overlap (the primary string
    is what the tokenizer reads; tokens past ``max_length`` are not seen and get nothing).

    Raises
    ------
    ConfigError
        The predictor is not a transformer, or Captum is not installed.
    """
    try:
        import torch
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise ConfigError("--method gradients needs Captum: pip install captum") from None
    model, tok = getattr(predictor, "model_", None), getattr(predictor, "tokenizer_", None)
    if model is None or tok is None or getattr(predictor, "dna_kmer_", 1) > 1:
        raise ConfigError("--method gradients explains transformer runs (character or word "
                          "tokens); use --method occlusion for this model")
    task, device = predictor.task, predictor.device
    mean = getattr(predictor, "target_mean_", None)
    std = getattr(predictor, "target_std_", None)

    def forward(ids: Any, mask: Any, cls: Any, target: int) -> Any:
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        if task.task_type == "binary":
            return torch.sigmoid(logits[:, target])
        if task.task_type == "multiclass":
            return torch.softmax(logits, -1).gather(1, cls[:, None])[:, 0]
        scale = float(std[target]) if std is not None else 1.0
        return logits[:, target] * scale + (float(mean[target]) if mean is not None else 0.0)

    def attribute(output: Output, units: Units, records: list, predicted: Any) -> list:
        model.eval()
        lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
        out = []
        for r, rec in enumerate(records):
            text, spans = str(rec), units.spans(str(rec))
            enc = tok(text, truncation=True, max_length=predictor.max_length_,
                      return_offsets_mapping=True, return_tensors="pt",
                      return_special_tokens_mask=True, return_token_type_ids=False)
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            special = enc["special_tokens_mask"].to(device).bool()
            base = torch.where(special, ids, torch.full_like(ids, tok.pad_token_id or 0))
            cls = torch.tensor([int(predicted[r]) if predicted is not None else 0], device=device)
            attr = lig.attribute(ids, baselines=base, additional_forward_args=(mask, cls,
                                 output.target), n_steps=n_steps, internal_batch_size=n_steps)
            token = attr.sum(-1)[0].detach().float().cpu().numpy()
            offsets = [tuple(o) for o in enc["offset_mapping"][0].tolist()]
            out.append(_to_units(token, offsets, spans) if spans else np.zeros(
                len(units.split(text))))
        return out

    return attribute
