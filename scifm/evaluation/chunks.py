"""Predicting a table chunk by chunk: validate, canonicalise, predict, one output row per input row.

Used by ``scifm predict`` (:mod:`scifm.recipes.predict`). Chunks run in worker processes
(``spawn``; this module and the model family's are all a worker imports, no recipe). When a
worker dies, a native library crashed on an input: :class:`ChunkPool` re-runs the chunks it took
down, validated again in the parent, where validation contains crashes
(:mod:`scifm.data.contained`) and rejects the offender with its reason; a chunk that still kills
a worker is predicted row by row and the row that does is marked invalid (:data:`MODEL_CRASH`).
No row is ever lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data import parsed
from scifm.data.contained import mark_worker
from scifm.data.io import require_columns
from scifm.data.validate import validate_records
from scifm.evaluation.tables import prediction_columns
from scifm.models import load_predictor
from scifm.models.base import Predictor
from scifm.tasks import TaskSpec
from scifm.utils import progress

logger = logging.getLogger(__name__)

__all__ = ["MODEL_CRASH", "ChunkJob", "ChunkPool", "predict_chunk", "predict_chunks",
           "row_by_row"]


Extras = Callable[[Predictor, list], tuple[np.ndarray, dict[str, np.ndarray]]]
"""``extra(predictor, records) -> (predictions, {column: values})`` of the valid rows of a
chunk: the model's predictions with more columns (:mod:`scifm.trust.uncertainty`)."""


@dataclass
class ChunkJob:
    """Everything a (worker) process needs to predict one chunk."""

    model_dir: Path
    task: TaskSpec
    data_cfg: DataConfig
    col: str
    id_col: str | None
    plugin: bytes | None = None
    """The pickled modality spec, registered by a worker that does not know it (a plug-in that a
    script or test registered); None when it cannot be pickled (built-ins need none)."""

    predictor: Predictor | None = None
    """The loaded model; ``None`` in a freshly spawned worker until its first chunk."""
    extras: Callable[[Path], Extras | None] | None = None
    """``extras(model_dir)``: the predictions of valid rows with more output columns (the
    model's uncertainty layer, :mod:`scifm.trust`), loaded once per process; a module-level
    function, so that the job pickles."""
    extra: Extras | None = None

    @property
    def cols(self) -> list[str]:
        """The input columns, primary first."""
        return [self.col, *self.data_cfg.input_cols[1:]]

    def __call__(self, chunk: pd.DataFrame, start: int,
                 checked: tuple[list, list] | None = None) -> pd.DataFrame:
        if self.predictor is None:
            if self.plugin is not None and self.data_cfg.modality not in MODALITIES:
                MODALITIES.register(pickle.loads(self.plugin))
            self.load()
        with parsed.scope():  # the featurizer reuses the molecules the validator parsed
            return predict_chunk(self.predictor, self.task, self.data_cfg, chunk, self.col,
                                 self.id_col, start, checked, self.extra)

    def load(self) -> None:
        """Load the model and its extra columns in this process."""
        self.predictor = load_predictor(self.model_dir)
        self.extra = self.extras(self.model_dir) if self.extras else None

    def invalid(self, chunk: pd.DataFrame, start: int, reason: str) -> pd.DataFrame:
        """The output rows of ``chunk``, all invalid for ``reason`` (no model needed)."""
        return predict_chunk(None, self.task, self.data_cfg, chunk, self.col, self.id_col, start,
                             ([None] * len(chunk), [reason] * len(chunk)))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "predictor": None, "extra": None}  # workers load the model


def _pickled_spec(modality: str) -> bytes | None:
    try:
        return pickle.dumps(MODALITIES.get(modality))
    except Exception:  # closures (built-in sequence plug-ins): workers import those anyway
        return None


def _worker_init(n: int) -> None:
    """Worker start-up: share the cores instead of every worker's OpenMP pool taking all of them
    (oversubscribed OpenMP threads spin and slow LightGBM down many times over); validate in this
    process, whose death the parent contains (no nested workers, no core dump)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    mark_worker()


MODEL_CRASH = "crashed the worker process (featurizer or model)"
"""Reason of a valid row whose prediction killed the worker process."""


class ChunkPool:
    """Worker processes that predict chunks. When a worker dies (a native library crashed on an
    input), the chunks it took down are re-run: validated again in this process, where
    validation contains crashes (:mod:`scifm.data.contained`) and rejects the offender, then
    predicted again; a chunk that still kills a worker is predicted row by row. No row is lost."""

    def __init__(self, job: ChunkJob, workers: int) -> None:
        self.job, self.workers = job, workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initargs=(self.threads,))

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if broken is self.pool:
            broken.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new()

    def submit(self, chunk: pd.DataFrame, start: int,
               checked: tuple[list, list] | None = None) -> tuple[Future, ProcessPoolExecutor]:
        """Queue a chunk; returns its future and the pool that runs it."""
        pool = self.pool
        try:
            return pool.submit(self.job, chunk, start, checked), pool
        except BrokenProcessPool:  # broke since the last result: start afresh
            self._replace(pool)
            return self.pool.submit(self.job, chunk, start, checked), self.pool

    def result(self, chunk: pd.DataFrame, start: int,
               submitted: tuple[Future, ProcessPoolExecutor]) -> pd.DataFrame:
        """The predicted chunk, re-run if its worker died."""
        future, pool = submitted
        try:
            return future.result()
        except BrokenProcessPool:
            self._replace(pool)
        logger.warning("a worker process died while predicting rows %d-%d; checking them again",
                       start, start + len(chunk) - 1)
        checked = validate_records(chunk, self.job.data_cfg, self.job.cols)
        future, pool = self.submit(chunk, start, checked)
        try:
            return future.result()
        except BrokenProcessPool:
            self._replace(pool)
        return self._row_by_row(chunk, start, checked)

    def _row_by_row(self, chunk: pd.DataFrame, start: int,
                    checked: tuple[list, list]) -> pd.DataFrame:
        def one(row: pd.DataFrame, at: int, record: object) -> pd.DataFrame | None:
            future, pool = self.submit(row, at, ([record], [None]))
            try:
                return future.result()
            except BrokenProcessPool:
                self._replace(pool)
                return None

        return row_by_row(self.job, chunk, start, checked, one)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def row_by_row(job: ChunkJob, chunk: pd.DataFrame, start: int, checked: tuple[list, list],
               predict_one: Callable[[pd.DataFrame, int, object], pd.DataFrame | None],
               ) -> pd.DataFrame:
    """A chunk that still crashed its worker after validation, predicted one row at a time.

    ``predict_one(row, row_id, record)`` predicts one valid row in a worker, or returns None
    when the worker died on it: that row is marked invalid (:data:`MODEL_CRASH`); invalid rows
    keep their validation reason. Shared by the process pool and the Ray engine.
    """
    frames = []
    for i, (record, reason) in enumerate(zip(*checked, strict=True)):
        row = chunk.iloc[i:i + 1]
        frame = job.invalid(row, start + i, reason) if record is None else \
            predict_one(row, start + i, record)
        if frame is None:
            logger.warning("row %d %s; marked invalid", start + i, MODEL_CRASH)
            frame = job.invalid(row, start + i, MODEL_CRASH)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def predict_chunks(job: ChunkJob, chunks: Iterator[pd.DataFrame], workers: int,
                   source: str) -> Iterator[pd.DataFrame]:
    """Predicted frames in input order; a bounded window of chunks runs in worker processes.
    A progress bar counts the rows done (rows per second)."""
    with progress.track(f"predicting {Path(source).name}", unit="rows",
                        level=logging.DEBUG) as bar:
        for frame in _predicted(job, chunks, workers, source):
            bar.advance(len(frame))
            yield frame


def _predicted(job: ChunkJob, chunks: Iterator[pd.DataFrame], workers: int,
               source: str) -> Iterator[pd.DataFrame]:
    cols = job.cols + ([job.id_col] if job.id_col else [])
    start = 0
    if workers == 1:  # validation still runs where a crash is contained (scifm.data.contained)
        job.load()
        for chunk in chunks:
            require_columns(chunk, cols, source)
            yield job(chunk, start)
            start += len(chunk)
        return
    job.plugin = _pickled_spec(job.data_cfg.modality)
    pool = ChunkPool(job, workers)
    try:
        window: deque = deque()
        for chunk in chunks:
            require_columns(chunk, cols, source)
            window.append((chunk, start, pool.submit(chunk, start)))
            start += len(chunk)
            if len(window) >= 2 * workers:
                yield pool.result(*window.popleft())
        while window:
            yield pool.result(*window.popleft())
    finally:
        pool.close()


def _shown(value: object) -> object:
    """A cell as written to the output: bytes that were not UTF-8 (read as lone surrogates)
    become ``\\xNN`` escapes, so the output file stays valid UTF-8, and a carriage return
    becomes ``\\r``, so the output keeps one line per row."""
    if isinstance(value, str) and not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, str) and "\r" in value:  # a bare CR is not quoted by the CSV writer
        value = value.replace("\r", "\\r")
    return value


def predict_chunk(predictor: Predictor | None, task: TaskSpec, data_cfg: DataConfig,
                  chunk: pd.DataFrame, col: str, id_col: str | None, start: int,
                  checked: tuple[list, list] | None = None,
                  extra: Extras | None = None) -> pd.DataFrame:
    """Validate, canonicalise and predict one chunk; invalid rows keep their place.

    ``checked``: the ``(records, reasons)`` of :func:`~scifm.data.validate.validate_records`,
    when the chunk was validated already (``predictor`` may then be None if no row is valid).
    ``extra(predictor, valid_records)``: predicts the valid rows itself, with more columns
    (empty for invalid rows).
    """
    raw = chunk[col].tolist()
    records, reasons = checked or validate_records(chunk, data_cfg,
                                                   [col, *data_cfg.input_cols[1:]])
    canonical = [None if r is None else r.primary for r in records]
    ok = np.array([r is not None for r in records], dtype=bool)
    y = np.full((len(raw), task.n_outputs), np.nan)
    more: dict[str, np.ndarray] = {}
    if ok.any():
        valid = [r for r in records if r is not None]
        if extra is not None:
            y[ok], more = extra(predictor, valid)
        else:
            y[ok] = predictor.predict(valid)  # type: ignore[union-attr]
    out: dict[str, object] = {"row_id": np.arange(start, start + len(raw))}
    if id_col:
        out["id"] = [_shown(v) for v in chunk[id_col].tolist()]
    out.update({"input": [_shown(v) for v in raw], "canonical": canonical,
                "status": np.where(ok, "ok", "invalid"), "error": reasons})
    preds = prediction_columns(task, y)
    for name, values in more.items():
        full = np.full(len(raw), None, dtype=object)
        full[ok] = values
        preds[name] = full
    for name, values in preds.items():
        values = np.asarray(values, dtype=object)
        values[~ok] = None
        out[name] = values
    return pd.DataFrame(out)
