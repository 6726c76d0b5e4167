"""Loading a model folder only when it is intact, and only from safe formats.

:func:`check_model_folder` is the one check every loader runs before it reads a model: a saved
``model/`` folder (:func:`scifm.models.registry.load_predictor`, hence ``predict``, ``evaluate``
and ``auto``'s ensembles), a ``model.init`` checkpoint (:func:`scifm.models.backbones.
check_checkpoint`) and an ``embed:PATH`` encoder (:mod:`scifm.featurizers.embedding`). It

1. refuses a folder holding a pickle-based file (``.bin``, ``.pkl``, ``.pt``, ``.pth``,
   ``.ckpt``, ``.joblib``, ``.pickle``: loading one can run code), naming the file; weights are
   read from safetensors only (``use_safetensors=True``), everything else from text formats
   (JSON, LightGBM / XGBoost text models, skops);
2. checks every file against the folder's SHA-256 manifest (:mod:`scifm.models.manifest`), so a
   truncated, swapped, missing or added file is one line naming it. A folder saved before scifm
   wrote manifests still loads, with one warning that it cannot be verified.

A folder is checked once per process while its files are unchanged (the ``model.init`` loaders
each call the check). :func:`load_tokenizer` and :func:`check_json_files` turn a missing or
corrupt tokenizer or JSON file into one :class:`~scifm.errors.RunDirError` line naming it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path, PurePosixPath
from typing import Any

from safetensors import SafetensorError

from scifm.errors import RunDirError
from scifm.models.base import MODEL_META
from scifm.models.manifest import MANIFEST, folder_files, verify_manifest

logger = logging.getLogger(__name__)

__all__ = ["HF_JSON_FILES", "LOAD_ERRORS", "UNSAFE_SUFFIXES", "WEIGHTS_FILE", "check_json_files",
           "check_model_folder", "first_line", "load_hf_model", "load_tokenizer",
           "refuse_unsafe_files", "weights_file"]

UNSAFE_SUFFIXES = (".bin", ".pkl", ".pt", ".pth", ".ckpt", ".joblib", ".pickle")
"""Pickle-based formats: never loaded; a model folder holding one is refused."""
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
"""Index of a checkpoint whose safetensors weights are split in shards."""
HF_JSON_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "added_tokens.json", "adapter_config.json",
                 "generation_config.json", WEIGHTS_INDEX)
"""JSON files of a Hugging Face folder checked by :func:`check_json_files` when present."""
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model",
                   "spiece.model", "sentencepiece.bpe.model")
"""Files a tokenizer can be built from (scifm writes ``tokenizer.json``)."""

LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError)
"""What loading damaged Hugging Face files raises (``SafetensorError``: truncated weights;
``RuntimeError``: weights of another shape)."""

_VERIFIED: dict[str, tuple[Any, ...]] = {}
"""Folders verified in this process -> the stamp (names, sizes, times) of their files then."""
_WARNED: set[str] = set()


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (or its type name)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def refuse_unsafe_files(folder: Path) -> None:
    """Raise when ``folder`` (sub-folders included) holds a pickle-based file.

    A scifm model folder (one with ``scifm.json``) may hold none. A checkpoint from elsewhere
    (``model.init``, ``embed:``) often ships ``pytorch_model.bin`` beside ``model.safetensors``:
    the pickle is never read (weights load with ``use_safetensors=True``), so it is tolerated
    with a warning when safetensors weights are there, and refused when they are not.

    Raises
    ------
    RunDirError
        One line naming the first such file.
    """
    folder = Path(folder)
    bad = [rel for rel in folder_files(folder)
           if PurePosixPath(rel).suffix.lower() in UNSAFE_SUFFIXES]
    foreign = not (folder / MODEL_META).is_file()
    has_safe = (folder / WEIGHTS_FILE).is_file() or (folder / WEIGHTS_INDEX).is_file()
    if bad and foreign and has_safe:
        key = f"pickle:{folder.resolve()}"
        if key not in _WARNED and multiprocessing.parent_process() is None:
            _WARNED.add(key)
            logger.warning("%s also holds %s; scifm reads only its safetensors weights and "
                           "never opens the pickle-based file(s)", folder, ", ".join(bad))
        return
    if bad:
        raise RunDirError(
            f"{folder / bad[0]}: scifm refuses a model folder holding a pickle-based file "
            f"({', '.join(UNSAFE_SUFFIXES)}; loading one can run code) and reads safetensors and "
            "text formats only; remove the file, or convert the checkpoint to safetensors")


def _stamp(folder: Path) -> tuple[Any, ...]:
    out = []
    for root, _, files in os.walk(folder):
        for name in files:
            st = (Path(root) / name).stat()
            out.append((root, name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def check_model_folder(folder: Path) -> bool:
    """Refuse pickle-based files, then check ``folder`` against its manifest.

    Returns
    -------
    bool
        True when the manifest verified every file; False when the folder has none (a warning
        is logged once, in the main process, for a scifm folder saved before manifests).

    Raises
    ------
    RunDirError
        One line naming a pickle-based, missing, added, truncated or swapped file, or an
        unreadable manifest.
    """
    folder = Path(folder)
    key = str(folder.resolve())
    stamp = _stamp(folder)
    if _VERIFIED.get(key) == stamp:
        return True
    refuse_unsafe_files(folder)
    if verify_manifest(folder):
        _VERIFIED[key] = stamp
        return True
    if (folder / MODEL_META).is_file() and key not in _WARNED \
            and multiprocessing.parent_process() is None:  # not once per worker process
        _WARNED.add(key)
        logger.warning("%s has no %s (saved by an older scifm): its files cannot be verified; "
                       "retrain to protect it", folder, MANIFEST)
    return False


def check_json_files(folder: Path, names: tuple[str, ...] = HF_JSON_FILES) -> None:
    """Raise when one of ``names`` is present in ``folder`` but is not a JSON object.

    Raises
    ------
    RunDirError
        One line naming the file.
    """
    for name in names:
        file = Path(folder) / name
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RunDirError(f"cannot read {file}: {first_line(err)}") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{file} does not hold a JSON object")


def weights_file(folder: Path) -> Path:
    """The safetensors weights of a Hugging Face folder (the shard index when split).

    Raises
    ------
    RunDirError
        One line when there are no safetensors weights (naming a pickle-based weights file
        when that is what the folder holds instead).
    """
    folder = Path(folder)
    for name in (WEIGHTS_FILE, WEIGHTS_INDEX):
        if (folder / name).is_file():
            return folder / name
    refuse_unsafe_files(folder)
    raise RunDirError(f"{folder / WEIGHTS_FILE} is missing: no model weights in {folder}")


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in ``folder`` (local files only).

    Raises
    ------
    RunDirError
        One line naming the missing or damaged tokenizer file.
    """
    from transformers import AutoTokenizer

    folder = Path(folder)
    check_json_files(folder)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise RunDirError(f"{folder / 'tokenizer.json'} is missing: no tokenizer in {folder}")
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # noqa: BLE001 - tokenizers raises many kinds on a damaged file
        file = folder / "tokenizer.json"
        where = file if file.is_file() else folder
        raise RunDirError(f"cannot load the tokenizer {where}: {first_line(err)}") from None


def load_hf_model(model_class: Any, folder: Path, **kwargs: Any) -> Any:
    """``model_class.from_pretrained(folder)`` from local safetensors weights only.

    Raises
    ------
    RunDirError
        One line naming the file when ``config.json`` or the weights are missing or damaged (or
        the weights are only in a pickle-based format).
    """
    folder = Path(folder)
    check_json_files(folder, ("config.json",))
    weights = weights_file(folder)
    try:
        if "pruned_heads" in json.loads((folder / "config.json").read_text(encoding="utf-8")):
            from scifm.compression.prune_structure import load_head_pruned  # heads cut by hand

            return load_head_pruned(model_class, folder, **kwargs)
        return model_class.from_pretrained(str(folder), local_files_only=True,
                                           use_safetensors=True, **kwargs)
    except LOAD_ERRORS as err:
        raise RunDirError(f"cannot load the model {weights}: {first_line(err)}") from None
