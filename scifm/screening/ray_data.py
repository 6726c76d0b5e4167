"""The Ray Data pipeline of ``scifm screen --engine ray``: chunks in, predicted chunks out.

A :class:`ChunkFeed` (a thread of the driver) reads the chunks where ``scifm screen`` runs and
puts them on a Ray queue, at most ``window`` chunks not yet collected, so the driver's memory
stays flat whatever the library's size. The Dataset reads that queue (:class:`QueueSource`,
one read task that streams until the feed ends) and maps it with an actor pool of
:class:`ChunkWorker` (``map_batches``: each actor loads the model once, on its first chunk):

    queue -> read_datasource(QueueSource) -> map_batches(ChunkWorker, ActorPoolStrategy(n))
          -> iter_batches (input order: ``preserve_order``)

One chunk is one block and one batch: each block is a single row holding the pickled chunk (or
predicted chunk), and the context's target block size is 1 byte, so Ray Data neither merges
chunks into one task (which would serialise them on one actor) nor slices them into rows. The
pickles never leave the run: they carry data frames between the driver and the actors exactly
(dtypes included), as Ray's own serialisation of task arguments would.

A chunk whose actor dies (a native crash on an input) is not lost and does not loop: Ray Data
restarts the actor and retries the task (its defaults), and a :class:`CrashLedger` (a small
actor of the cluster) remembers which chunks were being predicted: a chunk still there when its
task starts again is one that killed an actor, so it comes back as ``None`` and the caller
re-runs it on a spare actor, row by row if need be (:mod:`scifm.screening.ray_engine`).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask
from ray.util.queue import Full, Queue

from scifm.data.contained import mark_worker
from scifm.data.io import require_columns
from scifm.evaluation.chunks import ChunkJob

__all__ = ["ChunkFeed", "ChunkWorker", "CrashLedger", "QueueSource", "predicted"]

END = b""
"""What the feed puts on the queue after its last chunk."""
POLL_S = 0.2
"""How often a blocked feed checks whether it was stopped."""


class ChunkWorker:
    """A Ray actor's state: the chunk job, its model loaded on the first chunk (then kept).

    Called by Ray Data with a one-row batch (``chunk``: a pickled ``(number, start, chunk)``);
    :meth:`predict` is the same for a plain actor (re-runs, :mod:`scifm.screening.ray_engine`).

    Parameters
    ----------
    job
        The chunk job (pickled without its model).
    threads
        OpenMP / BLAS threads of this actor (its share of the node's cores).
    ledger
        The :class:`CrashLedger` actor (Ray Data's actors; a spare actor has none).
    """

    def __init__(self, job: ChunkJob, threads: int, ledger: Any = None) -> None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        mark_worker()  # validation in this process: the actor's death is the containment
        self.job, self.ledger = job, ledger

    def predict(self, chunk: pd.DataFrame, start: int,
                checked: tuple[list, list] | None = None) -> pd.DataFrame:
        """The output rows of ``chunk``, whose first row is input row ``start``."""
        return self.job(chunk, start, checked)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = []
        for blob in batch["chunk"]:
            number, start, chunk = pickle.loads(blob)
            frame = None
            if ray.get(self.ledger.start.remote(number)):  # else it killed an actor: None
                frame = self.predict(chunk, start)
                self.ledger.done.remote(number)
            out.append(pickle.dumps((number, frame), protocol=5))
        return pd.DataFrame({"out": out})


class CrashLedger:
    """A Ray actor: the chunks being predicted. A chunk that starts again while still here was
    being predicted by an actor that died (Ray Data retries the task of a dead actor)."""

    def __init__(self) -> None:
        self.running: set[int] = set()

    def start(self, number: int) -> bool:
        """False when chunk ``number`` killed an actor (do not predict it again here)."""
        if number in self.running:
            return False
        self.running.add(number)
        return True

    def done(self, number: int) -> None:
        self.running.discard(number)


class QueueSource(Datasource):
    """A Ray Data source with one read task that yields the feed's chunks, one block each,
    until :data:`END`."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def estimate_inmemory_data_size(self) -> None:
        return None

    def get_read_tasks(self, parallelism: int, **_: Any) -> list[ReadTask]:
        queue = self.queue

        def read() -> Iterator[pd.DataFrame]:
            while (item := queue.get()) != END:
                yield pd.DataFrame({"chunk": [item]})

        return [ReadTask(read, BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None,
                                             input_files=None))]


class ChunkFeed:
    """Reads the chunks in a thread and puts them on a Ray queue, numbered, at most ``window``
    not yet collected; keeps those (for re-runs) until :meth:`take` hands them back.

    Parameters
    ----------
    chunks
        The input tables, in order.
    cols
        Columns each chunk must have (a missing one: :class:`~scifm.errors.DataError`, raised
        by :meth:`close`).
    source
        The input's name, for messages.
    window
        Chunks read but not collected yet, at most.
    """

    def __init__(self, chunks: Iterator[pd.DataFrame], cols: list[str], source: str,
                 window: int) -> None:
        self.queue = Queue(maxsize=window, actor_options={"num_cpus": 0})
        self.pending: dict[int, tuple[pd.DataFrame, int]] = {}
        self.lock = threading.Lock()  # pending: written by the thread, collected by the driver
        self.room = threading.Semaphore(window)
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._feed, args=(chunks, cols, source),
                                       name="scifm-ray-feed", daemon=True)
        self.thread.start()

    def _wait(self, step: Any) -> bool:
        """Retry ``step()`` (False: not yet) until it succeeds or the feed is stopped."""
        while not self.stopped.is_set():
            if step():
                return True
        return False

    def _put(self, item: bytes) -> bool:
        def put() -> bool:
            try:
                self.queue.put(item, timeout=POLL_S)
                return True
            except Full:
                return False

        return self._wait(put)

    def _feed(self, chunks: Iterator[pd.DataFrame], cols: list[str], source: str) -> None:
        start = 0
        try:
            for number, chunk in enumerate(chunks):
                require_columns(chunk, cols, source)
                if not self._wait(lambda: self.room.acquire(timeout=POLL_S)):
                    return
                with self.lock:
                    self.pending[number] = (chunk, start)
                if not self._put(pickle.dumps((number, start, chunk), protocol=5)):
                    return
                start += len(chunk)
        except BaseException as e:  # raised in the driver's thread by close()
            self.error = e
        self._put(END)

    def take(self, number: int) -> tuple[pd.DataFrame, int]:
        """``(chunk, start)`` of chunk ``number``, predicted: forgotten, room for the next."""
        with self.lock:
            kept = self.pending.pop(number)
        self.room.release()
        return kept

    def close(self) -> None:
        """Stop the thread, drop the queue; raise what reading the chunks raised."""
        self.stopped.set()
        self.thread.join()
        ray.kill(self.queue.actor)
        if self.error is not None:
            raise self.error


@contextmanager
def _context() -> Iterator[None]:
    """The Dataset's settings (copied into it when it is made; the current ones restored)."""
    ctx = ray.data.DataContext.get_current()
    settings = {"target_max_block_size": 1, "enable_progress_bars": False,
                "print_on_execution_start": False}
    saved = {k: getattr(ctx, k) for k in settings}
    order = ctx.execution_options.preserve_order
    try:
        for k, v in settings.items():
            setattr(ctx, k, v)
        ctx.execution_options.preserve_order = True
        yield
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)
        ctx.execution_options.preserve_order = order


def predicted(job: ChunkJob, feed: ChunkFeed, actors: int, threads: int,
              cpus: float) -> Iterator[tuple[int, pd.DataFrame | None]]:
    """``(chunk number, predicted chunk)`` in input order; ``None`` for a chunk that killed an
    actor (see the module doc).

    Parameters
    ----------
    actors, threads, cpus
        Size of the actor pool, threads and CPUs reserved per actor.
    """
    ledger = ray.remote(CrashLedger).options(num_cpus=0).remote()
    quiet = logging.getLogger("ray.data")  # scifm reports progress; Ray Data's errors still show
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with _context():
        ds = ray.data.read_datasource(QueueSource(feed.queue), override_num_blocks=1,
                                      num_cpus=0)
        ds = ds.map_batches(ChunkWorker, fn_constructor_args=(job, threads, ledger),
                            batch_size=None, batch_format="pandas", num_cpus=cpus,
                            compute=ray.data.ActorPoolStrategy(size=actors))
    try:
        with warnings.catch_warnings():  # "only 1 input": the one read task streams them all
            warnings.filterwarnings("ignore", "The minimum number of concurrent actors")
            for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
                for blob in batch["out"]:
                    yield pickle.loads(blob)
    finally:
        quiet.setLevel(level)
        ray.kill(ledger)
