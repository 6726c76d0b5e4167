"""Faithfulness of attributions: does deleting the top-attributed units move the prediction more
than deleting as many units chosen at random?

For every input with ``n`` units, ``k = max(1, round(fraction * n))`` units are masked twice over
(the masking of :mod:`scifm.trust.occlusion`):

* **top**: the ``k`` units with the largest attribution towards the prediction (binary: towards
  the predicted class, i.e. largest attribution when ``p >= 0.5``, most negative otherwise;
  multiclass: towards the predicted class; regression: largest ``|attribution|``);
* **random**: ``k`` units drawn uniformly without replacement, ``n_random`` times (seeded),
  the changes averaged per input.

Reported: the mean ``|delta prediction|`` of each over the inputs with their BCa bootstrap
intervals (:func:`scifm.evaluation.intervals.statistic_interval`, resampling inputs) and the
ratio ``mean top / mean random`` with its interval (paired resampling). A ratio well above 1
means the attributions point at what the model uses; the issue's target is ``>= 2`` at 20%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scifm.data.datapoints import Datapoint
from scifm.evaluation.intervals import statistic_interval
from scifm.trust.occlusion import Output, Units, predict_masked

__all__ = ["deletion_test", "ranking"]


def ranking(attributions: np.ndarray, base: float, output: Output) -> np.ndarray:
    """Units ordered by attribution towards the prediction, strongest first (stable)."""
    a = np.asarray(attributions, dtype=float)
    if output.task.task_type == "regression":
        key = np.abs(a)
    elif output.task.task_type == "binary" and base < 0.5:
        key = -a
    else:
        key = a
    return np.argsort(-key, kind="stable")


def _deletions(units: Units, records: Sequence[Datapoint | str], attributions: list[np.ndarray],
               base: np.ndarray, output: Output, fraction: float, n_random: int,
               rng: np.random.Generator) -> tuple[list[int], list[list[str]]]:
    """The inputs with units and, per input, the top-k masked string then ``n_random`` random."""
    rows, variants = [], []
    for r, (rec, attr) in enumerate(zip(records, attributions, strict=True)):
        n = len(attr)
        if n == 0:
            continue
        k = max(1, int(round(fraction * n)))
        primary = str(rec)
        top = ranking(attr, float(base[r]), output)[:k]
        draws = [rng.choice(n, size=k, replace=False) for _ in range(n_random)]
        rows.append(r)
        variants.append([units.mask(primary, top)] + [units.mask(primary, d) for d in draws])
    return rows, variants


def deletion_test(predict: Callable[[list], np.ndarray], output: Output, units: Units,
                  records: Sequence[Datapoint | str], attributions: list[np.ndarray],
                  base: np.ndarray, predicted: np.ndarray | None = None, fraction: float = 0.2,
                  n_random: int = 5, seed: int = 0, n_bootstrap: int = 1000) -> dict[str, Any]:
    """Top-``fraction`` deletion versus random deletion of as many units.

    Parameters
    ----------
    predict
        ``Predictor.predict``.
    output
        The explained output.
    units
        How inputs split into units and how a unit is masked.
    records, attributions, base
        The inputs, their per-unit attributions and the explained output of the unmasked inputs.
    predicted
        Multiclass: the class explained per input.
    fraction, n_random, seed, n_bootstrap
        Share of units deleted, random draws per input, seed of draws and bootstrap, resamples.

    Returns
    -------
    dict
        ``fraction``, ``n_inputs``, ``n_random``, ``top`` / ``random`` / ``ratio`` (each
        ``{"value", "ci95", "ci_method"}``), ``per_input`` (``top`` and ``random`` changes).
    """
    rng = np.random.default_rng(seed)
    rows, variants = _deletions(units, records, attributions, base, output, fraction, n_random,
                                rng)
    sub = None if predicted is None else np.asarray(predicted)[rows]
    outs = predict_masked(predict, output, [records[r] for r in rows], variants, sub)
    top = np.array([abs(base[r] - o[0]) for r, o in zip(rows, outs, strict=True)])
    rand = np.array([np.mean(np.abs(base[r] - o[1:])) for r, o in zip(rows, outs, strict=True)])

    def mean(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda idx: values[idx].mean(axis=-1)  # idx: resamples x rows

    def ratio(idx: np.ndarray) -> np.ndarray:
        num, den = top[idx].mean(axis=-1), rand[idx].mean(axis=-1)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    n, positive = len(rows), (0.0, math.inf)
    return {
        "fraction": fraction, "n_inputs": n, "n_random": n_random, "seed": seed,
        "top": statistic_interval(mean(top), n, n_bootstrap, seed=seed, bounds=positive),
        "random": statistic_interval(mean(rand), n, n_bootstrap, seed=seed, bounds=positive),
        "ratio": statistic_interval(ratio, n, n_bootstrap, seed=seed, bounds=positive),
        "per_input": {"rows": rows, "top": top.tolist(), "random": rand.tolist()},
    }
