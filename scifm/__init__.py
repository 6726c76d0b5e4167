"""scifm: from a scientist's data file to an honestly evaluated, tracked foundation-model study.

The command line is ``scifm`` (:mod:`scifm.cli`); :func:`load` is the Python API of a trained
run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load(run_dir: str | Path) -> Any:
    """A trained run directory's model, loaded once: ``scifm.load(run).predict(["CCO"])`` gives
    one result dict per input (:class:`scifm.serving.models.ServedModel`; imported here, on use,
    so that ``import scifm`` stays light)."""
    from scifm.serving.models import ServedModel

    return ServedModel.load(run_dir)
