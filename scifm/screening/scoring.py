"""Scoring chunks into the state folder: resume, engine, one saved file per chunk.

A :class:`ChunkScorer` hands the chunks that are not finished yet to an engine
(:func:`scifm.evaluation.chunks.predict_chunks`, or ``--engine ray``'s ``ray_predicted``: the
same contract, predicted frames in input order), gives each output row the ``row_id`` of its
input row (the chunk's index: a global row number, or the library row a re-scored row came
from), lets the caller settle the frame (duplicates, column types) and saves it as that chunk's
file of the state (:mod:`scifm.screening.state`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scifm.errors import ConfigError
from scifm.evaluation.chunks import ChunkJob, predict_chunks
from scifm.screening.state import ScreenState

__all__ = ["ChunkScorer", "Engine", "engine"]

Engine = Callable[[ChunkJob, Iterator[pd.DataFrame], int, str], Iterator[pd.DataFrame]]
"""``engine(job, chunks, workers, source)``: predicted frames in input order."""


def engine(name: str) -> Engine:
    """The engine named by ``--engine`` (``local`` or ``ray``; Ray is imported only here)."""
    if name == "local":
        return predict_chunks
    if name == "ray":
        from scifm.screening.ray_engine import ray_predicted, require_ray

        require_ray()  # one line with the install command before anything is read
        return ray_predicted
    raise ConfigError(f"--engine {name!r}: use local or ray")


def _per_chunk(frames: Iterator[pd.DataFrame],
               pending: deque) -> Iterator[tuple[int, np.ndarray, pd.DataFrame]]:
    """``(chunk number, row ids, output rows)`` per input chunk, whatever sizes the engine's
    frames have (in input order, one output row per input row)."""
    buf: list[pd.DataFrame] = []
    have = 0
    for frame in frames:
        buf.append(frame)
        have += len(frame)
        while pending and have >= len(pending[0][1]):
            i, ids = pending.popleft()
            whole = pd.concat(buf, ignore_index=True) if len(buf) > 1 else \
                buf[0].reset_index(drop=True)
            part, rest = whole.iloc[:len(ids)].copy(), whole.iloc[len(ids):]
            part["row_id"] = ids
            buf, have = ([rest] if len(rest) else []), len(rest)
            yield i, ids, part
    if pending or have:
        raise RuntimeError(f"the engine returned {have} rows too many or "
                           f"{sum(len(p[1]) for p in pending)} too few")


@dataclass
class ChunkScorer:
    """Scores the unfinished chunks of one stage and saves each (see the module doc)."""

    job: ChunkJob
    engine: Engine
    workers: int
    state: ScreenState
    source: str
    """The input's name, for messages."""

    def run(self, stage: str, chunks: Iterable[pd.DataFrame],
            settle: Callable[[pd.DataFrame], pd.DataFrame],
            advance: Callable[[int], Any] = lambda n: None) -> int:
        """Score and save every chunk of ``chunks`` that ``stage`` has not finished.

        Parameters
        ----------
        stage
            The state files' prefix.
        chunks
            The input chunks in order; each index holds the rows' ids.
        settle
            ``settle(frame) -> frame`` to save (called in order, finished chunks skipped).
        advance
            Called with the number of rows of each chunk done (skipped or scored).

        Returns
        -------
        int
            Rows skipped because their chunk was finished by an earlier, interrupted run.
        """
        done = self.state.finished(stage)
        pending: deque = deque()
        skipped = [0]

        def todo() -> Iterator[pd.DataFrame]:
            for i, chunk in enumerate(chunks):
                if i < done:
                    skipped[0] += len(chunk)
                    advance(len(chunk))
                    continue
                if len(chunk):
                    pending.append((i, chunk.index.to_numpy(dtype="int64")))
                    yield chunk

        frames = self.engine(self.job, todo(), self.workers, self.source)
        for i, _, frame in _per_chunk(frames, pending):
            self.state.write(stage, i, settle(frame))
            advance(len(frame))
        return skipped[0]
