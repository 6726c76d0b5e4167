"""Predicting chunks on a Ray cluster: ``scifm screen --engine ray``.

:func:`ray_predicted` has the contract of :func:`scifm.evaluation.chunks.predict_chunks`: the
same output frames (one row per input row, invalid inputs are rows with ``status=invalid`` and
their reason, ``row_id`` counted from the first chunk), in input order, computed by a Ray Data
pipeline (:mod:`scifm.screening.ray_data`: the chunks read in the driver stream through a
queue into ``map_batches`` on an actor pool, each actor loading the model once) instead of
local worker processes. ``ray.init()`` starts a local cluster, or connects to the cluster that
``RAY_ADDRESS`` names; a cluster (or connection) opened here is closed at the end, one that the
caller opened is left alone.

As with the local engine, no row is lost to a native crash: a chunk that killed its actor comes
back from the Dataset unpredicted (:class:`~scifm.screening.ray_data.CrashLedger`), is validated
again in the driver (where validation contains crashes,
:mod:`scifm.data.contained`) and predicted again on a spare actor (:class:`SpareActor`), then
row by row, the row that still kills an actor marked invalid
(:data:`~scifm.evaluation.chunks.MODEL_CRASH`).

Ray is an optional extra (``pip install -c constraints.txt -e ".[ray]"``), imported only here
and in :mod:`scifm.screening.ray_data` (itself imported once Ray is known to be there).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.data.validate import validate_records
from scifm.errors import ConfigError
from scifm.evaluation.chunks import ChunkJob, row_by_row
from scifm.utils import progress

logger = logging.getLogger(__name__)

__all__ = ["SpareActor", "ray_cluster", "ray_predicted", "require_ray"]

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
        # a local cluster without the dashboard (its processes cost memory and start-up time;
        # for one, start a cluster with `ray start --head` and set RAY_ADDRESS)
        local = {} if address else {"include_dashboard": False}
        ray.init(address=address, log_to_driver=False, **local)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


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


class SpareActor:
    """A spare actor that re-runs the chunks that killed a Dataset actor: validated
    again in the driver, predicted on an actor, then row by row, an actor that dies replaced,
    as :class:`~scifm.evaluation.chunks.ChunkPool` does with processes. It reserves no CPU
    (it runs while the Dataset's actors hold the cluster's) and starts on the first re-run."""

    def __init__(self, ray: Any, job: ChunkJob, threads: int) -> None:
        from scifm.screening.ray_data import ChunkWorker

        self.ray, self.job, self.threads = ray, job, threads
        self.remote = ray.remote(ChunkWorker).options(num_cpus=0, max_restarts=0)
        self.actor: Any = None

    def _get(self, chunk: pd.DataFrame, start: int,
             checked: tuple[list, list] | None) -> pd.DataFrame | None:
        """The predicted chunk, or None when the actor died (then replaced by a new one)."""
        if self.actor is None:
            self.actor = self.remote.remote(self.job, self.threads)
        try:
            return self.ray.get(self.actor.predict.remote(chunk, start, checked))
        except self.ray.exceptions.RayActorError as e:
            if e.actor_init_failed:  # not a crash on an input: every actor would fail alike
                raise
        self.ray.kill(self.actor)
        self.actor = None
        return None

    def rerun(self, chunk: pd.DataFrame, start: int) -> pd.DataFrame:
        """The predicted chunk whose first row is input row ``start``; its crashing rows
        marked invalid."""
        logger.warning("a Ray actor died while predicting rows %d-%d; checking them again",
                       start, start + len(chunk) - 1)
        checked = validate_records(chunk, self.job.data_cfg, self.job.cols)
        frame = self._get(chunk, start, checked)
        if frame is not None:
            return frame
        return row_by_row(self.job, chunk, start, checked,
                          lambda row, at, record: self._get(row, at, ([record], [None])))

    def close(self) -> None:
        if self.actor is not None:
            self.ray.kill(self.actor)


def ray_predicted(job: ChunkJob, chunks: Iterator[pd.DataFrame], workers: int,
                  source: str) -> Iterator[pd.DataFrame]:
    """Predicted frames in input order, computed by a Ray Data actor pool (one model load per
    actor).

    Parameters
    ----------
    job
        What to predict with (the model is loaded by each actor, not here).
    chunks
        The input tables, in order (any number: at most ``2 x actors`` are read ahead).
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
        from scifm.screening.ray_data import ChunkFeed, predicted

        job.plugin = _pickled_spec(job.data_cfg.modality)
        actors, threads, cpus = _shares(ray, workers)
        logger.info("predicting on Ray Data: %d actors, %d threads each", actors, threads)
        cols = job.cols + ([job.id_col] if job.id_col else [])
        feed = ChunkFeed(chunks, cols, source, window=2 * actors)
        spare = SpareActor(ray, job, threads)
        try:
            for number, frame in predicted(job, feed, actors, threads, cpus):
                chunk, start = feed.take(number)
                out = spare.rerun(chunk, start) if frame is None else frame
                bar.advance(len(out))
                yield out
        finally:
            spare.close()
            feed.close()
