"""Validation and canonicalisation of raw inputs, by the modality's plug-in.

A *validator* maps a raw value to its canonical form or raises :class:`InvalidInput` with a
reason of the form ``"<category>: <detail>"`` (or just ``"<category>"``); the category (the text
before the first colon) is what the cleaning report counts. What each modality accepts is its
plug-in's business (:mod:`scifm.modalities`: ``smiles`` parses with RDKit, ``protein`` / ``dna``
check the alphabet, ``text`` normalises Unicode and whitespace).

Every plug-in validator rejects an input over its modality's size limits first
(``data.smiles.max_chars`` / ``max_heavy_atoms``, ``data.sequence.max_length``,
``data.text.max_chars``), before any parser or tokenizer sees it.

* :func:`validate_inputs` checks the primary input strings of many rows (each distinct value
  once; in worker processes where a crash must be contained, :mod:`scifm.data.contained`);
* :func:`validate_records` checks whole rows of a table (primary input + further input columns)
  into :class:`~scifm.data.datapoints.Datapoint` records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.contained import (
    Verdict,
    WorkerStartError,
    can_contain,
    iter_verdicts,
    validate_contained,
)
from scifm.data.datapoints import Datapoint, InvalidInput, Value, reason_category
from scifm.data.labels import is_missing
from scifm.errors import ConfigError
from scifm.utils import progress

if TYPE_CHECKING:
    from scifm.modalities.base import ModalitySpec

logger = logging.getLogger(__name__)


def make_validator(modality: str, data_cfg: DataConfig) -> Callable[[str], str]:
    """Build the validator of one modality's primary input.

    Parameters
    ----------
    modality
        A registered modality (``smiles``, ``protein``, ``dna``, ``text``, ...).
    data_cfg
        Supplies the options the plug-in reads (``data.smiles``, ``data.sequence``,
        ``data.text``).

    Returns
    -------
    Callable[[str], str]
        Maps one raw string to its canonical form; raises :class:`InvalidInput`.

    Raises
    ------
    ValueError
        Unknown modality (one line listing the known ones).

    Examples
    --------
    >>> v = make_validator("smiles", DataConfig())
    >>> v("C(O)C") == v("OCC")
    True
    """
    return _spec(modality).validator(data_cfg)


def _spec(modality: str) -> ModalitySpec:
    try:
        return MODALITIES.get(modality)
    except ConfigError as err:
        raise ValueError(str(err)) from None


def validate_inputs(
    values: Sequence[object], modality: str, data_cfg: DataConfig
) -> tuple[list[str | None], list[str | None]]:
    """Validate many raw primary values (repeated values are validated once).

    A modality whose validator calls a native library that could crash (``native``: SMILES
    and RDKit) is validated in worker processes (:mod:`scifm.data.contained`): an input that
    crashes the library is rejected alone, with the reason ``crashed the parser (RDKit): ...``,
    and remembered, so this process never hands it to the library again.

    Returns
    -------
    canonical, reasons
        Per value: the canonical string or ``None``, and ``None`` or the rejection reason.
        ``None`` / ``NaN`` values are rejected as ``"missing input"``.
    """
    spec = _spec(modality)
    distinct: dict[str, int] = {}
    keys: list[int | None] = []
    for v in values:
        if is_missing(v):
            keys.append(None)
            continue
        keys.append(distinct.setdefault(v if isinstance(v, str) else str(v), len(distinct)))
    verdicts = _verdicts(spec, data_cfg, list(distinct))
    canonical = [None if k is None else verdicts[k][0] for k in keys]
    reasons = ["missing input" if k is None else verdicts[k][1] for k in keys]
    n_bad = sum(r is not None for r in reasons)
    if n_bad:
        logger.info("%d of %d %s inputs are invalid", n_bad, len(values), modality)
    return canonical, reasons


_CRASHERS: dict[tuple[str, str], str] = {}
"""``(modality, raw input) -> reason`` of the inputs that crashed a worker in this process's
lifetime (bounded by :data:`_MAX_CRASHERS`): never validated again, not even in-process."""
_MAX_CRASHERS = 10_000


def known_crashes(modality: str) -> dict[str, str]:
    """The raw inputs of ``modality`` that crashed a worker in this process: input -> reason."""
    return {raw: why for (name, raw), why in _CRASHERS.items() if name == modality}


def remember_crashes(modality: str, crashes: Mapping[str, str]) -> None:
    """Treat ``crashes`` (input -> reason, from :func:`known_crashes` of another process) as
    crashers here too: a process that validates in-process (a DataLoader worker) skips them."""
    for raw, why in crashes.items():
        if len(_CRASHERS) < _MAX_CRASHERS:
            _CRASHERS[(modality, raw)] = why


def _verdicts(spec: ModalitySpec, data_cfg: DataConfig, strings: list[str]) -> list[Verdict]:
    """``(canonical, reason)`` of each distinct raw string, with a progress bar."""
    known = [_CRASHERS.get((spec.name, s)) for s in strings]
    todo = [s for s, why in zip(strings, known, strict=True) if why is None]
    with progress.track(f"validating {len(todo):,} {spec.label} inputs", total=len(todo),
                        unit="inputs", level=logging.DEBUG) as bar:
        done = _contained(spec, data_cfg, todo, bar.advance) if todo else None
        if done is None:
            bar.update(completed=0)
            done = list(bar.iter(iter_verdicts(spec.validator(data_cfg), todo)))
    fresh = iter(done)
    return [(None, why) if why is not None else next(fresh) for why in known]


def _contained(spec: ModalitySpec, data_cfg: DataConfig, todo: list[str],
               on_rows: Callable[[int], None]) -> list[Verdict] | None:
    """The verdicts of ``todo`` from worker processes (a crash rejects only its input), or None
    where the modality needs no containment or workers cannot start here."""
    if spec.native is None or not can_contain():
        return None
    try:
        done, crashed = validate_contained(spec.validator, data_cfg, todo, spec.native.name,
                                           spec.native.modules, on_rows=on_rows)
    except WorkerStartError as err:
        logger.warning("%s; validating %s inputs in this process, where a crash of %s "
                       "would end the run", err, spec.label, spec.native.name)
        return None
    for i in crashed:
        remember_crashes(spec.name, {todo[i]: done[i][1] or "crashed the parser"})
    return done


_UNDECODABLE = re.compile("[\udc80-\udcff]")
"""Bytes that were not UTF-8, kept as lone surrogates (``encoding_errors="surrogateescape"``)."""


def validate_records(
    frame: pd.DataFrame, data_cfg: DataConfig, cols: Sequence[str] | None = None
) -> tuple[list[Datapoint | None], list[str | None]]:
    """Validate whole rows: the primary input and any further input columns, by the plug-in.

    Parameters
    ----------
    frame
        A table holding ``cols``.
    data_cfg
        Modality and validation options.
    cols
        Input columns, primary first (default: ``data_cfg.input_cols``).

    Returns
    -------
    records, reasons
        Per row: the :class:`Datapoint` or ``None``, and ``None`` or the rejection reason.
    """
    cols = list(cols or data_cfg.input_cols)
    spec = MODALITIES.get(data_cfg.modality)
    raw = frame[cols[0]].tolist()
    undecodable = [isinstance(v, str) and _UNDECODABLE.search(v) is not None for v in raw]
    canonical, reasons = validate_inputs([None if bad else v for v, bad in zip(
        raw, undecodable, strict=True)], data_cfg.modality, data_cfg)
    for i in np.flatnonzero(undecodable):
        canonical[i], reasons[i] = None, "not valid UTF-8: the input holds undecodable bytes"
    further = [(c, frame[c].tolist()) for c in cols[1:]]
    records: list[Datapoint | None] = []
    for i, primary in enumerate(canonical):
        if primary is None:
            records.append(None)
            continue
        try:
            extras: tuple[tuple[str, Value], ...] = tuple(
                (c, spec.parse_extra(c, values[i])) for c, values in further)
            if spec.check_record is not None:
                spec.check_record(primary, extras)
        except InvalidInput as err:
            records.append(None)
            reasons[i] = err.reason
            continue
        records.append(Datapoint(primary, extras))
    return records, reasons


__all__ = ["InvalidInput", "known_crashes", "make_validator", "reason_category",
           "remember_crashes", "validate_inputs", "validate_records"]
