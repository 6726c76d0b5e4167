"""Structural surgery on BERT-like encoders: attention heads and FFN neurons cut out, layers
dropped, and a head-pruned folder read back.

Used by :mod:`scifm.compression.pruning` (structured pruning) and
:mod:`scifm.compression.distill` (a student made of every other teacher layer). Only ``torch``,
``transformers`` and :mod:`scifm.errors` are imported here, so :mod:`scifm.models.safeload` may
call :func:`load_head_pruned` without an import cycle.

Why the heads are cut by hand: ``transformers`` 5 removed ``PreTrainedModel.prune_heads`` and the
``pruned_heads`` config field, and a BERT config cannot express fewer heads at the same hidden
size (the head width is ``hidden_size / num_attention_heads``). So :func:`prune_heads` slices the
query / key / value rows and the output projection's columns of the removed heads (the attention
forward infers the number of heads from the projection width) and records them as
``config.pruned_heads`` (``{layer: [head, ...]}``, as transformers 4 did); :func:`load_head_pruned`
builds the model from that config, cuts the same heads, then loads the safetensors weights
strictly. FFN neurons need no such help: the same number is kept in every layer, so
``config.intermediate_size`` describes the sliced model and ``from_pretrained`` reloads it.

Importance (data-free, as the L1 criterion of structured magnitude pruning): a head's importance
is the L1 norm of its columns of the attention output projection, a neuron's the L1 norm of its
column of the FFN output projection — how much each writes into the residual stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from scifm.errors import ConfigError

__all__ = ["drop_layers", "encoder_layers", "ffn_importance", "head_importance",
           "load_head_pruned", "lowest", "present_heads", "prune_ffn", "prune_heads",
           "recorded_pruned_heads"]


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's layer list of a BERT-like model (BERT, RoBERTa / ChemBERTa, ESM, ...).

    Raises
    ------
    ConfigError
        The model has no ``base_model.encoder.layer`` list of BERT-style layers.
    """
    layers = getattr(getattr(getattr(model, "base_model", model), "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not len(layers) or not all(
            hasattr(lay, "attention") and hasattr(lay, "intermediate") for lay in layers):
        raise ConfigError(f"{type(model).__name__} is not a BERT-like encoder (no "
                         "encoder.layer[i].attention / .intermediate): cannot cut its structure")
    return layers


def _head_width(layer: nn.Module) -> int:
    return int(layer.attention.self.attention_head_size)


def head_importance(model: nn.Module) -> torch.Tensor:
    """``n_layers x n_heads`` L1 norms of each head's columns of the attention output projection
    (the heads present, in their order; call it before any head is cut)."""
    rows = []
    for layer in encoder_layers(model):
        d = _head_width(layer)
        w = layer.attention.output.dense.weight.detach().abs()  # hidden x (heads * d)
        rows.append(w.reshape(w.shape[0], -1, d).sum(dim=(0, 2)))
    return torch.stack(rows)


def ffn_importance(model: nn.Module) -> torch.Tensor:
    """``n_layers x intermediate`` L1 norms of each FFN neuron's output-projection column."""
    return torch.stack([lay.output.dense.weight.detach().abs().sum(0)
                        for lay in encoder_layers(model)])


def lowest(scores: torch.Tensor, n: int) -> list[int]:
    """Indices of the ``n`` lowest ``scores`` (ties: the lower index first), sorted."""
    order = sorted(range(len(scores)), key=lambda i: (float(scores[i]), i))
    return sorted(order[:n])


def _keep_rows(linear: nn.Linear, keep: torch.Tensor, dim: int) -> None:
    """Keep only the output (``dim=0``) or input (``dim=1``) units ``keep`` of ``linear``."""
    linear.weight = nn.Parameter(linear.weight.detach().index_select(dim, keep).clone())
    if dim == 0 and linear.bias is not None:
        linear.bias = nn.Parameter(linear.bias.detach().index_select(0, keep).clone())
    if dim == 0:
        linear.out_features = len(keep)
    else:
        linear.in_features = len(keep)


def prune_heads(model: nn.Module, heads: Mapping[int, Sequence[int]]) -> None:
    """Cut ``heads`` (``{layer: [original head index, ...]}``) out of ``model`` in place and
    record them in ``model.config.pruned_heads`` (original indices, merged with earlier cuts)."""
    layers = encoder_layers(model)
    done = {int(k): list(v) for k, v in (getattr(model.config, "pruned_heads", None) or {}).items()}
    for i, cut in heads.items():
        cut = sorted(set(int(h) for h in cut) - set(done.get(int(i), [])))
        if not cut:
            continue
        att = layers[int(i)].attention
        d = _head_width(layers[int(i)])
        present = [h for h in range(model.config.num_attention_heads)
                   if h not in done.get(int(i), [])]
        kept = [pos for pos, h in enumerate(present) if h not in cut]
        if not kept:
            raise ValueError(f"layer {i}: cannot cut every attention head")
        index = torch.tensor([pos * d + j for pos in kept for j in range(d)])
        for name in ("query", "key", "value"):
            _keep_rows(getattr(att.self, name), index, 0)
        _keep_rows(att.output.dense, index, 1)
        att.self.num_attention_heads = len(kept)
        att.self.all_head_size = len(kept) * d
        done[int(i)] = sorted(done.get(int(i), []) + cut)
    model.config.pruned_heads = {str(k): v for k, v in sorted(done.items()) if v}


def present_heads(model: nn.Module) -> list[list[int]]:
    """Per layer, the original indices of the heads still present (in order)."""
    cut = recorded_pruned_heads(model.config)
    return [[h for h in range(model.config.num_attention_heads) if h not in cut.get(i, [])]
            for i in range(len(encoder_layers(model)))]


def recorded_pruned_heads(config: Any) -> dict[int, list[int]]:
    """``config.pruned_heads`` as ``{layer: [head, ...]}`` (empty when none were cut)."""
    return {int(k): [int(h) for h in v]
            for k, v in (getattr(config, "pruned_heads", None) or {}).items() if v}


def prune_ffn(model: nn.Module, keep: int) -> None:
    """Keep the ``keep`` most important FFN neurons of every layer (:func:`ffn_importance`) and
    set ``config.intermediate_size`` to ``keep``."""
    scores = ffn_importance(model)
    for layer, s in zip(encoder_layers(model), scores, strict=True):
        cut = set(lowest(s, len(s) - keep))
        index = torch.tensor([j for j in range(len(s)) if j not in cut])
        _keep_rows(layer.intermediate.dense, index, 0)
        _keep_rows(layer.output.dense, index, 1)
    model.config.intermediate_size = int(keep)


def drop_layers(model: nn.Module, keep: Sequence[int]) -> None:
    """Keep only the encoder layers ``keep`` (in that order) and set ``num_hidden_layers``."""
    layers = encoder_layers(model)
    kept = nn.ModuleList([layers[i] for i in keep])
    model.base_model.encoder.layer = kept
    model.config.num_hidden_layers = len(kept)
    pruned = recorded_pruned_heads(model.config)
    if pruned:
        model.config.pruned_heads = {str(new): pruned[old] for new, old in enumerate(keep)
                                     if old in pruned}


def load_head_pruned(model_class: Any, folder: Path, config: Any = None,
                     ignore_mismatched_sizes: bool = False) -> nn.Module:
    """A model saved with cut heads (``config.pruned_heads``): built from its config, the same
    heads cut, then ``model.safetensors`` loaded strictly (with ``ignore_mismatched_sizes``, a
    tensor whose shape differs, e.g. a new task head, keeps its fresh initialisation).

    Raises
    ------
    ValueError
        The weights do not fit the pruned model (missing, unexpected or mis-shaped tensors).
    """
    folder = Path(folder)
    if config is None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    heads = recorded_pruned_heads(config)
    model = model_class.from_config(config)
    model.config.pruned_heads = {}  # built with every head: cut them again
    prune_heads(model, heads)
    state = load_file(str(folder / "model.safetensors"))
    own = model.state_dict()
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    if prefix != "." and not any(k.startswith(prefix) for k in own):  # a bare encoder (AutoModel)
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    fresh = {k for k, v in state.items() if k in own and own[k].shape != v.shape} \
        if ignore_mismatched_sizes else set()
    state = {k: v for k, v in state.items() if k not in fresh}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in fresh]
    if missing or unexpected:
        raise ValueError(f"the weights in {folder} do not fit its head-pruned config: missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()
