"""Recipe: predict — a trained run directory + a data file -> one prediction row per input row.

The input is streamed in chunks, so memory does not grow with the file size. Invalid inputs are
not a crash: their row carries ``status=invalid`` and the reason in ``error``; an input that
crashes a native library (RDKit) is one such row (:mod:`scifm.evaluation.chunks`), so the output
always has one row per input row.

Token-classification runs (``family: token``; NER, per-residue labels) write one row per sentence
/ sequence: ``row_id``, ``id``, ``input``, ``status``, ``error``, ``pred`` (NER: one tag per
token, space-separated; residues: one label per residue, as a string of the sequence's length)
and, for NER, ``entities`` (:mod:`scifm.evaluation.token_tables`). Their inputs are a CoNLL-style
file (NER; one token per line, the tag column may be absent) or a table whose text column is split
on whitespace / whose sequence column is read residue by residue.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from scifm.config.schema import DataConfig
from scifm.data.io import iter_table
from scifm.data.tokens import iter_token_inputs, saved_data_config
from scifm.errors import OutputError
from scifm.evaluation.chunks import ChunkJob, predict_chunks
from scifm.evaluation.token_tables import tag_chunk
from scifm.models import load_predictor
from scifm.models.registry import get_family
from scifm.models.token import FAMILY as TOKEN_FAMILY
from scifm.privacy.redaction import redact_inputs
from scifm.rundir import RunDir
from scifm.tasks import TaskSpec
from scifm.trust.uncertainty import prediction_extras
from scifm.utils.io import atomic_path, refuse_overwriting_inputs

logger = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """Counts of a prediction run."""

    out: Path
    n_rows: int
    n_invalid: int


def predict(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path,
    input_col: str | None = None,
    id_col: str | None = None,
    fmt: str = "auto",
    chunksize: int = 5_000,
    workers: int = 0,
) -> PredictSummary:
    """Predict every row of ``data`` with the model of ``run_dir``; write a CSV to ``out``.

    Output columns: ``row_id`` (0-based row in the input), ``id`` (when ``id_col``), ``input``
    (as given), ``canonical``, ``status`` (``ok`` | ``invalid``), ``error``, the prediction
    columns of :func:`scifm.evaluation.tables.prediction_columns` and, when the model has an
    uncertainty layer, its interval / set / similarity columns
    (:mod:`scifm.trust.uncertainty`); empty for invalid rows.

    ``workers`` processes featurise and predict chunks in parallel (0 = one per CPU core for
    feature-based models, 1 for transformers, whose torch kernels already use every core). At most
    ``2 x workers`` chunks are in flight, so memory stays flat whatever the file size.
    """
    run = RunDir(Path(run_dir))
    refuse_overwriting_inputs(out, {"the --data file": data, "the run's model": run.model})
    if Path(out).is_dir():
        raise OutputError(f"--out {out} is a folder: predict writes one CSV file; name a file")
    meta = run.model_meta()
    if meta["family"] == TOKEN_FAMILY:  # NER / per-residue runs: one tag per token
        return _predict_tokens(run, meta, Path(data), out, input_col, id_col, fmt, chunksize)
    task = TaskSpec.from_dict(meta["task"])
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    col = input_col or data_cfg.input_cols[0]
    if workers <= 0:
        # families whose kernels use every core already (torch) predict in one process
        workers = (os.cpu_count() or 1) if get_family(meta["family"]).uses_n_jobs else 1
    job = ChunkJob(run.model, task, data_cfg, col, id_col, extras=prediction_extras)
    n_rows = n_invalid = 0
    with atomic_path(out) as tmp:
        rows = (redact_inputs(c, job.cols, meta) for c in  # as the run redacted its data
                iter_table(data, fmt, chunksize=chunksize, encoding_errors="surrogateescape"))
        for frame in predict_chunks(job, rows, workers,
                                    str(data)):
            frame.to_csv(tmp, mode="a", header=n_rows == 0, index=False,
                         errors="backslashreplace")  # undecodable input bytes, escaped
            n_rows += len(frame)
            n_invalid += int((frame["status"] == "invalid").sum())
            logger.info("predicted %d rows (%d invalid so far)", n_rows, n_invalid)
    if n_invalid:
        logger.warning("%d of %d rows were invalid; see the 'error' column of %s", n_invalid,
                       n_rows, out)
    return PredictSummary(Path(out), n_rows, n_invalid)


def _predict_tokens(run: RunDir, meta: dict, data: Path, out: str | Path, input_col: str | None,
                    id_col: str | None, fmt: str, chunksize: int) -> PredictSummary:
    """Tag every sentence / sequence of ``data`` with a token-classification run's model."""
    model = load_predictor(run.model)
    data_cfg = saved_data_config(meta.get("data"), meta["modality"])
    col = input_col or data_cfg.input_cols[0]
    n_rows = n_invalid = 0
    with atomic_path(out) as tmp:
        for chunk in iter_token_inputs(data, model.kind, fmt, col, id_col, chunksize):
            frame = tag_chunk(model, data_cfg, chunk, n_rows)
            frame.to_csv(tmp, mode="a", header=n_rows == 0, index=False,
                         errors="backslashreplace")  # undecodable input bytes, escaped
            n_rows += len(frame)
            n_invalid += int((frame["status"] == "invalid").sum())
            logger.info("tagged %d rows (%d invalid so far)", n_rows, n_invalid)
    return PredictSummary(Path(out), n_rows, n_invalid)
