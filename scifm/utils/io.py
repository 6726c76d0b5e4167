"""Atomic file writes (a file is either absent or complete, never half-written) and the check
that an output never overwrites an input."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from scifm.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Examples
    --------
    >>> with atomic_path("out.csv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(obj: Any) -> str:
    """JSON text with numpy scalars/arrays and paths converted; NaN is written as ``null``."""
    return json.dumps(_nan_to_none(obj), indent=2, default=_json_default, allow_nan=False)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (NaN becomes ``null``)."""
    atomic_write_text(path, to_json(obj) + "\n")


def atomic_write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def refuse_overwriting_inputs(out: str | Path, inputs: Mapping[str, str | Path | None],
                              flag: str = "--out") -> None:
    """Refuse an output path that is, resolves to, contains or lies inside one of ``inputs``
    (``{"the --data file": path, ...}``; the names appear in the message). Symlinks, relative
    paths and hard links (:func:`os.path.samefile`) are seen through. Call it before any work.

    Raises
    ------
    OutputError
        One line naming the output and the input it would overwrite.
    """
    out_path = Path(out)
    out_real = out_path.resolve()
    for name, src in inputs.items():
        if src is None or not Path(src).exists():
            continue
        src_path = Path(src)
        src_real = src_path.resolve()
        if out_real == src_real or (out_path.exists() and os.path.samefile(out_path, src_path)):
            relation = "is"
        elif src_real.is_relative_to(out_real):
            relation = "contains"
        elif src_path.is_dir() and out_real.is_relative_to(src_real):
            relation = "is inside"
        else:
            continue
        raise OutputError(f"{flag} {out} {relation} {name} ({src}): scifm never writes over its "
                          f"inputs; choose another {flag}")


def file_sha256(file: str | Path) -> str:
    """Hex SHA-256 of ``file`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
