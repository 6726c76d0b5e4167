"""A saved model folder as one unit: written whole (staged, then renamed) with a SHA-256 manifest.

Every family's ``save`` writes its files inside :func:`staged_folder`: a temporary sibling of the
target that is renamed into place only once complete, so a crash mid-save never leaves a
half-written ``model/`` and a save into a folder that held another model leaves none of its files
behind (a LightGBM model saved over a transformer keeps no ``model.safetensors``). The last file
written is ``manifest.json``::

    {"scifm_version": "0.1.0", "algorithm": "sha256",
     "files": {"scifm.json": {"sha256": "...", "bytes": 812}, "model.safetensors": {...}, ...}}

It lists every file of the folder (sub-folders included: a PEFT adapter's ``base/``, an
ensemble's ``members/``), so :func:`verify_manifest` finds a truncated, swapped, missing or added
file and names it. Hidden files (``.name``) are neither listed nor checked.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from scifm.errors import RunDirError
from scifm.utils.io import atomic_write_json, file_sha256

__all__ = ["MANIFEST", "file_sha256", "folder_files", "read_manifest", "replace_folder",
           "staged_folder", "update_manifest", "verify_manifest", "write_manifest"]

MANIFEST = "manifest.json"
"""File of a saved model folder listing the SHA-256 hash and size of every other file."""
_DAMAGED = "the model folder was changed or damaged; retrain or restore it"


def _scifm_version() -> str:
    try:
        return metadata.version("scifm")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


def folder_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the regular files under ``folder`` (hidden names and the top-level
    manifest excluded), sorted."""
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def _entry(file: Path) -> dict[str, Any]:
    return {"sha256": file_sha256(file), "bytes": file.stat().st_size}


def write_manifest(folder: Path) -> None:
    """Write ``folder/manifest.json`` listing every file of ``folder`` (call it last)."""
    folder = Path(folder)
    files = {rel: _entry(folder / rel) for rel in folder_files(folder)}
    atomic_write_json(folder / MANIFEST, {"scifm_version": _scifm_version(),
                                          "algorithm": "sha256", "files": files})


def update_manifest(folder: Path, *relpaths: str) -> None:
    """Re-hash ``relpaths`` (files rewritten after the save, e.g. ``scifm.json``) in the manifest
    of ``folder``; nothing happens when the folder has none."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return
    for rel in relpaths:
        manifest["files"][rel] = _entry(folder / rel)
    atomic_write_json(folder / MANIFEST, manifest)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` (None when it has none).

    Raises
    ------
    RunDirError
        The manifest is unreadable or not a manifest.
    """
    file = Path(folder) / MANIFEST
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"cannot read {file}: {err}; {_DAMAGED}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("bytes"), int)
        and _safe_relpath(k) for k, v in files.items()
    ):
        raise RunDirError(f"{file} is not a valid model manifest; {_DAMAGED}")
    return data


def _safe_relpath(rel: Any) -> bool:
    """A manifest entry names a file inside the folder (no absolute path, no ``..``)."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        return False
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts


def verify_manifest(folder: Path) -> bool:
    """Check every file of ``folder`` against its manifest.

    Returns
    -------
    bool
        True when verified, False when the folder has no manifest (saved before scifm wrote one).

    Raises
    ------
    RunDirError
        One line naming the first file that is missing, added, or whose size or SHA-256 differs.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    listed: dict[str, dict[str, Any]] = manifest["files"]
    for rel, want in listed.items():
        file = folder / rel
        if not file.is_file():
            raise RunDirError(f"{file} is missing (listed in {folder / MANIFEST}): {_DAMAGED}")
        size = file.stat().st_size
        if size != want["bytes"]:
            raise RunDirError(f"{file} does not match its manifest ({size} bytes, expected "
                              f"{want['bytes']}): {_DAMAGED}")
        digest = file_sha256(file)
        if digest != want["sha256"]:
            raise RunDirError(f"{file} does not match its manifest (sha256 {digest[:12]}..., "
                              f"expected {want['sha256'][:12]}...): {_DAMAGED}")
    extra = sorted(set(folder_files(folder)) - set(listed))
    if extra:
        raise RunDirError(f"{folder / extra[0]} is not in the model's manifest: a file was added "
                          "to the model folder after it was saved; remove it or retrain")
    return True


def replace_folder(src: Path, dst: Path) -> None:
    """Move the complete folder ``src`` onto ``dst`` (same parent), replacing what ``dst`` held.

    The old folder is renamed aside first and removed last, so ``dst`` is never a mix of the two:
    it is the old folder, the new one, or (for an instant between two renames) absent.
    """
    src, dst = Path(src), Path(dst)
    if not dst.exists() and not dst.is_symlink():
        os.replace(src, dst)
        return
    aside = _sibling(dst, "old")
    os.replace(dst, aside)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(aside, dst)  # put the old folder back
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink()


def _sibling(path: Path, kind: str) -> Path:
    """A new hidden name beside ``path`` (``.model.1a2b3c4d.saving``)."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.{kind}"


@contextmanager
def staged_folder(path: Path, manifest: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success write its manifest (unless
    ``manifest`` is False) and move it onto ``path`` as a whole; on failure remove it.

    Examples
    --------
    >>> with staged_folder(run.model) as tmp:  # doctest: +SKIP
    ...     model.save_pretrained(tmp)
    ...     atomic_write_json(tmp / "scifm.json", meta)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "saving")
    tmp.mkdir()
    try:
        yield tmp
        if manifest:
            write_manifest(tmp)
        replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
