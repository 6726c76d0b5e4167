"""The one small interface every model family implements.

A *predictor* maps raw (already validated and canonicalised) inputs — SMILES strings, sequences or
texts — to predictions. Families are registered in :mod:`scifm.models.families`; the recipes
only talk to this protocol.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from scifm.errors import RunDirError
from scifm.models.manifest import update_manifest
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json

MODEL_META = "scifm.json"
"""File inside every saved ``model/`` folder: family, modality, task, preprocessing options."""


@runtime_checkable
class Predictor(Protocol):
    """fit / predict / save / load; see :mod:`scifm.tasks` for the shapes of ``y`` and outputs."""

    family: str
    """Short name of the model family (``lightgbm``, ``transformer``)."""
    task: TaskSpec
    history_: list[dict[str, Any]]
    """Per-epoch (or per-boosting-round block) training log: dicts with ``epoch`` and metric keys
    such as ``train_loss`` and ``val_loss``; used for learning curves and tracking."""

    def fit(
        self,
        x_train: Sequence[str],
        y_train: np.ndarray,
        x_val: Sequence[str] | None = None,
        y_val: np.ndarray | None = None,
    ) -> Predictor:
        """Train on ``x_train``/``y_train`` (``n x n_tasks``, NaN = missing), early-stop on val."""
        ...

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """Predict; shape ``n x n_outputs`` (see :mod:`scifm.tasks`)."""
        ...

    def save(self, path: Path) -> None:
        """Write the model into folder ``path`` (no pickle), including ``scifm.json``, as a whole
        (:func:`scifm.models.manifest.staged_folder`: staged, with its manifest)."""
        ...


def update_model_meta(model_dir: Path, **entries: Any) -> None:
    """Add keys to ``model_dir/scifm.json`` (written by the predictor's ``save``) and re-hash it
    in the folder's manifest."""
    meta_path = Path(model_dir) / MODEL_META
    meta = read_model_json(meta_path)
    meta.update(entries)
    atomic_write_json(meta_path, meta)
    update_manifest(model_dir, MODEL_META)


def read_model_json(file: Path) -> dict[str, Any]:
    """The JSON object in ``file`` of a saved model folder (``scifm.json``, ``featurizer.json``).

    Raises
    ------
    RunDirError
        The file is missing, unreadable or does not hold a JSON object.
    """
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"model file missing: {file}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"cannot read {file}: {err}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{file} does not hold a JSON object")
    return data
