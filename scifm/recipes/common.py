"""Small pieces the recipes share: the run log file and model metadata updates."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scifm.models.base import MODEL_META
from scifm.utils.io import atomic_write_json


def attach_run_log(path: Path) -> Callable[[], None]:
    """Copy every ``scifm`` log record into ``path``; returns a function that detaches it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("scifm")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)

    def detach() -> None:
        root.removeHandler(handler)
        handler.close()

    return detach


def update_model_meta(model_dir: Path, **entries: Any) -> None:
    """Add keys to ``model_dir/scifm.json`` (written by the predictor's ``save``)."""
    meta_path = model_dir / MODEL_META
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(entries)
    atomic_write_json(meta_path, meta)
