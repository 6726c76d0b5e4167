"""The ``scifm`` command line (Typer): one module per command, shared options in ``options``."""

import time

_START = {"at": time.monotonic()}


def mark_start() -> None:
    """Called when a command starts (the app's callback, before any heavy import)."""
    _START["at"] = time.monotonic()


def started() -> float:
    """When the running command started (``time.monotonic()``): ``scifm auto --time-budget``
    counts from here, so the command's own imports are part of the budget."""
    return _START["at"]
