"""Validation and canonicalisation of raw inputs, by the modality's plug-in.

A *validator* maps a raw value to its canonical form or raises :class:`InvalidInput` with a
reason of the form ``"<category>: <detail>"`` (or just ``"<category>"``); the category (the text
before the first colon) is what the cleaning report counts. What each modality accepts is its
plug-in's business (:mod:`scifm.modalities`: ``smiles`` parses with RDKit, ``protein`` / ``dna``
check the alphabet, ``text`` normalises Unicode and whitespace).

* :func:`validate_inputs` checks the primary input strings of many rows (each distinct value
  once);
* :func:`validate_records` checks whole rows of a table (primary input + further input columns)
  into :class:`~scifm.data.datapoints.Datapoint` records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.datapoints import Datapoint, InvalidInput, Value, reason_category
from scifm.data.labels import is_missing
from scifm.errors import ConfigError

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
    try:
        spec = MODALITIES.get(modality)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    return spec.validator(data_cfg)


def validate_inputs(
    values: Sequence[object], modality: str, data_cfg: DataConfig
) -> tuple[list[str | None], list[str | None]]:
    """Validate many raw primary values (repeated values are validated once).

    Returns
    -------
    canonical, reasons
        Per value: the canonical string or ``None``, and ``None`` or the rejection reason.
        ``None`` / ``NaN`` values are rejected as ``"missing input"``.
    """
    validate = make_validator(modality, data_cfg)
    cache: dict[str, tuple[str | None, str | None]] = {}
    canonical: list[str | None] = []
    reasons: list[str | None] = []
    for v in values:
        if is_missing(v):
            canonical.append(None)
            reasons.append("missing input")
            continue
        s = v if isinstance(v, str) else str(v)
        hit = cache.get(s)
        if hit is None:
            try:
                hit = (validate(s), None)
            except InvalidInput as err:
                hit = (None, err.reason)
            cache[s] = hit
        canonical.append(hit[0])
        reasons.append(hit[1])
    n_bad = sum(r is not None for r in reasons)
    if n_bad:
        logger.info("%d of %d %s inputs are invalid", n_bad, len(values), modality)
    return canonical, reasons


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
    canonical, reasons = validate_inputs(frame[cols[0]].tolist(), data_cfg.modality, data_cfg)
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


__all__ = ["InvalidInput", "make_validator", "reason_category", "validate_inputs",
           "validate_records"]
