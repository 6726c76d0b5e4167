"""The resumable state of a screen: a folder ``OUT_STEM.screen/`` beside the output.

It holds ``state.json`` (the fingerprint: the models' manifests, the library's path, size and
modification time, the options that change the output) and one Parquet file per finished chunk
of each stage (``scored-00000003.parquet``: written atomically, so a file is either whole or
absent). A rerun of the same command skips the finished chunks (the longest run of them from
the first; a file after a gap is redone) and builds the outputs from the files, so they are the
same as an uninterrupted run's. A state with another fingerprint is refused in one line unless
``--restart``; the folder is removed once the outputs are written.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from scifm.errors import OutputError
from scifm.models.manifest import MANIFEST
from scifm.utils.io import atomic_path, atomic_write_json, file_sha256

logger = logging.getLogger(__name__)

__all__ = ["STATE", "ScreenState", "library_fingerprint", "model_fingerprint", "state_folder"]

STATE = "state.json"


def state_folder(out: Path) -> Path:
    """``hits.parquet`` -> ``hits.screen/`` beside it."""
    return out.with_name(f"{out.stem}.screen")


def model_fingerprint(model_dir: Path) -> str:
    """SHA-256 of the model folder's manifest (which lists every file's SHA-256)."""
    return file_sha256(model_dir / MANIFEST)


def library_fingerprint(path: Path) -> dict[str, Any]:
    """The library's resolved path, size and modification time (not its contents: a library of
    10⁹ rows is not hashed twice)."""
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


class ScreenState:
    """The state folder of one screen (see the module doc).

    Parameters
    ----------
    folder
        ``OUT_STEM.screen/``.
    fingerprint
        What the finished chunks depend on (JSON-serialisable).
    """

    def __init__(self, folder: Path, fingerprint: dict[str, Any]) -> None:
        self.folder, self.fingerprint = folder, json.loads(json.dumps(fingerprint))

    @classmethod
    def open(cls, folder: Path, fingerprint: dict[str, Any], restart: bool) -> ScreenState:
        """Resume the state in ``folder`` when it matches, else start one.

        Raises
        ------
        OutputError
            ``folder`` holds another screen's state (and not ``restart``), or files that no
            screen wrote.
        """
        state = cls(folder, fingerprint)
        file = folder / STATE
        if folder.exists() and not file.is_file() and any(folder.iterdir()):
            raise OutputError(f"{folder} exists and was not written by scifm screen; move it "
                              "away or choose another --out")
        if file.is_file():
            old = json.loads(file.read_text(encoding="utf-8")).get("fingerprint", {})
            if old != state.fingerprint and not restart:
                changed = ", ".join(_differences(old, state.fingerprint)) or "settings"
                raise OutputError(f"{folder} holds an interrupted screen with other settings "
                                  f"({changed} changed): rerun it unchanged to resume, or add "
                                  "--restart to start over")
            if restart:
                shutil.rmtree(folder)
            elif old == state.fingerprint:
                logger.info("resuming the interrupted screen in %s", folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(file, {"fingerprint": state.fingerprint})
        return state

    def _file(self, stage: str, i: int) -> Path:
        return self.folder / f"{stage}-{i:08d}.parquet"

    def finished(self, stage: str) -> int:
        """How many chunks of ``stage`` are done (0..n-1 all present); later files removed."""
        n = 0
        while self._file(stage, n).is_file():
            n += 1
        for stray in self.folder.glob(f"{stage}-*.parquet"):
            if int(stray.stem.rsplit("-", 1)[1]) >= n:
                stray.unlink()
        return n

    def write(self, stage: str, i: int, frame: pd.DataFrame) -> None:
        """Save chunk ``i`` of ``stage`` (atomically)."""
        with atomic_path(self._file(stage, i)) as tmp:
            frame.to_parquet(tmp, index=False)

    def frames(self, stage: str, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The saved chunks of ``stage``, in order (only ``columns`` when given)."""
        i = 0
        while self._file(stage, i).is_file():
            yield pd.read_parquet(self._file(stage, i), columns=columns)
            i += 1

    def remove(self) -> None:
        """Delete the folder (the outputs are written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
