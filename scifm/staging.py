"""A run directory is a transaction: written beside its target, moved into place on success.

A run into ``OUT`` writes ``OUT.partial/`` (:func:`staging_dir`: the same parent, so the final
move is one rename on one filesystem) and renames it to ``OUT`` only when the run succeeded.
Until then ``OUT`` keeps what it held, byte for byte, whatever happens to the run (an error, a
Ctrl-C, a crash). The rules:

- ``OUT`` must be absent, an empty folder, or an earlier scifm output; an earlier output is
  replaced only with permission (``--overwrite``; ``--resume`` continues a run, so it may replace
  it too), and then as a whole: the old folder is moved aside and deleted once the new one is in
  place, so no stale file (an old ``model.safetensors`` beside a new booster) survives;
- scifm never deletes files it did not write: an output folder records its entries in
  ``.scifm-run.json`` when it is committed, and a folder holding anything else (or a folder
  scifm did not write at all) is refused, with or without ``--overwrite``. Folders written before
  that file existed are recognised by their ``config.yaml`` (runs) and their names;
- a failed or interrupted run keeps ``OUT.partial/`` only when it holds something to continue
  from (Trainer checkpoints, an Optuna study); the next run into ``OUT`` continues from it
  (``--resume`` for checkpoints; a search continues its study by itself) or, with
  ``--overwrite``, discards it. Otherwise ``OUT.partial/`` is removed;
- state a run continues from is *copied* (never moved) out of ``OUT`` into the staging folder
  (``train.resume`` with kept checkpoints, the default Optuna storage of ``tune`` / ``auto``),
  so a failed continuation leaves ``OUT`` as it was.

:class:`scifm.rundir.RunContext` is the only caller for run directories (every training recipe
opens one); ``scifm evaluate`` stages its output folder the same way.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scifm.errors import OutputError
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

PARTIAL = ".partial"
"""Suffix of the staging folder: ``runs/x`` is written as ``runs/x.partial``."""
MARKER = ".scifm-run.json"
"""Written into every output folder scifm stages: who writes it, and once committed, its
entries (what scifm may delete when it replaces the folder)."""
CHECKPOINTS = ("checkpoints", "families/*/checkpoints")
"""Where the Trainer keeps resumable checkpoints in a run directory."""
STUDY = "optuna.db"
"""The default Optuna storage of ``tune`` / ``auto`` (a study continues in it)."""
LATER = frozenset({"evaluations", "audit"})
"""Entries later commands add to a committed run directory (``scifm evaluate``'s default)."""
LEGACY = frozenset({
    "config.yaml", "log.txt", "data_report.json", "rejected.csv", "splits.json", "leakage.json",
    "model", "metrics.json", "predictions_test.csv", "history.json", "report.html",
    "leaderboard.csv", "families", "checkpoints", "evaluations", "optuna.db", "oof",
    "study.json", "predictions.csv"})
"""Names scifm wrote into output folders before :data:`MARKER` existed."""


def target(out: str | Path) -> Path:
    """The folder a run into ``out`` replaces: normalised (``runs/x/.`` is ``runs/x``), a symlink
    followed (the link keeps pointing at the new run)."""
    path = Path(os.path.normpath(out))
    if path.is_symlink():
        path = path.resolve()
    if path.name in ("", ".."):
        path = Path(os.path.abspath(path))
    if not path.name:
        raise OutputError(f"--out {out} cannot be a run directory: choose a folder to create")
    return path


def staging_dir(out: str | Path) -> Path:
    """Where a run into ``out`` is written until it succeeded (``OUT.partial``); an interrupted
    run's checkpoints stay there for ``--resume``."""
    path = target(out)
    return path.with_name(path.name + PARTIAL)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """``folder/.scifm-run.json``, or None when absent or unreadable."""
    try:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def ownership(folder: Path) -> tuple[str | None, list[str]]:
    """The kind of scifm output ``folder`` is (``run``, ``evaluation``; None: not one) and its
    entries scifm did not write (all of them when it is not a scifm output)."""
    entries = sorted(p.name for p in folder.iterdir())
    meta = read_marker(folder)
    if meta is not None and meta.get("state") == "complete":
        known = set(meta.get("files") or []) | LATER | {MARKER}
        return str(meta.get("kind", "run")), [e for e in entries if e not in known]
    if (folder / "config.yaml").is_file():
        kind = "run"
    elif {"metrics.json", "predictions.csv", "report.html"} <= set(entries):
        kind = "evaluation"
    else:
        return None, entries
    return kind, [e for e in entries if e not in LEGACY]


_A = {"run": "a", "evaluation": "an"}


def _names(entries: Sequence[str], n: int = 3) -> str:
    more = f" and {len(entries) - n} more" if len(entries) > n else ""
    return ", ".join(entries[:n]) + more


def check_target(out: Path, shown: str | Path, *, kind: str, replace: bool) -> None:
    """Refuse an output folder a run may not write (one line); ``shown`` is the path as the user
    gave it.

    Raises
    ------
    OutputError
        ``out`` is a file, holds files scifm did not write, is another kind of scifm output, or
        is a non-empty earlier output and ``replace`` was not given.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{shown} is a file, not a folder: choose another --out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    found, foreign = ownership(out)
    if found is None:
        raise OutputError(f"{shown} exists and is not empty, and scifm did not write it: choose "
                          "another --out (scifm never deletes files it did not write)")
    if foreign:
        raise OutputError(f"{shown} holds files scifm did not write ({_names(foreign)}): move "
                          "them out or choose another --out (scifm never deletes files it did "
                          "not write)")
    if found != kind:
        raise OutputError(f"{shown} holds {_A.get(found, 'a')} scifm {found}, not "
                          f"{_A.get(kind, 'a')} {kind}: choose another --out")
    if not replace:
        raise OutputError(f"{shown} exists and is not empty: pass --overwrite to replace it, or "
                          "choose another --out")


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    return True


def _check_not_running(staging: Path, meta: dict[str, Any]) -> None:
    """Refuse a staging folder another scifm process is writing."""
    pid, host, here = meta.get("pid"), meta.get("host"), socket.gethostname()
    if meta.get("state") != "running" or (host == here and pid == os.getpid()):
        return  # stopped, or an earlier run of this very process (tests, notebooks)
    if host == here and _alive(pid):
        raise OutputError(f"{staging} is being written by another scifm run (process {pid}): "
                          "wait for it, or choose another --out")
    if host != here:
        raise OutputError(f"{staging} may still be written by a scifm run on {host} (process "
                          f"{pid}): delete it if that run has stopped, or choose another --out")


def resumable(folder: Path, patterns: Sequence[str] = (*CHECKPOINTS, STUDY)) -> list[Path]:
    """What in ``folder`` a run can continue from: checkpoint folders holding a checkpoint, an
    Optuna study file (of ``patterns``; other patterns count when they exist)."""
    found = []
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            if path.name == "checkpoints" and not any(path.glob("checkpoint-*")):
                continue
            found.append(path)
    return found


def _prune(folder: Path, keep: Sequence[Path]) -> None:
    """Delete everything in ``folder`` except ``keep`` (and the folders leading to them)."""
    for entry in folder.iterdir():
        if entry in keep or entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink() and any(entry in k.parents for k in keep):
            _prune(entry, keep)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _write_marker(folder: Path, **fields: Any) -> None:
    meta = {"pid": os.getpid(), "host": socket.gethostname(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
    atomic_write_json(folder / MARKER, meta)


def _reuse(staging: Path, carry: Sequence[str], discard: bool) -> None:
    """Take over the staging folder an earlier run left: keep what this run continues from."""
    meta = read_marker(staging)
    if staging.is_symlink() or not staging.is_dir() or meta is None:
        raise OutputError(f"{staging} exists and scifm did not make it: move it away, or choose "
                          "another --out")
    _check_not_running(staging, meta)
    keep = [p for p in resumable(staging, carry)]
    left = [p for p in resumable(staging) if p not in keep]
    if left and not discard:
        names = _names([str(p.relative_to(staging)) for p in left])
        raise OutputError(f"{staging} holds what an interrupted run needs to continue ({names}): "
                          "run it again to continue (with --resume for checkpoints), or pass "
                          "--overwrite to discard it")
    if keep:
        logger.info("continuing from the interrupted run in %s (%s)", staging,
                    _names([str(p.relative_to(staging)) for p in keep]))
    _prune(staging, keep)


def _copy_in(out: Path, staging: Path, carry: Sequence[str]) -> None:
    """Copy what this run continues from out of the earlier run in ``out`` (never moved: a
    failed continuation leaves ``out`` as it was)."""
    if not out.is_dir():
        return
    for src in resumable(out, carry):
        dest = staging / src.relative_to(out)
        if dest.exists():
            continue  # an interrupted continuation's newer state wins
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest)
        logger.info("continuing from %s (copied into %s)", src, staging)


def begin(out: Path, *, carry: Sequence[str] = (), discard: bool = False) -> Path:
    """Make (or take over) the staging folder of ``out`` and copy in what the run continues from
    (``carry``: glob patterns, e.g. :data:`CHECKPOINTS`); returns the staging folder.
    ``discard``: an interrupted run's state this run does not continue from may be deleted."""
    staging = out.with_name(out.name + PARTIAL)
    if staging.exists() or staging.is_symlink():
        _reuse(staging, carry, discard)
    else:
        staging.mkdir(parents=True)
    _write_marker(staging, state="running")
    _copy_in(out, staging, carry)
    return staging


def commit(out: Path, staging: Path, *, kind: str = "run", command: str = "") -> None:
    """Move the finished ``staging`` folder into place as ``out``; an earlier output there is
    moved aside and deleted only once the new one is in place.

    Raises
    ------
    OutputError
        Files scifm did not write appeared in ``out`` during the run: ``out`` is left as it is and
        the finished run stays in ``staging``.
    """
    files = sorted(p.name for p in staging.iterdir() if p.name != MARKER)
    _write_marker(staging, state="complete", kind=kind, files=files, command=command)
    if not (out.is_dir() and any(out.iterdir())):
        os.replace(staging, out)  # absent, or an empty folder (replaced by the rename)
        return
    found, foreign = ownership(out)
    if found is None or foreign:
        raise OutputError(f"{out} gained files scifm did not write during the run "
                          f"({_names(foreign)}): it was left as it is; the finished run is in "
                          f"{staging}")
    old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        logger.warning("could not delete the replaced run in %s", old)


def abandon(staging: Path) -> bool:
    """After a failed or interrupted run: keep ``staging`` when it holds something to continue
    from (returns True), else delete it."""
    if not staging.is_dir():
        return False
    if resumable(staging):
        _write_marker(staging, state="stopped")
        return True
    shutil.rmtree(staging, ignore_errors=True)
    return False


@contextmanager
def staged(out: str | Path, *, kind: str, command: str = "") -> Iterator[Path]:
    """Write an output folder of ``kind`` through a staging folder (one process, no continuation:
    ``scifm evaluate``); an earlier output of the same kind is replaced."""
    path = target(out)
    check_target(path, out, kind=kind, replace=True)
    staging = begin(path, discard=True)
    try:
        yield staging
    except BaseException:
        abandon(staging)
        raise
    commit(path, staging, kind=kind, command=command)
