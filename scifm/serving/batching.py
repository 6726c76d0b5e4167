"""Dynamic micro-batching: concurrent requests to one model are predicted in one call.

Every served model (feature-based and transformer alike) has one :class:`MicroBatcher`. A request
puts its items on an asyncio queue; one worker task takes the first waiting request, collects
the ones that arrive within ``max_wait_s`` (or until ``max_items`` items are gathered), predicts
them all in one call in a thread (the event loop stays free) and splits the results back, in
order. A transformer then runs one forward pass for many small requests; a feature-based model
saves the per-call overhead. Requests that timed out while queued are skipped. If the merged call
fails, each request is predicted on its own, so one request's failure is not another's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

__all__ = ["MicroBatcher"]

Pending = tuple[list, "asyncio.Future[list]"]
"""A queued request: its items and the future its results are set on."""


class MicroBatcher:
    """Collects concurrent requests for one model and predicts them together.

    Parameters
    ----------
    predict
        ``predict(items) -> results``, one result per item, in order (blocking; run in a thread).
    max_wait_s
        How long the first request of a batch waits for others (seconds).
    max_items
        Most items in one merged call (a single larger request still runs, alone).
    """

    def __init__(self, predict: Callable[[list], list], max_wait_s: float = 0.005,
                 max_items: int = 1000) -> None:
        self.predict = predict
        self.max_wait_s = max_wait_s
        self.max_items = max_items
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Pending] | None = None
        self._task: asyncio.Task | None = None
        self.n_calls = 0
        """Merged predict calls made so far (for tests and logs)."""

    @property
    def healthy(self) -> bool:
        """False when the worker task died (it never should: failures go to the requests)."""
        return self._task is None or not self._task.done() or self._task.cancelled()

    async def submit(self, items: list) -> list:
        """The results of ``items``, predicted together with concurrent requests."""
        queue = self._worker()
        future: asyncio.Future[list] = asyncio.get_running_loop().create_future()
        await queue.put((items, future))
        return await future

    def _worker(self) -> asyncio.Queue[Pending]:
        """The queue of this event loop, its worker started on first use (a test client may
        run each request in a new loop: a new loop gets a new queue and worker)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue))
        assert self._queue is not None
        return self._queue

    async def close(self) -> None:
        """Stop the worker task (queued requests are cancelled)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self, queue: asyncio.Queue[Pending]) -> None:
        while True:
            batch = await self._collect(queue)
            batch = [(items, fut) for items, fut in batch if not fut.done()]  # timed out
            if batch:
                await self._predict(batch)

    async def _collect(self, queue: asyncio.Queue[Pending]) -> list[Pending]:
        """The first waiting request plus those arriving within ``max_wait_s``."""
        batch = [await queue.get()]
        n_items = len(batch[0][0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while n_items < self.max_items:
            left = deadline - loop.time()
            if left <= 0 and queue.empty():
                break
            try:
                pending = queue.get_nowait() if left <= 0 else await asyncio.wait_for(
                    queue.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            batch.append(pending)
            n_items += len(pending[0])
        return batch

    async def _predict(self, batch: list[Pending]) -> None:
        items = [item for request, _ in batch for item in request]
        self.n_calls += 1
        try:
            results = await asyncio.to_thread(self.predict, items)
        except Exception as e:  # noqa: BLE001 - the requests get the error, the worker lives on
            if len(batch) > 1:  # whose request failed it? each one on its own
                for one in batch:
                    await self._predict([one])
                return
            logger.error("prediction failed: %s", type(e).__name__)  # no inputs in the log
            if not batch[0][1].done():
                batch[0][1].set_exception(e)
            return
        start = 0
        for request, future in batch:
            if not future.done():
                future.set_result(results[start:start + len(request)])
            start += len(request)
