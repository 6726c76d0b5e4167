"""From a raw table to a clean dataset: validated inputs, encoded labels, resolved duplicates.

Every input row ends up either in :attr:`CleanResult.dataset` or in :attr:`CleanResult.rejected`
(with a reason), so ``len(dataset) + len(rejected) == len(df)`` always holds.

Each row's input columns are checked by the modality's plug-in and become one
:class:`~scifm.data.datapoints.Datapoint` (canonical primary input + further input columns).
Order of the checks: invalid input -> all labels missing -> duplicates of an identical record
(same canonical primary input and same further inputs; resolved by ``DataConfig.duplicates``):

* ``mean`` / ``majority``: regression labels are averaged (``nanmean`` per task); class labels
  take the per-task majority; a tie makes that task's label missing (``NaN``) and the group is
  dropped if no label is left.
* ``first``: the first row's labels are kept.
* ``drop``: groups whose labels differ are dropped entirely; agreeing groups keep one row.
* ``keep``: every row stays (to reproduce a published split); duplicates are only reported.

Warnings that reject nothing (repeated identifiers, regression duplicates whose labels spread
over ``data.duplicate_spread_warn``, inputs that fit another modality's alphabet better, numbers
with decimal commas) come from :mod:`scifm.data.checks`: each is logged, listed under
``warnings`` in the report and detailed under its own key (``duplicate_ids``,
``conflicting_duplicates``).
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
from scifm.data.checks import (
    apply_decimal,
    conflicting_duplicates,
    duplicate_ids,
    modality_hint,
)
from scifm.data.datapoints import Datapoint
from scifm.data.io import require_columns
from scifm.data.labels import infer_task
from scifm.data.validate import reason_category, validate_records
from scifm.errors import DataError
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

PARSE_ERROR_COL = "_parse_error"


@dataclass
class CleanDataset:
    """Validated, canonicalised, de-duplicated rows and their encoded labels."""

    inputs: list[Datapoint]
    """Validated input records (what models see): the canonical primary input plus any further
    input columns."""
    raw_inputs: list[str]
    """The primary inputs as written in the file."""
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


@dataclass
class CleanResult:
    """Outcome of :func:`clean_table`."""

    dataset: CleanDataset
    rejected: pd.DataFrame
    """One row per input row not in the dataset: ``row_id``, ``id``, ``input``, ``reason``."""
    report: dict[str, Any]
    """JSON-able summary (counts, reasons, duplicates, task, target statistics)."""


@dataclass
class _Rows:
    """Per-row state of one cleaning pass (index = position in the raw table)."""

    row_ids: np.ndarray
    ids: list[str]
    raw: list[str]
    records: list[Datapoint | None]
    reasons: list[str | None]
    valid: np.ndarray
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class _Duplicates:
    """What resolving duplicates found."""

    groups: list[list[int]]
    n_conflicting: int = 0
    max_spread: float = 0.0
    conflicts: tuple[list[str], dict[str, Any]] | None = None
    """Regression groups spread over the threshold: warnings and details
    (:func:`scifm.data.checks.conflicting_duplicates`)."""


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
    _check_columns(df, cfg, source)
    df = apply_decimal(df, [*cfg.target_cols, *cfg.input_cols[1:]], cfg.decimal)
    rows = _validate_rows(df, cfg)
    notes = _input_warnings(cfg, rows)
    task, y, label_info = infer_task(df, cfg, rows.valid, fixed=task)
    has_label = ~np.isnan(y).all(axis=1)
    for i in np.flatnonzero(rows.valid & ~has_label):
        rows.reasons[i] = "all labels missing"
    rows.keep = rows.valid & has_label
    dups = _resolve_duplicates(rows, y, task, cfg)
    if dups.conflicts is not None:
        notes["warnings"] += dups.conflicts[0]
        notes["conflicting_duplicates"] = dups.conflicts[1]
    for msg in notes["warnings"]:
        logger.warning("%s", msg)
    rejected = _rejected_frame(rows)
    dataset = _kept_dataset(df, cfg, rows, y, task, source)
    report = _report(cfg, source, rows, y, has_label, dups, dataset, rejected, task)
    report["labels"] = label_info
    report.update(notes)
    assert len(dataset) + len(rejected) == len(df), "row accounting is broken"
    logger.info("cleaned %s: %d rows in, %d out (%d invalid, %d duplicates, %d conflicting "
                "groups); task %s", source or "table", len(df), len(dataset), report["n_invalid"],
                report["n_duplicate_rows"], dups.n_conflicting, task.task_type)
    return CleanResult(dataset=dataset, rejected=rejected, report=report)


def _check_columns(df: pd.DataFrame, cfg: DataConfig, source: str) -> None:
    """Targets are configured and every configured column is in the table."""
    if not cfg.target_cols:
        where = f" in {source}" if source else ""
        raise DataError(f"no target columns configured; set data.target_cols (columns{where}: "
                        f"{', '.join(map(str, df.columns[:20]))})")
    cols = [*cfg.input_cols, *cfg.target_cols] + ([cfg.id_col] if cfg.id_col else [])
    require_columns(df, cols, source)


def _validate_rows(df: pd.DataFrame, cfg: DataConfig) -> _Rows:
    """Row ids, identifiers, raw primary inputs and the plug-in's verdict on every row."""
    row_ids = _row_ids(df)
    ids = ([_as_str(v) for v in df[cfg.id_col].tolist()] if cfg.id_col
           else [str(r) for r in row_ids])
    raw = [_as_str(v) for v in df[cfg.input_cols[0]].tolist()]
    records, reasons = validate_records(df, cfg)
    if PARSE_ERROR_COL in df.columns:  # rows a reader could not parse (SDF mol blocks)
        for i, err in enumerate(df[PARSE_ERROR_COL].tolist()):
            if isinstance(err, str) and err:
                records[i], reasons[i] = None, err
    valid = np.array([r is None for r in reasons], dtype=bool)
    return _Rows(row_ids=row_ids, ids=ids, raw=raw, records=records, reasons=reasons,
                 valid=valid)


def _input_warnings(cfg: DataConfig, rows: _Rows) -> dict[str, Any]:
    """Repeated identifiers and a better-fitting modality: ``{"warnings": [...], details}``."""
    notes: dict[str, Any] = {"warnings": []}
    ids = duplicate_ids(rows.ids, rows.row_ids, cfg.id_col) if cfg.id_col else None
    if ids is not None:
        notes["warnings"].append(ids[0])
        notes["duplicate_ids"] = ids[1]
    hint = modality_hint(rows.raw, cfg.modality, cfg.input_cols[0])
    if hint is not None:
        notes["warnings"].append(hint)
    return notes


def _resolve_duplicates(rows: _Rows, y: np.ndarray, task: TaskSpec,
                        cfg: DataConfig) -> _Duplicates:
    """Merge (or drop) groups of identical records per ``cfg.duplicates``; updates ``rows`` and
    ``y``; regression groups whose labels spread over the threshold are reported."""
    policy = cfg.duplicates
    groups: dict[Datapoint, list[int]] = {}
    for i in np.flatnonzero(rows.keep):
        groups.setdefault(rows.records[i], []).append(int(i))  # type: ignore[arg-type]
    dups = _Duplicates(groups=[g for g in groups.values() if len(g) > 1])
    if dups.groups and not task.is_classification:
        dups.conflicts = conflicting_duplicates(
            dups.groups, [y[g].copy() for g in dups.groups], y[rows.keep], task.target_cols,
            rows.raw, rows.row_ids, policy, cfg.duplicate_spread_warn)
    for g in dups.groups:
        merged, conflict, spread = _resolve_group(y[g], task.is_classification, policy)
        dups.n_conflicting += conflict
        dups.max_spread = max(dups.max_spread, spread)
        if policy == "keep":  # reported (and audited for leakage), never merged
            continue
        if merged is None:
            why = ("conflicting duplicate labels" if policy == "drop"
                   else "conflicting duplicate labels (tie)")
            members = ", ".join(str(rows.row_ids[i]) for i in g[:10]) + (
                ", ..." if len(g) > 10 else "")
            for i in g:
                rows.reasons[i] = f"{why}: group of {len(g)} rows ({members}) dropped"
                rows.keep[i] = False
            continue
        y[g[0]] = merged
        how = {"first": "kept first", "drop": "labels agree"}.get(policy, f"merged: {policy}")
        for i in g[1:]:
            rows.reasons[i] = f"duplicate of row {rows.row_ids[g[0]]} ({how})"
            rows.keep[i] = False
    return dups


def _rejected_frame(rows: _Rows) -> pd.DataFrame:
    """``row_id``, ``id``, ``input`` (as written) and ``reason`` of every row not kept."""
    rej = np.flatnonzero(~rows.keep)
    return pd.DataFrame({
        "row_id": rows.row_ids[rej], "id": [rows.ids[i] for i in rej],
        "input": [rows.raw[i] for i in rej], "reason": [rows.reasons[i] for i in rej],
    })


def _kept_dataset(df: pd.DataFrame, cfg: DataConfig, rows: _Rows, y: np.ndarray,
                  task: TaskSpec, source: str) -> CleanDataset:
    """The kept rows as a :class:`CleanDataset` (DataError when none is left)."""
    pos = np.flatnonzero(rows.keep)
    if len(pos) == 0:
        n = len(df)
        top = Counter(reason_category(r or "") for r in rows.reasons).most_common(3)
        where = f" in {source}" if source else ""
        raise DataError(f"no valid rows{where}: {n} of {n} rejected; first reasons: "
                        + ", ".join(f"{c} ({k})" for c, k in top))
    drop_cols = {*cfg.input_cols, *cfg.target_cols, PARSE_ERROR_COL}
    extra = df.iloc[pos][[c for c in df.columns if c not in drop_cols]].reset_index(drop=True)
    return CleanDataset(
        inputs=[rows.records[i] for i in pos],  # type: ignore[misc]
        raw_inputs=[rows.raw[i] for i in pos], ids=[rows.ids[i] for i in pos],
        row_ids=rows.row_ids[pos], y=y[pos], task=task, modality=cfg.modality, extra=extra,
    )


def _report(cfg: DataConfig, source: str, rows: _Rows, y: np.ndarray, has_label: np.ndarray,
            dups: _Duplicates, dataset: CleanDataset, rejected: pd.DataFrame,
            task: TaskSpec) -> dict[str, Any]:
    """The JSON-able cleaning summary written to ``data_report.json``."""
    valid = rows.valid
    invalid_reasons = Counter(reason_category(rows.reasons[i] or "")
                              for i in np.flatnonzero(~valid))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n_missing = {c: int(np.isnan(y[valid, j]).sum()) for j, c in enumerate(task.target_cols)}
    return {
        "source": source, "modality": cfg.modality, "input_col": cfg.input_col,
        "n_rows_in": len(valid), "n_valid": int(valid.sum()), "n_invalid": int((~valid).sum()),
        "invalid_reasons": dict(invalid_reasons.most_common()),
        "invalid_examples": [
            {"row_id": int(rows.row_ids[i]), "input": rows.raw[i][:100],
             "reason": rows.reasons[i]} for i in np.flatnonzero(~valid)[:5]
        ],
        "n_missing_labels": n_missing,
        "n_rows_all_labels_missing": int((valid & ~has_label).sum()),
        "n_duplicate_rows": int(sum(len(g) - 1 for g in dups.groups)),
        "n_duplicate_groups": len(dups.groups),
        "n_conflicting_groups": int(dups.n_conflicting),
        "max_conflict_spread": float(dups.max_spread) if not task.is_classification else None,
        "duplicate_policy": cfg.duplicates,
        "n_rows_out": len(dataset),
        "n_rejected": len(rejected),
        "task": task.to_dict(),
        "labels": {},
        "targets": _target_stats(dataset.y, task),
    }


__all__ = ["CleanDataset", "CleanResult", "clean_table"]
