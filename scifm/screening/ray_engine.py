"""Predicting chunks on a Ray cluster: ``scifm screen --engine ray``.

:func:`ray_predicted` has the contract of :func:`scifm.evaluation.chunks.predict_chunks`: the
same output frames (one row per input row, invalid inputs are rows with ``status=invalid`` and
their reason, ``row_id`` counted from the first chunk), in input order, computed by Ray actors
instead of local worker processes. ``ray.init()`` starts a local cluster, or connects to the
cluster that ``RAY_ADDRESS`` names; a cluster (or connection) opened here is closed at the end,
one that the caller opened is left alone.

Ray actors, not Ray Data: the chunks come from an iterator in the driver (the library file is
read, chunk by chunk, where ``scifm screen`` runs), and Ray Data has no source that streams a
driver-side iterator of unknown length: ``ray.data.from_items`` / ``from_pandas`` take the whole
list, which for a library of 10⁹ molecules would not fit in the driver's memory nor the object
store, and a new Dataset per window of chunks would start a new actor pool, loading the model
again for every window. So each actor is a :class:`ChunkWorker` that loads the model once (the
:class:`~scifm.evaluation.chunks.ChunkJob` pickles without it), and the driver keeps at most
``2 x workers`` chunks in flight, handed out in turn and collected in order: memory stays flat
whatever the number of chunks. As with the local engine, an actor killed by a native crash is
replaced; its chunks are validated again in the driver (where validation contains crashes,
:mod:`scifm.data.contained`) and predicted again, then row by row, the row that still kills an
actor marked invalid (:data:`~scifm.evaluation.chunks.MODEL_CRASH`). No row is lost.

Ray is an optional extra (``pip install -c constraints.txt -e ".[ray]"``), imported only here.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.data.contained import mark_worker
from scifm.data.io import require_columns
from scifm.data.validate import validate_records
from scifm.errors import ConfigError
from scifm.evaluation.chunks import ChunkJob, row_by_row
from scifm.utils import progress

logger = logging.getLogger(__name__)

__all__ = ["ChunkWorker", "ray_cluster", "ray_predicted", "require_ray"]

INSTALL = 'pip install -c constraints.txt -e ".[ray]"'


def require_ray() -> Any:
    """The ``ray`` module; :class:`~scifm.errors.ConfigError` with the install command when Ray
    is not installed."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


@contextmanager
def ray_cluster() -> Iterator[Any]:
    """The ``ray`` module, connected: to the cluster already initialised in this process, else
    ``ray.init()`` (the cluster at ``RAY_ADDRESS`` when set, else a new local one), which is
    shut down (or disconnected) when the block ends."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS") or None
        logger.info("starting Ray (%s)", f"cluster at {address}" if address else "local cluster")
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


class ChunkWorker:
    """A Ray actor's state: the chunk job, its model loaded on the first chunk (then kept).

    Parameters
    ----------
    job
        The chunk job (pickled without its model).
    threads
        OpenMP / BLAS threads of this actor (its share of the node's cores).
    """

    def __init__(self, job: ChunkJob, threads: int) -> None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        mark_worker()  # validation in this process: the actor's death is the containment
        self.job = job

    def predict(self, chunk: pd.DataFrame, start: int,
                checked: tuple[list, list] | None = None) -> pd.DataFrame:
        """The output rows of ``chunk``, whose first row is input row ``start``."""
        return self.job(chunk, start, checked)


def _pickled_spec(modality: str) -> bytes | None:
    """The modality plug-in for actors that do not know it (see ``ChunkJob.plugin``)."""
    try:
        return pickle.dumps(MODALITIES.get(modality))
    except Exception:  # closures (built-in sequence plug-ins): actors import those anyway
        return None


def _shares(ray: Any, workers: int) -> tuple[int, int, float]:
    """``(actors, threads per actor, CPUs reserved per actor)``; ``workers`` <= 0: one actor per
    CPU of the cluster."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = workers if workers > 0 else cpus
    node_cpus = max((n.get("Resources", {}).get("CPU", 1) for n in ray.nodes() if n.get("Alive")),
                    default=1)
    threads = max(1, min(cpus // workers, int(node_cpus)))
    return workers, threads, min(float(threads), cpus / workers)


class ActorRing:
    """The actors of one prediction; collects a chunk's result, re-running it if its actor died
    (on a new actor: validated again in the driver, then row by row), as
    :class:`~scifm.evaluation.chunks.ChunkPool` does with processes."""

    def __init__(self, ray: Any, job: ChunkJob, workers: int) -> None:
        self.ray, self.job = ray, job
        n, self.threads, cpus = _shares(ray, workers)
        self.remote = ray.remote(ChunkWorker).options(num_cpus=cpus, max_restarts=0)
        self.actors = [self.remote.remote(job, self.threads) for _ in range(n)]
        self.n_submitted = 0
        logger.info("predicting on Ray: %d actors, %d threads each", n, self.threads)

    def submit(self, chunk: pd.DataFrame, start: int,
               checked: tuple[list, list] | None = None) -> tuple[Any, int, Any]:
        """Queue ``chunk`` on the next actor in turn: ``(result ref, actor index, actor)``."""
        i = self.n_submitted % len(self.actors)
        self.n_submitted += 1
        actor = self.actors[i]
        return actor.predict.remote(chunk, start, checked), i, actor

    def _get(self, submitted: tuple[Any, int, Any]) -> pd.DataFrame | None:
        """The result, or None when its actor died (then replaced by a new one)."""
        ref, i, actor = submitted
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayActorError as e:
            if e.actor_init_failed:  # not a crash on an input: every actor would fail alike
                raise
        if self.actors[i] is actor:  # not replaced yet (its other chunks die with it)
            self.ray.kill(actor)
            self.actors[i] = self.remote.remote(self.job, self.threads)
        return None

    def result(self, chunk: pd.DataFrame, start: int,
               submitted: tuple[Any, int, Any]) -> pd.DataFrame:
        """The predicted chunk, re-run if its actor died."""
        frame = self._get(submitted)
        if frame is not None:
            return frame
        logger.warning("a Ray actor died while predicting rows %d-%d; checking them again",
                       start, start + len(chunk) - 1)
        checked = validate_records(chunk, self.job.data_cfg, self.job.cols)
        frame = self._get(self.submit(chunk, start, checked))
        return frame if frame is not None else self._row_by_row(chunk, start, checked)

    def _row_by_row(self, chunk: pd.DataFrame, start: int,
                    checked: tuple[list, list]) -> pd.DataFrame:
        return row_by_row(self.job, chunk, start, checked,
                          lambda row, at, record: self._get(self.submit(row, at,
                                                                        ([record], [None]))))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


def ray_predicted(job: ChunkJob, chunks: Iterator[pd.DataFrame], workers: int,
                  source: str) -> Iterator[pd.DataFrame]:
    """Predicted frames in input order, computed by Ray actors (one model load each).

    Parameters
    ----------
    job
        What to predict with (the model is loaded by each actor, not here).
    chunks
        The input tables, in order (any number: at most ``2 x workers`` are in flight).
    workers
        Number of actors; 0: one per CPU of the cluster.
    source
        The input's name, for messages (a missing column names it).

    Returns
    -------
    Iterator[pd.DataFrame]
        The frames of :func:`scifm.evaluation.chunks.predict_chunks`, one per chunk.
    """
    with ray_cluster() as ray, progress.track(f"predicting {Path(source).name} on Ray",
                                              unit="rows", level=logging.DEBUG) as bar:
        job.plugin = _pickled_spec(job.data_cfg.modality)
        ring = ActorRing(ray, job, workers)
        cols = job.cols + ([job.id_col] if job.id_col else [])
        window: deque = deque()
        start = 0
        try:
            for chunk in chunks:
                require_columns(chunk, cols, source)
                window.append((chunk, start, ring.submit(chunk, start)))
                start += len(chunk)
                if len(window) >= 2 * len(ring.actors):
                    frame = ring.result(*window.popleft())
                    bar.advance(len(frame))
                    yield frame
            while window:
                frame = ring.result(*window.popleft())
                bar.advance(len(frame))
                yield frame
        finally:
            ring.close()
