"""Several worker processes (or machines) finishing one Optuna study together.

The study is created once, by the calling process, *before* any worker starts (so workers never
race to create it); each worker then loads it from the shared storage and asks the storage for
trials, so trial numbers are unique whatever the number of workers.

Storage
-------
* ``sqlite:///PATH`` (the default of ``scifm tune``): one machine. SQLite's file locking is fine
  for a few processes on one machine but not over a network file system.
* ``journal:///PATH``: Optuna's journal storage (an append-only file with file locks), one
  machine; no database server and no lock contention on the trial tables.
* ``postgresql://user@host:port/db`` (or any SQLAlchemy URL Optuna supports): many machines.

Starting extra workers on other machines
----------------------------------------
On the first machine::

    scifm tune --data d.csv --target-col y --family lightgbm --n-trials 100 --workers 4 \\
        --storage postgresql://scifm@dbhost/optuna --study-name bace-lgbm --out runs/a

and on every other machine, with the same data file, flags, storage and study name (only
``--out`` differs)::

    scifm tune --data d.csv --target-col y --family lightgbm --n-trials 100 --workers 4 \\
        --storage postgresql://scifm@dbhost/optuna --study-name bace-lgbm --out runs/b

Each call adds its ``--n-trials`` (split over its ``--workers`` processes) to the shared study;
``create_study(load_if_exists=True)`` makes a second machine join the study instead of creating a
new one. Each call then refits the best trial *of the whole study so far* in its own run directory;
the one that finishes last has seen every trial. The PostgreSQL user needs ``CREATE`` on the
database the first time (Optuna creates its tables); the driver is ``psycopg[binary]``
(SQLAlchemy's default for ``postgresql://``; ``psycopg2`` is used when only it is installed).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "journal:///"
"""Storage URLs starting with this name an Optuna journal file (one machine, many processes)."""

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def resolve_storage(url: str) -> str | optuna.storages.BaseStorage:
    """What :func:`optuna.create_study` takes for ``url`` (``journal:///PATH`` -> a journal)."""
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path("/" + url.removeprefix(JOURNAL_PREFIX).lstrip("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("postgresql://") and _missing("psycopg") and not _missing("psycopg2"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")  # SQLAlchemy's
    return url                                                            # default is psycopg 3


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def trial_shares(n_trials: int | None, workers: int) -> list[int | None]:
    """Split ``n_trials`` over ``workers`` (exact total; ``None`` = until the time budget)."""
    if n_trials is None:
        return [None] * workers
    base, extra = divmod(n_trials, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def optimize(study: optuna.Study, storage_url: str, objective: Callable[[optuna.Trial], float],
             *, n_trials: int | None, timeout: float | None, workers: int = 1, seed: int = 0,
             pruner: optuna.pruners.BasePruner | None = None,
             callbacks: Sequence[TrialCallback] = (),
             catch: tuple[type[Exception], ...] = (ValueError, ArithmeticError)) -> None:
    """Run ``n_trials`` trials of ``study`` (already created in ``storage_url``) on ``workers``.

    This process is worker 0; ``workers - 1`` more processes are spawned, each loading the study
    from the storage with its own TPE sampler (seed offset by the worker index, so workers do not
    propose the same start-up points). ``objective`` must be picklable.

    Parameters
    ----------
    study
        The created study, with sampler and pruner set (used by worker 0).
    storage_url
        Where the study lives; SQLite or journal storage is for one machine only.
    n_trials
        Total trials over all workers (split exactly); ``None``: until ``timeout``.
    timeout
        Seconds after which no worker starts a new trial.
    workers
        Processes on this machine (>= 1).
    seed
        Base seed of the extra workers' samplers.
    pruner
        Pruner of the extra workers (worker 0 uses ``study.pruner``).
    callbacks
        Called after each trial of worker 0 (extra workers log nothing).
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    shares = trial_shares(n_trials, workers)
    if workers == 1:
        study.optimize(objective, n_trials=shares[0], timeout=timeout, catch=catch,
                       callbacks=list(callbacks))
        return
    if storage_url.startswith("sqlite:"):
        logger.warning("%d workers share the SQLite storage %s: fine on one machine; for workers "
                       "on other machines use --storage postgresql://...", workers, storage_url)
    procs = _start_workers(study, storage_url, objective, shares, timeout, seed, pruner, catch)
    logger.info("study %r: %d worker processes (this one + %d)", study.study_name, workers,
                len(procs))
    try:
        if shares[0] != 0:
            study.optimize(objective, n_trials=shares[0], timeout=timeout, catch=catch,
                           callbacks=list(callbacks))
    finally:
        for p in procs:
            p.join()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        logger.warning("worker processes %s exited with an error; their trials may be missing",
                       failed)


def _start_workers(study: optuna.Study, storage_url: str,
                   objective: Callable[[optuna.Trial], float], shares: list[int | None],
                   timeout: float | None, seed: int, pruner: optuna.pruners.BasePruner | None,
                   catch: tuple[type[Exception], ...]) -> list[multiprocessing.process.BaseProcess]:
    """Spawn one process per extra worker with a share of trials (cores split between them)."""
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // len(shares))
    procs = [ctx.Process(target=_worker, name=f"optuna-worker-{i}",
                         args=(storage_url, study.study_name, objective, shares[i], timeout,
                               seed + 1000 * i + len(study.trials), pruner, catch, threads))
             for i in range(1, len(shares)) if shares[i] != 0]
    for p in procs:
        p.start()
    return procs


def _worker(storage_url: str, study_name: str, objective: Callable[[optuna.Trial], float],
            n_trials: int | None, timeout: float | None, seed: int,
            pruner: optuna.pruners.BasePruner | None, catch: tuple[type[Exception], ...],
            threads: int) -> None:
    """Entry point of a spawned worker: load the study, optimise its share, exit."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=resolve_storage(storage_url),
                              sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
                              pruner=pruner)
    study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=catch)


def worker_tag() -> str:
    """``host:pid`` of this process (stored on each trial as the ``worker`` attribute)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"

