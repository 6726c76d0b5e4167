"""Fuzzing every modality's validator and the cleaning step that uses it.

Each registered modality (``scifm.config.registry.MODALITIES``: smiles, protein, dna, text, and
any plug-in) gets random SMILES-like strings, random sequences, any Unicode text and very long
inputs. Properties: the validator returns a non-empty canonical string or rejects with a one-line
reason (never another exception), in bounded time (a 1 MB input is rejected as too long, before
RDKit sees it); ``validate_inputs`` gives one verdict per value; ``clean_table`` accounts for every
row (kept + rejected = input).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from fuzzlib import (
    all_inputs,
    any_text,
    bounded,
    check_clean,
    long_repeats,
    sequences,
    smiles_like,
    valid_smiles,
)
from hypothesis import given
from hypothesis import strategies as st

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.modalities import BUILTINS

MODALITY_NAMES = list(MODALITIES.names())
VALID = valid_smiles()[:20]


def _validate(modality: str, value: str) -> str:
    return MODALITIES.get(modality).validator(DataConfig(modality=modality))(value)


def test_every_registered_modality_is_fuzzed():
    assert {"smiles", "protein", "dna", "text"} <= set(MODALITY_NAMES)


@pytest.mark.parametrize("modality", MODALITY_NAMES)
@given(value=st.one_of(smiles_like, sequences, any_text, st.sampled_from(VALID)))
def test_validator_accepts_or_rejects_with_one_line(modality, value):
    out = check_clean(bounded(_validate, modality, value), allow_invalid=True)
    if out.kind == "ok":
        assert isinstance(out.value, str) and out.value.strip(), "accepted as an empty string"
    else:
        assert out.kind == "invalid", f"a validator raised {out.kind}: {out.message}"


def _timed(modality: str, value: str) -> tuple[str, str, float]:
    from scifm.data.datapoints import InvalidInput

    t0 = time.perf_counter()
    try:
        _validate(modality, value)
        verdict, reason = "ok", ""
    except InvalidInput as err:
        verdict, reason = "invalid", err.reason
    return verdict, reason, time.perf_counter() - t0


@pytest.mark.serial
@pytest.mark.parametrize("modality", MODALITY_NAMES)
@given(value=long_repeats)
def test_long_inputs_are_rejected_in_bounded_time(modality, value):
    """2 kB .. 1 MB inputs: a verdict within a second; 1 MB, over every built-in default limit:
    rejected as too long."""
    out = check_clean(bounded(_timed, modality, value, seconds=20))
    assert out.kind == "ok", out.message
    verdict, reason, seconds = out.value
    assert seconds < 1.0, f"{len(value)} characters took {seconds:.1f} s ({verdict}: {reason})"
    if len(value) >= 1_000_000 and modality in BUILTINS:  # every default limit is <= 100,000
        assert verdict == "invalid" and "too long" in reason, (verdict, reason)


@pytest.mark.parametrize("modality", MODALITY_NAMES)
@given(values=st.lists(st.one_of(all_inputs, st.none(), st.just(float("nan")),
                                 st.integers(), st.floats()), max_size=25))
def test_validate_inputs_gives_one_verdict_per_value(modality, values):
    out = check_clean(bounded(_verdicts, modality, values))
    assert out.kind == "ok", out.message
    canonical, reasons = out.value
    assert len(canonical) == len(reasons) == len(values)
    for c, r in zip(canonical, reasons, strict=True):
        assert (c is None) != (r is None), "each value is either canonical or rejected"
        if r is not None:
            assert r.strip() and "\n" not in r


def _verdicts(modality, values):
    from scifm.data.validate import validate_inputs

    return validate_inputs(values, modality, DataConfig(modality=modality))


labels = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-3, 3)
                   .map(str), st.sampled_from(["", "NA", "inf", "-inf", "nan", "1,5", "active",
                                               " 2 ", "1e400", "0x10"]))


@given(rows=st.lists(st.tuples(st.one_of(st.sampled_from(VALID), smiles_like, any_text), labels),
                     min_size=1, max_size=30),
       n_dup=st.integers(0, 5), policy=st.sampled_from(["mean", "first", "drop", "keep"]))
def test_cleaning_accounts_for_every_row(rows, n_dup, policy):
    """kept + rejected = input rows; each row is in exactly one of them; reasons are one line."""
    rows = rows + rows[:n_dup]  # exact duplicates, possibly with other labels
    df = pd.DataFrame(rows, columns=["smiles", "y"]).replace("", np.nan)
    out = check_clean(bounded(_clean, df, policy))
    if out.kind == "scifm":
        return  # e.g. no valid row left, or a target that cannot be learnt: one clear line
    kept, rejected, reasons = out.value
    assert len(kept) + len(rejected) == len(df), "row accounting is broken"
    assert sorted(kept + rejected) == list(range(len(df))), "a row is lost or counted twice"
    assert all(isinstance(r, str) and r.strip() and "\n" not in r for r in reasons)


def _clean(df: pd.DataFrame, policy: str):
    from scifm.data.clean import clean_table

    cfg = DataConfig(input_col="smiles", target_cols=["y"], duplicates=policy)
    res = clean_table(df, cfg, source="fuzz.csv")
    return (res.dataset.row_ids.tolist(), res.rejected["row_id"].tolist(),
            res.rejected["reason"].tolist())


@pytest.mark.parametrize("modality", ["protein", "dna", "text"])
@given(rows=st.lists(st.tuples(st.one_of(sequences, any_text), st.sampled_from(["0", "1", ""])),
                     min_size=1, max_size=30))
def test_cleaning_sequences_and_text_accounts_for_every_row(modality, rows):
    df = pd.DataFrame(rows, columns=["seq", "y"]).replace("", np.nan)
    out = check_clean(bounded(_clean_modality, df, modality))
    if out.kind == "ok":
        n_kept, n_rejected = out.value
        assert n_kept + n_rejected == len(df)


def _clean_modality(df: pd.DataFrame, modality: str) -> tuple[int, int]:
    from scifm.data.clean import clean_table

    cfg = DataConfig(modality=modality, input_col="seq", target_cols=["y"])
    res = clean_table(df, cfg, source="fuzz.csv")
    return len(res.dataset), len(res.rejected)
