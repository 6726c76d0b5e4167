"""A fitted model's last answers, kept: the same rows are predicted several times in one run.

``scifm auto`` predicts the val and test rows with each refitted family when it scores it, then
again with every combination (weighted average, stacker) that holds it, and once more for the
winner's uncertainty layer. For a fine-tuned transformer each pass costs minutes on a CPU
(MiniLM on SciCite's 2,777 val + test texts: 75-86 s), so :func:`remember_predictions` makes a
predictor answer a repeated ``predict`` on the same inputs from memory.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MEMO_ENTRIES", "fresh_predict", "remember_predictions"]

MEMO_ENTRIES = 4
"""Input lists remembered per predictor (val, test, and a couple more), least recent dropped."""


def _fingerprint(x: Sequence[Any]) -> tuple[int, str]:
    digest = hashlib.blake2b(digest_size=16)
    for item in x:
        digest.update(repr(item).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return len(x), digest.hexdigest()


def remember_predictions(predictor: Any) -> Any:
    """``predictor`` (the same object) whose ``predict`` answers inputs it has seen, equal item
    by item (their ``repr``), from its last :data:`MEMO_ENTRIES` results (copies, so a caller
    may change what it gets). Only array results are kept (a token model's lists of tags are
    not); a predictor whose attributes cannot be set is returned as it is."""
    if getattr(predictor, "_scifm_memo", None) is not None:
        return predictor
    plain = predictor.predict
    memo: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()

    def predict(x: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return plain(x, *args, **kwargs)
        key = _fingerprint(x)
        if key in memo:
            memo.move_to_end(key)
            return memo[key].copy()
        out = plain(x)
        if isinstance(out, np.ndarray):
            memo[key] = out.copy()
            while len(memo) > MEMO_ENTRIES:
                memo.popitem(last=False)
        return out

    try:
        predictor.predict = predict
        predictor._scifm_memo = memo
        predictor._scifm_fresh_predict = plain
    except (AttributeError, TypeError):
        return predictor
    return predictor


def fresh_predict(predictor: Any) -> Any:
    """``predictor``'s own ``predict``, never answered from memory: for a model that answers
    differently on purpose (Monte-Carlo dropout passes, :mod:`scifm.trust.mc_dropout`)."""
    return getattr(predictor, "_scifm_fresh_predict", None) or predictor.predict
