"""Labels: parsing the target columns, inferring the task and encoding ``y``.

Each target column is parsed into numbers and class tokens (:class:`_Label`); the task is
inferred from them (or checked against ``data.task`` / a trained model's task) and ``y`` is
encoded as described in :mod:`scifm.tasks`.

Numbers written with a decimal comma (``1,25``) are text to this parser; when they make up most
of a column every message about it ends with :data:`~scifm.data.checks.DECIMAL_HINT` (and
``task: auto`` refuses to guess), unless ``data.decimal: ','`` converted them beforehand
(:func:`scifm.data.clean.clean_table`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.checks import DECIMAL_HINT, looks_like_decimal_commas
from scifm.errors import ConfigError, DataError
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)


def is_missing(v: object) -> bool:
    """Whether a cell is empty: ``None``, ``NaN``, ``pd.NA`` or ``pd.NaT``."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return v is pd.NA or v is pd.NaT


_NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})
_INT_TEXT = re.compile(r"^[+-]?\d+$")
MAX_AUTO_CLASSES = 20


def _num_name(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class _Label:
    """One target column parsed into numbers and class tokens (valid rows only)."""

    def __init__(self, name: str, values: Sequence[object], valid: np.ndarray) -> None:
        n = len(values)
        self.name = name
        self.n_nonfinite = 0
        """Cells holding inf / -inf (treated as missing labels, with a warning)."""
        self.num = np.full(n, np.nan)
        self.tok: list[str | None] = [None] * n
        is_int = np.zeros(n, dtype=bool)
        text = np.zeros(n, dtype=bool)
        for i, v in enumerate(values):
            if not valid[i] or is_missing(v):
                continue
            if isinstance(v, (bool, np.bool_)):
                self.tok[i], text[i] = str(bool(v)), True
            elif isinstance(v, (int, np.integer)):
                self.num[i], is_int[i] = float(v), True
            elif isinstance(v, (float, np.floating)):
                self.num[i] = float(v)
            else:
                s = str(v).strip()
                if s.lower() in _NA_TOKENS:
                    continue
                try:
                    self.num[i] = float(s)
                    is_int[i] = bool(_INT_TEXT.match(s))
                except ValueError:
                    self.tok[i], text[i] = s, True
            if not np.isnan(self.num[i]):
                if np.isfinite(self.num[i]):
                    self.tok[i] = _num_name(self.num[i])
                else:  # inf / -inf: no label to learn from; the row's label counts as missing
                    self.num[i], is_int[i] = np.nan, False
                    self.n_nonfinite += 1
        present = np.array([t is not None for t in self.tok], dtype=bool)
        self.n_present = int(present.sum())
        self.n_text = int(text.sum())
        shown = (t for t, b in zip(self.tok, text, strict=True) if b)
        self.text_examples = list(dict.fromkeys(shown))[:5]
        n_num = self.n_present - self.n_text
        self.distinct_num = np.unique(self.num[~np.isnan(self.num)])
        self.all_int = bool(is_int[present & ~text].all()) if n_num else False
        self.numeric_ok = n_num > 0 and (self.n_text == 0 or n_num >= 0.95 * self.n_present)
        self.tokens = sorted({t for t in self.tok if t is not None})
        commas = looks_like_decimal_commas(t for t, b in zip(self.tok, text, strict=True) if b)
        self.decimal_commas = list(dict.fromkeys(commas))[:3] if commas and \
            len(commas) >= 0.5 * self.n_text else []
        """Examples when most text values are numbers with a decimal comma."""

    def hint(self, sep: str = "; ") -> str:
        """``"; column 'y' ('1,25', ...) looks like decimal commas: ..."`` (empty when it does
        not)."""
        if not self.decimal_commas:
            return ""
        return f"{sep}column '{self.name}' ({_examples(self.decimal_commas)}) {DECIMAL_HINT}"

    def kind(self) -> str:
        """``binary``, ``multiclass``, ``regression``, ``constant`` or ``categorical``."""
        if self.numeric_ok and (self.n_text == 0 or len(self.distinct_num) > 2):
            d = self.distinct_num
            if len(d) == 1:
                return "constant"
            if len(d) <= 2 and (set(d.tolist()) <= {0.0, 1.0} or self.all_int):
                return "binary" if len(d) == 2 else "constant"
            if self.all_int and 3 <= len(d) <= MAX_AUTO_CLASSES:
                return "multiclass"
            return "regression"
        k = len(self.tokens)
        if k <= 1:
            return "constant"
        if k == 2:
            return "binary"
        return "multiclass" if k <= MAX_AUTO_CLASSES else "categorical"


def _sort_classes(tokens: set[str]) -> list[str]:
    try:
        return sorted(tokens, key=float)
    except ValueError:
        return sorted(tokens)


def _examples(items: Sequence[str], k: int = 5) -> str:
    return ", ".join(repr(t) for t in list(items)[:k]) + (", ..." if len(items) > k else "")


def _class_list(labels: list[_Label], task: str) -> list[str]:
    union: set[str] = set()
    for lab in labels:
        if task == "binary" and len(lab.tokens) > 2:
            raise ConfigError(f"task 'binary' but column '{lab.name}' has {len(lab.tokens)} "
                              f"distinct values ({_examples(lab.tokens)})")
        union |= set(lab.tokens)
    if task == "binary" and union <= {"0", "1"}:
        return ["0", "1"]
    if task == "binary" and len(union) > 2:
        raise ConfigError(f"task 'binary' but the target columns use {len(union)} different "
                          f"labels ({_examples(sorted(union))}); use the same two labels")
    if len(union) < 2:
        cols = ", ".join(repr(lab.name) for lab in labels)
        raise ConfigError(f"target column(s) {cols} hold a single class "
                          f"({_examples(sorted(union))}); there is nothing to learn")
    if task == "multiclass" and len(union) > 100:
        logger.warning("multiclass target '%s' has %d classes", labels[0].name, len(union))
    return _sort_classes(union)


def infer_task(df: pd.DataFrame, cfg: DataConfig, valid: np.ndarray,
               fixed: TaskSpec | None = None) -> tuple[TaskSpec, np.ndarray, dict[str, Any]]:
    """Parse the target columns, infer (or check) the task and encode the labels.

    Parameters
    ----------
    df
        The raw table holding ``cfg.target_cols``.
    cfg
        ``target_cols`` and ``task`` (``auto`` infers, see :class:`DataConfig`).
    valid
        Boolean mask of rows with a valid input; only these rows are parsed.
    fixed
        A known task (e.g. the task of a trained model when evaluating new data): its type and
        class order are used instead of inferring them, so labels encode identically.

    Returns
    -------
    task, y, info
        The :class:`TaskSpec`, labels ``n x n_tasks`` (NaN = missing; encoding of
        :mod:`scifm.tasks`) and per-column parsing notes (inferred kind, unparseable cells).

    Raises
    ------
    ConfigError
        Columns of different kinds, or labels that contradict an explicit ``cfg.task``.
    DataError
        A regression target that is not numeric.
    """
    valid = np.asarray(valid, dtype=bool)
    labels = [_Label(c, df[c].tolist(), valid) for c in cfg.target_cols]
    kinds = {lab.name: lab.kind() for lab in labels}
    _warn_nonfinite(labels)
    y = np.full((len(df), len(labels)), np.nan)
    if all(lab.n_present == 0 for lab in labels):  # nothing to infer; every row gets rejected
        task = "regression" if cfg.task == "auto" else cfg.task
        classes = ["0", "1"] if task != "regression" else []
        spec = TaskSpec(task, list(cfg.target_cols), classes)
        return spec, y, {lab.name: {"inferred": "empty", "n_unparseable": 0,
                                    "unparseable_examples": []} for lab in labels}
    task = fixed.task_type if fixed is not None else cfg.task
    if task == "auto":
        task = _auto_task(labels, kinds)
    elif task != "regression":
        for lab in labels:
            if lab.hint() and not lab.numeric_ok:
                logger.warning("task %s: labels read as classes%s", task, lab.hint())
    if task == "multiclass" and len(labels) != 1:
        raise ConfigError(f"task 'multiclass' takes exactly one target column; got "
                          f"{len(labels)} ({', '.join(cfg.target_cols)})")
    if task == "regression":
        classes, info = [], _encode_numbers(labels, kinds, y)
    else:
        classes = list(fixed.classes) if fixed is not None else _class_list(labels, task)
        info = _encode_classes(labels, kinds, classes, y)
    spec = TaskSpec(task_type=task, target_cols=list(cfg.target_cols), classes=classes)
    return spec, y, info


def _auto_task(labels: list[_Label], kinds: dict[str, str]) -> str:
    """The one task all target columns agree on (ConfigError when they do not)."""
    ks = set(kinds.values())
    commas = "; ".join(lab.hint("") for lab in labels if lab.hint() and not lab.numeric_ok)
    if commas:
        raise ConfigError(f"cannot infer the task: {commas}")
    if len(labels) == 1 and ks <= {"binary", "multiclass", "regression"}:
        task = ks.pop()
    elif len(labels) > 1 and ks <= {"binary", "constant"} and "binary" in ks:
        task = "binary"
    elif len(labels) > 1 and all(lab.numeric_ok for lab in labels) and \
            ks <= {"regression", "multiclass"}:
        task = "regression"
    else:
        desc = ", ".join(f"'{k}' looks {v}" for k, v in kinds.items())
        if ks == {"constant"}:
            values = sorted({t for lab in labels for t in lab.tokens})
            raise ConfigError(f"target column(s) {', '.join(kinds)} hold a single value "
                              f"({_examples(values) or 'none'}); there is nothing to learn")
        raise ConfigError(f"cannot infer one task for the target columns ({desc}); "
                          "set data.task to regression, binary or multiclass")
    logger.info("inferred task %s from %s", task, ", ".join(kinds))
    return task


def _warn_nonfinite(labels: list[_Label]) -> None:
    for lab in labels:
        if lab.n_nonfinite:
            logger.warning("column '%s': %d infinite labels (inf / -inf) treated as missing",
                           lab.name, lab.n_nonfinite)


def _encode_numbers(labels: list[_Label], kinds: dict[str, str],
                    y: np.ndarray) -> dict[str, Any]:
    """Fill ``y`` with regression targets; per-column notes."""
    info: dict[str, Any] = {}
    for j, lab in enumerate(labels):
        if not lab.numeric_ok:
            raise DataError(f"task 'regression' but column '{lab.name}' is not numeric "
                            f"({lab.n_text} text values, e.g. {_examples(lab.text_examples)})"
                            f"{lab.hint()}")
        if lab.n_text:
            logger.warning("column '%s': %d non-numeric labels treated as missing (e.g. %s)%s",
                           lab.name, lab.n_text, _examples(lab.text_examples), lab.hint())
        y[:, j] = lab.num
        info[lab.name] = {"inferred": kinds[lab.name], "n_unparseable": lab.n_text,
                          "unparseable_examples": lab.text_examples}
    return info


def _encode_classes(labels: list[_Label], kinds: dict[str, str], classes: list[str],
                    y: np.ndarray) -> dict[str, Any]:
    """Fill ``y`` with class indices into ``classes``; per-column notes."""
    index = {c: k for k, c in enumerate(classes)}
    info: dict[str, Any] = {}
    for j, lab in enumerate(labels):
        unknown = sorted({t for t in lab.tok if t is not None and t not in index})
        if unknown:
            raise DataError(f"column '{lab.name}' has label(s) {_examples(unknown)} that the "
                            f"model does not know; its classes are {', '.join(classes)}")
        y[:, j] = [np.nan if t is None else index[t] for t in lab.tok]
        info[lab.name] = {"inferred": kinds[lab.name], "n_unparseable": 0,
                          "unparseable_examples": []}
    return info

__all__ = ["MAX_AUTO_CLASSES", "infer_task", "is_missing"]
