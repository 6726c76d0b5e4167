"""Checks of a table that do not reject rows but warn the scientist: each gives a one-line message
(logged as a WARNING, listed under ``warnings`` in ``data_report.json`` and in the report) and,
where useful, details for ``data_report.json``.

* **Repeated identifiers** (:func:`duplicate_ids`): the ``data.id_col`` column has a value on
  several rows. Rows are kept: duplicates are judged by their input, not by the identifier.
* **Conflicting duplicates** (:func:`conflicting_duplicates`, regression): identical inputs whose
  labels differ (max - min) by more than ``data.duplicate_spread_warn`` (target units), by
  default one standard deviation of that target column; the worst groups and what the
  ``data.duplicates`` policy did with them are reported.
* **Another modality fits better** (:func:`modality_hint`): more than 90% of the primary inputs
  consist (>= 90% of their letters) of the k-mer alphabet of another registered modality with a
  smaller alphabet (DNA given as ``protein``), or the current modality's alphabet fits fewer
  than half of them (protein given as ``dna``). The alphabets are the plug-ins'
  ``kmer_alphabet`` (:mod:`scifm.modalities`); a modality without one is not checked.
* **Decimal commas** (:func:`looks_like_decimal_commas`, :data:`DECIMAL_HINT`): numbers written
  ``1,25``; with ``data.decimal: ','`` they are read as numbers (:func:`apply_decimal`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DECIMAL_HINT", "apply_decimal", "conflicting_duplicates", "duplicate_ids",
           "looks_like_decimal_commas", "modality_hint"]

DECIMAL_HINT = "looks like decimal commas: pass --set data.decimal=',' (or convert)"
"""The hint added to every message about a column whose numbers are written ``1,25``."""
_DECIMAL_COMMA = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][+-]?\d+)?$")
FIT_SHARE = 0.9
"""A modality fits the inputs when this share of them is (>= this share of letters) in its
alphabet."""
_SAMPLE_INPUTS = 2000
_SAMPLE_CHARS = 2000
_SHOWN = 5
POLICY_EFFECT = {"mean": "labels averaged", "majority": "labels averaged",
                 "first": "first row's labels kept", "drop": "conflicting groups dropped",
                 "keep": "every row kept as it is"}
"""What ``data.duplicates`` does with a conflicting regression group."""


# --------------------------------------------------------------------------- decimal commas
def looks_like_decimal_commas(values: Iterable[object]) -> list[str]:
    """The cells of ``values`` written as numbers with a decimal comma (``"1,25"``)."""
    return [str(v).strip() for v in values
            if isinstance(v, str) and _DECIMAL_COMMA.match(v.strip())]


def _decimal_to_point(v: object) -> object:
    if isinstance(v, str) and _DECIMAL_COMMA.match(v.strip()):
        return v.strip().replace(".", "").replace(",", ".")
    return v


def apply_decimal(df: pd.DataFrame, columns: Sequence[str], decimal: str) -> pd.DataFrame:
    """``df`` with the decimal-comma numbers of ``columns`` rewritten with a point (``1.234,5``
    -> ``1234.5``) when ``decimal == ","``; other cells and columns are left as they are."""
    if decimal != ",":
        return df
    cols = [c for c in dict.fromkeys(columns) if c in df.columns]
    return df.assign(**{c: [_decimal_to_point(v) for v in df[c].tolist()] for c in cols})


# --------------------------------------------------------------------------- repeated ids
def duplicate_ids(ids: Sequence[str], row_ids: np.ndarray,
                  column: str) -> tuple[str, dict[str, Any]] | None:
    """Message and details when identifiers repeat (blank ids are ignored); None otherwise."""
    rows: dict[str, list[int]] = {}
    for i, v in enumerate(ids):
        if v.strip():
            rows.setdefault(v, []).append(int(row_ids[i]))
    repeated = {k: r for k, r in rows.items() if len(r) > 1}
    if not repeated:
        return None
    n_rows = sum(len(r) for r in repeated.values())
    examples = [{"id": k, "rows": r[:10]} for k, r in list(repeated.items())[:_SHOWN]]
    shown = ", ".join(f"{e['id']!r} (rows {', '.join(map(str, e['rows'][:3]))}"
                      f"{', ...' if len(e['rows']) > 3 else ''})" for e in examples[:3])
    msg = (f"id column {column!r} has {len(repeated)} repeated value(s) on {n_rows} rows, e.g. "
           f"{shown}; the rows are kept (duplicates are judged by the input, not the id)")
    return msg, {"column": column, "n_ids": len(repeated), "n_rows": n_rows,
                 "examples": examples}


# --------------------------------------------------------------------------- conflicting labels
def _result(values: np.ndarray, policy: str) -> str:
    if policy in ("mean", "majority"):
        return f"averaged to {float(np.mean(values)):.4g}"
    return {"first": f"kept first ({float(values[0]):.4g})", "drop": "group dropped",
            "keep": "all rows kept"}.get(policy, policy)


def conflicting_duplicates(groups: Sequence[Sequence[int]], labels: Sequence[np.ndarray],
                           y: np.ndarray, targets: Sequence[str], inputs: Sequence[str],
                           row_ids: np.ndarray, policy: str,
                           threshold: float | None) -> tuple[list[str], dict[str, Any]] | None:
    """Regression duplicate groups whose labels spread over the threshold.

    Parameters
    ----------
    groups
        Positions of each duplicate group's rows.
    labels
        Each group's labels before merging (``len(group) x n_tasks``, NaN = missing).
    y
        Labels of every kept row before merging (the default threshold is their std).
    targets, inputs, row_ids
        Target names; primary input and file row number of every row.
    policy, threshold
        ``data.duplicates`` and ``data.duplicate_spread_warn`` (None: one std per target).

    Returns
    -------
    (messages, details) or None
        One WARNING line per target with groups over its threshold, and the details for
        ``data_report.json`` (thresholds, counts, the worst groups and the policy applied).
    """
    thresholds = {}
    for j, t in enumerate(targets):
        col = y[:, j][np.isfinite(y[:, j])]
        std = float(col.std(ddof=1)) if col.size > 1 else 0.0
        thresholds[t] = float(threshold) if threshold is not None else std
    over: list[dict[str, Any]] = []
    for g, lab in zip(groups, labels, strict=True):
        for j, t in enumerate(targets):
            v = lab[:, j][np.isfinite(lab[:, j])]
            spread = float(v.max() - v.min()) if v.size > 1 else 0.0
            if spread > thresholds[t] and spread > 0:
                over.append({"target": t, "input": inputs[g[0]][:100],
                             "rows": [int(row_ids[i]) for i in g[:10]],
                             "values": [float(x) for x in v[:10]], "spread": spread,
                             "result": _result(v, policy)})
    if not over:
        return None
    over.sort(key=lambda d: -d["spread"] / max(thresholds[d["target"]], 1e-300))
    rule = ("data.duplicate_spread_warn" if threshold is not None
            else "one standard deviation of the target; set data.duplicate_spread_warn")
    counts = Counter(d["target"] for d in over)
    messages = []
    for t, k in counts.items():
        w = next(d for d in over if d["target"] == t)
        values = ", ".join(f"{x:.4g}" for x in w["values"][:5])
        messages.append(
            f"{k} duplicate group(s) of '{t}' disagree by more than {thresholds[t]:.3g} ({rule}); "
            f"worst: {w['input'][:40]!r} rows {', '.join(map(str, w['rows'][:5]))}: {values} "
            f"(spread {w['spread']:.3g}); policy data.duplicates={policy}: "
            f"{POLICY_EFFECT.get(policy, policy)}")
    return messages, {"threshold": thresholds, "threshold_rule": rule, "policy": policy,
                      "policy_effect": POLICY_EFFECT.get(policy, policy),
                      "n_groups_over": dict(counts), "worst": over[:10]}


# --------------------------------------------------------------------------- modality
def _share_fitting(letters: list[Counter[str]], alphabet: frozenset[str]) -> float:
    fit = 0
    for c in letters:
        total = sum(c.values())
        inside = sum(k for ch, k in c.items() if ch in alphabet)
        fit += inside >= FIT_SHARE * total
    return fit / len(letters)


def modality_hint(inputs: Sequence[str], modality: str, column: str = "") -> str | None:
    """A warning when the inputs fit another registered modality's alphabet better (see the
    module docstring); None when they fit ``modality`` or it has no alphabet."""
    from scifm.config.registry import MODALITIES

    current = MODALITIES.get(modality)
    if current.kmer_alphabet is None:
        return None
    letters = [Counter(ch for ch in s[:_SAMPLE_CHARS].upper() if ch.isalpha())
               for s in inputs[:_SAMPLE_INPUTS]]
    letters = [c for c in letters if c]
    if len(letters) < 5:
        return None
    own_alphabet = frozenset(current.kmer_alphabet[0])
    own = _share_fitting(letters, own_alphabet)
    best = None
    for spec in MODALITIES:
        if spec.name == modality or spec.kmer_alphabet is None:
            continue
        alphabet = frozenset(spec.kmer_alphabet[0])
        share = _share_fitting(letters, alphabet)
        better = len(alphabet) < len(own_alphabet) or own < 0.5
        if share > FIT_SHARE and better and (best is None or len(alphabet) < len(best[1])):
            best = (spec, alphabet, share)
    if best is None:
        return None
    spec, alphabet, share = best
    where = f" in {column!r}" if column else ""
    return (f"{share:.0%} of the inputs{where} are written in the {spec.label} alphabet "
            f"({''.join(sorted(alphabet))}) although data.modality is {current.name!r}: "
            f"pass --modality {spec.name} if they are {spec.label} sequences")
