"""Progress of long steps: one small wrapper over :mod:`rich.progress`, on stderr.

Every long step (reading and validating rows, featurising, fitting a family, LightGBM's boosting
rounds, a search's trials and folds, prediction chunks, transformer training) opens a
:class:`Bar` with :func:`track` (or :func:`start` / :meth:`Bar.close` where the step's start and
end are events, as in a ``transformers`` callback). A bar

* is drawn, with the others that are open, in one live display on :data:`console` (the console
  the CLI's log handler writes to, so log lines scroll above the bars) only where it helps: not
  with ``-q`` (:func:`configure`), not when stderr is not a terminal (CI, tests, pipes), not in
  a worker process or a ``torchrun`` process other than rank 0 (:func:`enabled`);
* logs its milestones whatever is drawn: the finished step (``featurising 5,000 SMILES (ecfp):
  5,000 of 5,000 inputs in 3.1 s (1,613 inputs/s)``) at the bar's level, or at INFO when it took
  :data:`SLOW_S` seconds or more (a step that long is a milestone), and, when nothing is drawn,
  how far it got every :data:`MILESTONE_EVERY_S` seconds, at INFO, so that ``log.txt`` and a CI
  log show a long step moving;
* disappears when it is closed (the display is transient): no bar is left frozen part-way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["MILESTONE_EVERY_S", "Bar", "close_all", "configure", "console", "enabled",
           "lightgbm_callback", "start", "track"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

console = Console(stderr=True)
"""stderr: the bars and the CLI's log lines (one console, so log lines print above the bars)."""
MILESTONE_EVERY_S = 30.0
"""When no bar is drawn: log how far a step got at most this often (seconds)."""
SLOW_S = 10.0
"""A step that took this long (seconds) logs its end at INFO whatever its bar's level."""
_STATE: dict[str, Any] = {"quiet": False, "live": None, "open": 0}
_LOCK = threading.RLock()


def configure(*, quiet: bool) -> None:
    """``quiet`` (``scifm -q``): draw no bar (milestones are still logged)."""
    _STATE["quiet"] = quiet


def is_main_process() -> bool:
    """Not a worker process (validation, prediction chunks, Optuna workers) and rank 0 (or no
    rank) of a ``torchrun`` launch."""
    return multiprocessing.parent_process() is None and os.environ.get("RANK", "0") == "0"


def enabled() -> bool:
    """Whether bars are drawn: not ``-q``, stderr a terminal, the main process."""
    return (not _STATE["quiet"] and console.is_terminal and not console.is_dumb_terminal
            and is_main_process())


class _Count(ProgressColumn):
    """``512/1,128`` (``512`` without a total; nothing for a spinner that counts nothing)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            shown = f"{task.completed:,.0f}" if task.completed else ""
        else:
            shown = f"{task.completed:,.0f}/{task.total:,.0f}"
        return Text(shown, style="progress.download")


class _Rate(ProgressColumn):
    """``1,613 inputs/s`` (the task's ``unit``; nothing without one or before a speed is known)."""

    def render(self, task: Task) -> Text:
        unit, speed = task.fields.get("unit"), task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {unit}/s" if unit and speed else "", style="progress.data.speed")


def _live() -> Progress:
    """The live display, started with the first open bar."""
    if _STATE["live"] is None:
        live = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                        _Count(), _Rate(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        redirect_stdout=False)  # stdout is for results: not moved to stderr
        live.start()
        _STATE["live"] = live
    return _STATE["live"]


class Bar:
    """One step's progress: drawn when :func:`enabled`, logged always (see the module doc)."""

    def __init__(self, description: str, total: float | None, unit: str, level: int) -> None:
        self.description, self.total, self.unit, self.level = description, total, unit, level
        self.completed = 0.0
        self.started = self._logged = time.monotonic()
        self.task: TaskID | None = None
        self.closed = False
        if enabled():
            with _LOCK:
                self._live = _live()
                self.task = self._live.add_task(description, total=total, unit=unit)
                _STATE["open"] += 1

    def _drawn(self) -> Progress | None:
        """The live display this bar is on, while it is still shown."""
        return self._live if self.task is not None and self._live is _STATE["live"] else None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def advance(self, n: float = 1) -> None:
        """``n`` more units done."""
        self.update(completed=self.completed + n)

    def update(self, *, completed: float | None = None, total: float | None = None,
               description: str | None = None) -> None:
        """Set how much is done, the total or the description (``None``: unchanged)."""
        self.completed = self.completed if completed is None else completed
        self.total = self.total if total is None else total
        self.description = description or self.description
        live = self._drawn()
        if live is not None:
            live.update(self.task, completed=completed, total=total, description=description)
        elif time.monotonic() - self._logged >= MILESTONE_EVERY_S:
            self._logged = time.monotonic()
            logger.info("%s: %s so far (%.0f s)", self.description, self._count(), self.elapsed)

    def iter(self, items: Iterable[T], every: int = 64) -> Iterator[T]:
        """``items``, advancing the bar by one per item (updated every ``every`` items)."""
        pending = 0
        for item in items:
            yield item
            pending += 1
            if pending == every:
                self.advance(pending)
                pending = 0
        self.advance(pending)

    def _count(self) -> str:
        of = f" of {self.total:,.0f}" if self.total else ""
        return f"{self.completed:,.0f}{of} {self.unit}".rstrip()

    def close(self, note: str | None = None, *, done: bool = True) -> None:
        """Remove the bar; when ``done``, log the finished step (``note``, or how much was done
        in how long). Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        with _LOCK:
            live = self._drawn()
            if live is not None:
                live.remove_task(self.task)  # type: ignore[arg-type]
                _STATE["open"] -= 1
                if _STATE["open"] == 0:
                    close_all()
        if done:
            level = logging.INFO if self.elapsed >= SLOW_S else self.level
            logger.log(max(level, self.level), "%s", note or self._summary())

    def _summary(self) -> str:
        secs = self.elapsed
        rate = (f" ({self.completed / secs:,.0f} {self.unit}/s)"
                if self.unit and self.completed and secs > 0 else "")
        count = f"{self._count()} in " if self.completed else ""
        return f"{self.description}: {count}{secs:.1f} s{rate}"


def close_all() -> None:
    """Take every bar off the screen (a command that failed: its error line is then the last
    thing shown); the bars still open only log from now on."""
    with _LOCK:
        live, _STATE["live"], _STATE["open"] = _STATE["live"], None, 0
        if live is not None:
            live.stop()


def start(description: str, total: float | None = None, *, unit: str = "",
          level: int = logging.INFO) -> Bar:
    """Open a bar (``total=None``: a spinner with the elapsed time); close it with
    :meth:`Bar.close`."""
    return Bar(description, total, unit, level)


@contextmanager
def track(description: str, total: float | None = None, *, unit: str = "",
          level: int = logging.INFO) -> Iterator[Bar]:
    """A bar for the ``with`` block: closed at its end (the finished step logged at ``level``
    unless the block raised)."""
    bar = start(description, total, unit=unit, level=level)
    try:
        yield bar
    except BaseException:
        bar.close(done=False)
        raise
    bar.close()


def lightgbm_callback(bar: Bar) -> Callable[[Any], None]:
    """A LightGBM callback (``lgb.train(callbacks=[...])``) that moves ``bar`` to the current
    boosting round out of ``num_boost_round`` (early stopping ends the bar's block early)."""

    def rounds(env: Any) -> None:
        bar.update(completed=env.iteration - env.begin_iteration + 1,
                   total=env.end_iteration - env.begin_iteration)

    rounds.order = 40  # type: ignore[attr-defined]  # after record_evaluation / early_stopping
    return rounds
