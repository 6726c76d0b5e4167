"""Validation where a crash is contained: worker processes that stream their verdicts back.

A validator that calls a native library (RDKit) can kill the process on a hostile input: a
segfault is not an exception. :func:`validate_contained` therefore runs such a validator in
worker processes, one contiguous slice of the inputs per worker (large slices, at least
:data:`MIN_ROWS` rows; one idle worker is kept for the next call, so validating a chunk at a time
costs a message, not a process start; further workers start in milliseconds with the
``forkserver`` start method). Each worker sends its verdicts back every :data:`BATCH` rows. When
a worker dies, the rows it had reported are kept and the rest of its last batch is re-run one
row per message on a fresh worker, so the next death names the offender, which is rejected with
the reason ``crashed the parser (RDKit): killed by SIGSEGV``; the remaining rows go on in
batches. A worker that reports nothing for :data:`STALL_S` seconds is killed and handled the same
way (``timed out in the parser (...)``).

Worker processes never write core dumps. A process that is itself a disposable worker (a
``scifm predict`` chunk worker, which is the containment there: :func:`mark_worker`) or a daemon
process (which may not start children: DataLoader workers) validates in-process.
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from scifm.data.datapoints import InvalidInput

logger = logging.getLogger(__name__)

__all__ = ["BATCH", "MIN_ROWS", "STALL_S", "WorkerStartError", "can_contain", "iter_verdicts",
           "mark_worker", "no_core_dumps", "validate_contained"]

Verdict = tuple[str | None, str | None]
"""``(canonical, None)`` for a valid input, ``(None, reason)`` for an invalid one."""

BATCH = 256
"""Rows per message from a worker: a crash is isolated among at most this many rows."""
MIN_ROWS = 2_000
"""Rows per worker at least: small inputs use fewer workers."""
STALL_S = 300.0
"""Seconds a worker may go without reporting before it is killed (inputs are size-limited, so
a batch takes well under a second)."""

_IN_WORKER = False
_CANNOT_START = False
"""Set when a worker process failed to start (e.g. a ``python -`` script, whose main module a
worker cannot import): this process then validates in-process, with one warning."""


class WorkerStartError(RuntimeError):
    """A worker process cannot run the validator (it cannot be pickled, or not imported there)."""


def mark_worker() -> None:
    """Declare this process a disposable worker: its own death is the containment, so
    validation here runs in-process (no nested worker processes)."""
    global _IN_WORKER
    _IN_WORKER = True
    no_core_dumps()


def can_contain() -> bool:
    """Whether this process validates crash-prone inputs in worker processes."""
    return not (_IN_WORKER or _CANNOT_START or multiprocessing.current_process().daemon)


def no_core_dumps() -> None:
    """A crash in this process writes no core file (it would land in the user's folder)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # not on this platform
        pass


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _context(modules: Sequence[str]) -> Any:
    """``forkserver`` (a clean, single-threaded process forks each worker, with ``modules``
    imported once) where available, else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "scifm.data.contained", *modules])
    return ctx


def _portable(err: BaseException) -> BaseException:
    try:
        pickle.dumps(err)
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _serve(conn: Connection) -> None:
    """Worker: answer ``(factory, data_cfg, values, batch)`` requests until the parent hangs up,
    sending ``("rows", verdicts)`` every ``batch`` values, then ``("done", None)``."""
    no_core_dumps()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn.send(("ready", None))  # a worker that dies before this could not start
    built: tuple[Any, Any, Callable[[str], str]] | None = None
    while True:
        try:
            factory, data_cfg, values, batch = conn.recv()
        except EOFError:
            return
        except Exception as err:  # the validator cannot be imported here
            conn.send(("unavailable", f"{type(err).__name__}: {err}"))
            continue
        try:
            if built is None or built[:2] != (factory, data_cfg):
                built = (factory, data_cfg, factory(data_cfg))
        except Exception as err:
            conn.send(("error", _portable(err)))
            continue
        _answer(conn, built[2], values, batch)


def iter_verdicts(validate: Callable[[str], str], values: Iterable[str]) -> Iterator[Verdict]:
    """``(canonical, None)`` or ``(None, reason)`` of each value, in order; an exception other
    than :class:`InvalidInput` (a bug, not a verdict) propagates."""
    for v in values:
        try:
            yield validate(v), None
        except InvalidInput as err:
            yield None, err.reason


def _answer(conn: Connection, validate: Callable[[str], str], values: list[str],
            batch: int) -> None:
    out: list[Verdict] = []
    try:
        for verdict in iter_verdicts(validate, values):
            out.append(verdict)
            if len(out) >= batch:
                conn.send(("rows", out))
                out = []
    except Exception as err:  # the caller re-raises it
        conn.send(("rows", out))
        conn.send(("error", _portable(err)))
        return
    conn.send(("rows", out))
    conn.send(("done", None))


@dataclass
class _Worker:
    """A worker process and the parent's end of its pipe."""

    proc: Any
    conn: Connection
    ready: bool = False
    """The worker said it is serving (a death before that is a failed start, not a crash)."""

    @classmethod
    def start(cls, ctx: Any) -> _Worker:
        ours, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_serve, args=(theirs,), daemon=True, name="scifm-validate")
        proc.start()
        theirs.close()  # the worker holds the only other end: its death is EOF here
        return cls(proc, ours)

    def stop(self) -> None:
        self.conn.close()  # the worker sees EOF and exits
        self.proc.join(timeout=5)


_WARM: list[_Worker] = []
"""Idle workers kept for the next call (at most :data:`KEEP_WARM`), so many small calls (a
chunk at a time) cost a message each, not a process start."""
KEEP_WARM = 1
_LOCK = threading.Lock()


def _acquire(ctx: Any) -> _Worker:
    with _LOCK:
        while _WARM:
            worker = _WARM.pop()
            if worker.proc.is_alive():
                return worker
    return _Worker.start(ctx)


def _release(worker: _Worker) -> None:
    with _LOCK:
        if len(_WARM) < KEEP_WARM and worker.proc.is_alive():
            _WARM.append(worker)
            return
    worker.stop()


@dataclass
class _Job:
    """Rows ``start`` to ``stop`` on one worker (``next``: the first row not reported yet)."""

    start: int
    stop: int
    row_mode: bool
    worker: _Worker | None = None
    next: int = 0
    heard: float = field(default_factory=time.monotonic)
    stalled: bool = False


def _died(code: int | None, library: str, stalled: bool) -> str:
    if stalled:
        return f"timed out in the parser ({library}): no answer in {STALL_S:g} s"
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit code {code}"
    return f"crashed the parser ({library}): {how}"


def _cannot_start(code: int | None) -> None:
    global _CANNOT_START
    _CANNOT_START = True
    raise WorkerStartError(f"validation worker processes cannot start here (exit code {code})")


class _Runner:
    """The parent's side: hand slices to workers, collect verdicts, isolate crashes."""

    def __init__(self, factory: Callable, data_cfg: Any, values: list[str], library: str,
                 modules: Sequence[str], workers: int,
                 on_rows: Callable[[int], None] | None = None) -> None:
        self.factory, self.data_cfg, self.values = factory, data_cfg, values
        self.library, self.on_rows = library, on_rows or (lambda n: None)
        self.ctx = _context(modules)
        n = len(values)
        self.workers = max(1, min(workers, math.ceil(n / MIN_ROWS)))
        bounds = [round(i * n / self.workers) for i in range(self.workers + 1)]
        self.todo: deque[_Job] = deque(_Job(a, b, False) for a, b in itertools.pairwise(bounds)
                                       if b > a)
        self.running: dict[Connection, _Job] = {}
        self.verdicts: list[Verdict | None] = [None] * n
        self.crashed: list[int] = []

    def run(self) -> list[Verdict]:
        try:
            while self.todo or self.running:
                while self.todo and len(self.running) < self.workers:
                    self._start(self.todo.popleft())
                for conn in wait(list(self.running), timeout=1.0):
                    self._receive(self.running[conn])  # type: ignore[index]
                self._kill_stalled()
        finally:
            for job in self.running.values():  # an error: their answers are of no use now
                job.worker.proc.kill()  # type: ignore[union-attr]
                job.worker.stop()  # type: ignore[union-attr]
        return self.verdicts  # type: ignore[return-value]

    def _start(self, job: _Job) -> None:
        worker = _acquire(self.ctx)
        job.worker, job.next, job.heard = worker, job.start, time.monotonic()
        try:
            worker.conn.send((self.factory, self.data_cfg, self.values[job.start:job.stop],
                              1 if job.row_mode else BATCH))
        except OSError:  # it died already: its EOF says whether it ever started
            pass
        except Exception as err:  # cannot be pickled: nothing was sent
            _release(worker)
            raise WorkerStartError(f"cannot hand the validator to a worker process "
                                   f"({type(err).__name__}: {err})") from None
        self.running[worker.conn] = job

    def _receive(self, job: _Job) -> None:
        worker: _Worker = job.worker  # type: ignore[assignment]
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            del self.running[worker.conn]
            worker.stop()
            if not worker.ready:
                _cannot_start(worker.proc.exitcode)
            self._isolate(job, worker.proc.exitcode)
            return
        job.heard = time.monotonic()
        if kind == "ready":
            worker.ready = True
            return
        if kind == "rows":
            self.verdicts[job.next:job.next + len(payload)] = payload
            job.next += len(payload)
            self.on_rows(len(payload))
            return
        del self.running[worker.conn]
        _release(worker)
        if kind == "unavailable":
            raise WorkerStartError(f"a worker process cannot load the validator ({payload})")
        if kind == "error":
            raise payload

    def _isolate(self, job: _Job, code: int | None) -> None:
        """A worker died before reporting every row: find the row that killed it."""
        if job.next >= job.stop:  # every row was reported (it died on its way out)
            return
        if not job.row_mode and job.stop - job.next > 1:  # re-run the rest of the batch
            # one row per message
            end = min(job.next + BATCH, job.stop)
            self.todo.appendleft(_Job(job.next, end, True))
            if end < job.stop:
                self.todo.append(_Job(end, job.stop, False))
            return
        bad = job.next
        self.verdicts[bad] = (None, _died(code, self.library, job.stalled))
        self.crashed.append(bad)
        self.on_rows(1)
        logger.warning("input %r %s; rejected", self.values[bad][:60],
                       self.verdicts[bad][1])  # type: ignore[index]
        if bad + 1 < job.stop:
            self.todo.appendleft(_Job(bad + 1, job.stop, True))

    def _kill_stalled(self) -> None:
        now = time.monotonic()
        for job in self.running.values():
            if not job.stalled and now - job.heard > STALL_S:
                job.stalled = True
                job.worker.proc.kill()  # type: ignore[union-attr]


def validate_contained(factory: Callable[[Any], Callable[[str], str]], data_cfg: Any,
                       values: Sequence[str], library: str, modules: Sequence[str] = (),
                       workers: int | None = None, on_rows: Callable[[int], None] | None = None,
                       ) -> tuple[list[Verdict], list[int]]:
    """Validate ``values`` in worker processes; a crash rejects only the input that caused it.

    Parameters
    ----------
    factory, data_cfg
        ``factory(data_cfg)`` builds the validator in each worker (a modality's ``validator``
        hook; picklable, i.e. a module-level function).
    values
        Raw strings.
    library, modules
        The native library, for messages, and modules each worker imports up front
        (:class:`~scifm.modalities.base.NativeCode`).
    workers
        At most this many processes at once (default: one per available CPU core; fewer for
        small inputs, :data:`MIN_ROWS` rows each at least).
    on_rows
        Called with the number of values just judged, as the workers report them (a progress
        bar's ``advance``).

    Returns
    -------
    verdicts, crashed
        Per value ``(canonical, None)`` or ``(None, reason)``; the indices of the values that
        crashed (or hung) a worker.

    Raises
    ------
    WorkerStartError
        The validator cannot run in a worker (the caller may validate in-process instead).
    Exception
        Whatever the validator raised other than ``InvalidInput`` (a bug), as in-process.
    """
    if not values:
        return [], []
    runner = _Runner(factory, data_cfg, list(values), library, modules, workers or _cpus(),
                     on_rows)
    return runner.run(), runner.crashed
