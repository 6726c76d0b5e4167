"""The data steps every training recipe starts with: read + clean, then split + audit.

Shared by ``train``, ``tune``, ``auto`` and ``finetune``: the same functions give the same
cleaned rows, the same split and the same run files (``rejected.csv``, ``data_report.json``,
``splits.json``, ``leakage.json``) whichever recipe runs. ``write=False`` (the other processes of
a ``torchrun`` launch) computes the same result and writes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.data.clean import CleanDataset, CleanResult, clean_table
from scifm.data.io import read_table
from scifm.data.leakage import audit_split
from scifm.data.splitting import make_split, save_splits
from scifm.errors import ConfigError
from scifm.privacy import redact_frame, require_privacy
from scifm.utils import progress
from scifm.utils.io import atomic_write_json, atomic_write_with, file_sha256

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.rundir import RunDir

logger = logging.getLogger(__name__)


def load_clean(cfg: ExperimentConfig, run: RunDir, write: bool = True) -> CleanResult:
    """Read and clean the configured data file; write ``rejected.csv`` and ``data_report.json``.

    Raises
    ------
    ConfigError
        No data file configured.
    DataError
        The file cannot be read or lacks the configured columns.
    """
    if cfg.data.path is None:
        raise ConfigError("no input data: pass --data FILE (or data.path in the config)")
    name = Path(cfg.data.path).name
    if cfg.privacy.redact:  # a missing extra: one line before the file is read
        require_privacy("privacy.redact: true")
    with progress.track(f"reading {name}", level=logging.DEBUG):
        frame = read_table(cfg.data.path, cfg.data.format)
    # PII out before anything is cleaned, trained, logged, tracked or reported (privacy.redact)
    frame, pii_counts = redact_frame(frame, cfg.data.input_cols, cfg)
    with progress.track(f"cleaning {len(frame):,} rows of {name}", level=logging.DEBUG):
        cleaned = clean_table(frame, cfg.data, source=str(cfg.data.path))
    if pii_counts is not None:
        cleaned.report["pii_redacted"] = pii_counts
    if not write:
        return cleaned
    # a bare carriage return in a cell is not quoted by the CSV writer: escape it (one row, one
    # line in rejected.csv)
    rejected = cleaned.rejected.replace(to_replace="\r", value=r"\\r", regex=True)
    atomic_write_with(run.rejected, lambda p: rejected.to_csv(p, index=False))
    if Path(cfg.data.path).is_file():  # provenance (model card): the exact file trained on
        cleaned.report["source_sha256"] = file_sha256(Path(cfg.data.path))
    atomic_write_json(run.data_report, cleaned.report)
    rep = cleaned.report
    logger.info("data: %s rows read, %s used, %s rejected (see %s)", rep.get("n_rows_in"),
                len(cleaned.dataset), len(cleaned.rejected), run.rejected.name)
    logger.info("task: %s on %s", cleaned.dataset.task.task_type,
                ", ".join(cleaned.dataset.task.target_cols))
    return cleaned


def split_and_audit(cfg: ExperimentConfig, ds: CleanDataset, run: RunDir,
                    write: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split the cleaned data as configured and audit the split for leakage; write
    ``splits.json`` and ``leakage.json``.

    Returns
    -------
    splits
        ``{"train", "val", "test"} -> positions into ds``.
    leakage
        The audit (cross-split duplicates, nearest-neighbour similarity); empty when not
        ``write`` (the audit is only needed where it is written).
    """
    with progress.track(f"{cfg.split.method} split of {len(ds):,} rows", level=logging.DEBUG):
        splits = make_split(ds, cfg.split, seed=cfg.seed)
    if not write:
        return splits, {}
    save_splits(run.splits, splits, ds, method=cfg.split.method, seed=cfg.seed)
    with progress.track("leakage audit of the split", level=logging.DEBUG):
        leakage = audit_split(ds, splits, cfg.data.modality)
    atomic_write_json(run.leakage, leakage)
    return splits, leakage
