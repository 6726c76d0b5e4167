"""From a raw table to a clean dataset: validated inputs, encoded labels, resolved duplicates.

Every input row ends up either in :attr:`CleanResult.dataset` or in :attr:`CleanResult.rejected`
(with a reason), so ``len(dataset) + len(rejected) == len(df)`` always holds.

Order of the checks: invalid input -> all labels missing -> duplicates of an identical canonical
input (resolved by ``DataConfig.duplicates``):

* ``mean`` / ``majority``: regression labels are averaged (``nanmean`` per task); class labels
  take the per-task majority; a tie makes that task's label missing (``NaN``) and the group is
  dropped if no label is left.
* ``first``: the first row's labels are kept.
* ``drop``: groups whose labels differ are dropped entirely; agreeing groups keep one row.
* ``keep``: every row stays (to reproduce a published split); duplicates are only reported.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.io import require_columns
from scifm.data.validate import infer_task, reason_category, validate_inputs
from scifm.errors import DataError
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

PARSE_ERROR_COL = "_parse_error"


@dataclass
class CleanDataset:
    """Validated, canonicalised, de-duplicated rows and their encoded labels."""

    inputs: list[str]
    """Canonical inputs (what models see)."""
    raw_inputs: list[str]
    """The inputs as written in the file."""
    ids: list[str]
    """Row identifiers (``id_col`` or the row number)."""
    row_ids: np.ndarray
    """0-based row number of each row in the input file."""
    y: np.ndarray
    """``n x n_tasks`` float labels, NaN = missing (encoding of :mod:`scifm.tasks`)."""
    task: TaskSpec
    modality: str = "smiles"
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The other columns of the kept rows (aligned with ``inputs``; e.g. a predefined split)."""

    def __len__(self) -> int:
        return len(self.inputs)

    def to_frame(self) -> pd.DataFrame:
        """``row_id``, ``id``, ``input`` and the targets as decoded values (class names)."""
        df = pd.DataFrame({"row_id": self.row_ids, "id": self.ids, "input": self.inputs})
        for j, col in enumerate(self.task.target_cols):
            v = self.y[:, j]
            if self.task.is_classification:
                names = np.asarray(self.task.classes or ["0", "1"], dtype=object)
                dec = np.full(len(v), None, dtype=object)
                ok = ~np.isnan(v)
                dec[ok] = names[v[ok].astype(int)]
                df[col] = dec
            else:
                df[col] = v
        return df


@dataclass
class CleanResult:
    """Outcome of :func:`clean_table`."""

    dataset: CleanDataset
    rejected: pd.DataFrame
    """One row per input row not in the dataset: ``row_id``, ``id``, ``input``, ``reason``."""
    report: dict[str, Any]
    """JSON-able summary (counts, reasons, duplicates, task, target statistics)."""


def _row_ids(df: pd.DataFrame) -> np.ndarray:
    idx = df.index
    if pd.api.types.is_integer_dtype(idx) and idx.is_unique and (len(idx) == 0 or idx.min() >= 0):
        return np.asarray(idx, dtype=np.int64)
    return np.arange(len(df), dtype=np.int64)


def _as_str(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v)


def _resolve_group(yg: np.ndarray, classification: bool,
                   policy: str) -> tuple[np.ndarray | None, bool, float]:
    """Merged labels of a duplicate group (None = drop group), whether it conflicts, spread."""
    merged = yg[0].copy()
    conflict = False
    spread = 0.0
    for j in range(yg.shape[1]):
        col = yg[:, j][~np.isnan(yg[:, j])]
        if col.size == 0:
            continue
        if classification:
            counts = Counter(col.tolist()).most_common()
            differs = len(counts) > 1
            tie = differs and counts[0][1] == counts[1][1]
            value = np.nan if tie else counts[0][0]
        else:
            ptp = float(col.max() - col.min())
            differs = ptp > 1e-9 * max(1.0, float(np.abs(col).max()))
            spread = max(spread, ptp)
            value = float(col.mean())
        conflict |= differs
        if policy in ("mean", "majority", "drop"):
            merged[j] = value
    if policy == "drop" and conflict:
        return None, True, spread
    if np.isnan(merged).all():
        return None, conflict, spread
    return merged, conflict, spread


def _target_stats(y: np.ndarray, task: TaskSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j, col in enumerate(task.target_cols):
        v = y[:, j][~np.isnan(y[:, j])]
        if task.is_classification:
            names = task.classes or ["0", "1"]
            counts = np.bincount(v.astype(int), minlength=len(names))
            class_counts = dict(zip(names, counts.tolist(), strict=True))
            out[col] = {"n": int(v.size), "class_counts": class_counts}
        elif v.size:
            q = np.quantile(v, [0.25, 0.5, 0.75])
            out[col] = {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=1))
                        if v.size > 1 else 0.0, "min": float(v.min()), "q25": float(q[0]),
                        "median": float(q[1]), "q75": float(q[2]), "max": float(v.max())}
        else:
            out[col] = {"n": 0}
    return out


def clean_table(df: pd.DataFrame, cfg: DataConfig, source: str = "",
                task: TaskSpec | None = None) -> CleanResult:
    """Validate inputs, encode labels, resolve duplicates; account for every row.

    Parameters
    ----------
    df
        The raw table (e.g. from :func:`scifm.data.io.read_table`); its integer index is taken
        as the row number in the file.
    cfg
        Input / target / id columns, modality, task and duplicate policy.
    source
        File name used in error messages.
    task
        A known task (type and class order), e.g. a trained model's when evaluating new data;
        default: inferred from the labels.

    Returns
    -------
    CleanResult

    Raises
    ------
    DataError
        No target columns, a missing column, or no valid row left.
    ConfigError
        The task cannot be inferred or contradicts the labels.
    """
    where = f" in {source}" if source else ""
    if not cfg.target_cols:
        raise DataError(f"no target columns configured; set data.target_cols (columns{where}: "
                        f"{', '.join(map(str, df.columns[:20]))})")
    cols = [cfg.input_col, *cfg.target_cols] + ([cfg.id_col] if cfg.id_col else [])
    require_columns(df, cols, source)
    n = len(df)
    row_ids = _row_ids(df)
    raw = df[cfg.input_col].tolist()
    raw_str = [_as_str(v) for v in raw]
    ids = ([_as_str(v) for v in df[cfg.id_col].tolist()] if cfg.id_col
           else [str(r) for r in row_ids])

    canon, reasons = validate_inputs(raw, cfg.modality, cfg)
    if PARSE_ERROR_COL in df.columns:
        for i, err in enumerate(df[PARSE_ERROR_COL].tolist()):
            if isinstance(err, str) and err:
                canon[i], reasons[i] = None, err
    valid = np.array([r is None for r in reasons], dtype=bool)

    task, y, label_info = infer_task(df, cfg, valid, fixed=task)
    has_label = ~np.isnan(y).all(axis=1)
    for i in np.flatnonzero(valid & ~has_label):
        reasons[i] = "all labels missing"
    keep = valid & has_label

    # duplicates of identical canonical inputs
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(keep):
        groups.setdefault(canon[i], []).append(int(i))  # type: ignore[arg-type]
    dup_groups = [g for g in groups.values() if len(g) > 1]
    n_conflicting, max_spread = 0, 0.0
    policy = cfg.duplicates
    for g in dup_groups:
        merged, conflict, spread = _resolve_group(y[g], task.is_classification, policy)
        n_conflicting += conflict
        max_spread = max(max_spread, spread)
        first = row_ids[g[0]]
        if policy == "keep":  # reported (and audited for leakage), never merged
            continue
        if merged is None:
            why = ("conflicting duplicate labels" if policy == "drop"
                   else "conflicting duplicate labels (tie)")
            members = ", ".join(str(row_ids[i]) for i in g[:10]) + (", ..." if len(g) > 10
                                                                    else "")
            for i in g:
                reasons[i] = f"{why}: group of {len(g)} rows ({members}) dropped"
                keep[i] = False
            continue
        y[g[0]] = merged
        how = {"first": "kept first", "drop": "labels agree"}.get(policy, f"merged: {policy}")
        for i in g[1:]:
            reasons[i] = f"duplicate of row {first} ({how})"
            keep[i] = False

    pos = np.flatnonzero(keep)
    rej = np.flatnonzero(~keep)
    rejected = pd.DataFrame({
        "row_id": row_ids[rej], "id": [ids[i] for i in rej],
        "input": [raw_str[i] for i in rej], "reason": [reasons[i] for i in rej],
    })
    if len(pos) == 0:
        top = Counter(reason_category(r) for r in rejected["reason"]).most_common(3)
        raise DataError(f"no valid rows{where}: {n} of {n} rejected; first reasons: "
                        + ", ".join(f"{c} ({k})" for c, k in top))
    drop_cols = {cfg.input_col, *cfg.target_cols, PARSE_ERROR_COL}
    extra = df.iloc[pos][[c for c in df.columns if c not in drop_cols]].reset_index(drop=True)
    dataset = CleanDataset(
        inputs=[canon[i] for i in pos], raw_inputs=[raw_str[i] for i in pos],  # type: ignore
        ids=[ids[i] for i in pos], row_ids=row_ids[pos], y=y[pos], task=task,
        modality=cfg.modality, extra=extra,
    )

    invalid_reasons = Counter(reason_category(reasons[i]) for i in np.flatnonzero(~valid))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n_missing = {c: int(np.isnan(y[valid, j]).sum()) for j, c in enumerate(task.target_cols)}
    report: dict[str, Any] = {
        "source": source, "modality": cfg.modality, "input_col": cfg.input_col,
        "n_rows_in": n, "n_valid": int(valid.sum()), "n_invalid": int((~valid).sum()),
        "invalid_reasons": dict(invalid_reasons.most_common()),
        "invalid_examples": [
            {"row_id": int(row_ids[i]), "input": raw_str[i][:100], "reason": reasons[i]}
            for i in np.flatnonzero(~valid)[:5]
        ],
        "n_missing_labels": n_missing,
        "n_rows_all_labels_missing": int((valid & ~has_label).sum()),
        "n_duplicate_rows": int(sum(len(g) - 1 for g in dup_groups)),
        "n_duplicate_groups": len(dup_groups),
        "n_conflicting_groups": int(n_conflicting),
        "max_conflict_spread": float(max_spread) if not task.is_classification else None,
        "duplicate_policy": policy,
        "n_rows_out": len(dataset),
        "n_rejected": len(rejected),
        "task": task.to_dict(),
        "labels": label_info,
        "targets": _target_stats(dataset.y, task),
    }
    assert len(dataset) + len(rejected) == n, "row accounting is broken"
    logger.info("cleaned %s: %d rows in, %d out (%d invalid, %d duplicates, %d conflicting "
                "groups); task %s", source or "table", n, len(dataset), report["n_invalid"],
                report["n_duplicate_rows"], n_conflicting, task.task_type)
    return CleanResult(dataset=dataset, rejected=rejected, report=report)


__all__ = ["CleanDataset", "CleanResult", "clean_table"]
