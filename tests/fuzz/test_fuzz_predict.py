"""Fuzzing ``scifm.recipes.predict.predict`` on a small trained LightGBM ECFP model.

Properties: one output row per input row, in order (``row_id`` 0..n-1, ``input`` as written);
every row is ``ok`` with a finite prediction or ``invalid`` with a one-line reason and no
prediction; valid molecules are predicted; the input file is never modified; chunking does not
change the result. Random byte strings give an output or one clear line, never another error.
Each example runs in a separate process (a fresh interpreter: LightGBM's OpenMP does not survive a
fork) with a hard time limit.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fuzzlib import (
    N_EXAMPLES,
    any_text,
    bounded,
    check_clean,
    junk_bytes,
    sequences,
    smiles_like,
    valid_smiles,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

VALID = valid_smiles()[:20]
pytestmark = pytest.mark.timeout(300)
fewer = settings(max_examples=max(5, N_EXAMPLES // 3))  # a predict call costs ~0.2 s
SECONDS = 60.0
"""Hard limit of one example (the first also starts the worker's interpreter)."""

rows_strategy = st.lists(
    st.one_of(st.sampled_from(VALID), smiles_like, sequences,
              any_text.filter(lambda s: "\x00" not in s), st.just(""),
              st.sampled_from(["NA", "nan", "C" * 300, "[", "c1ccccc1" * 20])),
    min_size=1, max_size=25)


# ---------------------------------------------------------------- run in the worker process
@dataclass
class Predicted:
    """What one predict call wrote, as read back with pandas, and what it reported."""

    frame: pd.DataFrame
    n_rows: int
    n_invalid: int
    input_unchanged: bool


def _predict_file(run: Path, data: Path, chunksize: int, id_col: str | None = None
                  ) -> Predicted:
    from scifm.recipes.predict import predict

    out = data.with_name("pred.csv")
    before = data.read_bytes()
    summary = predict(run, data, out, id_col=id_col, chunksize=chunksize, workers=1)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    return Predicted(frame, summary.n_rows, summary.n_invalid, data.read_bytes() == before)


def _predict_values(run: Path, values: list[str], chunksizes: list[int]) -> list[Predicted]:
    """Write ``values`` as a CSV column, predict it once per chunk size."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.csv"
        # every cell quoted: a lone "\r" in a cell stays in its cell (pandas leaves it bare)
        pd.DataFrame({"smiles": values}).to_csv(data, index=False, quoting=csv.QUOTE_ALL)
        return [_predict_file(run, data, c) for c in chunksizes]


def _predict_bytes(run: Path, payload: bytes) -> tuple[Predicted, int]:
    """Predict a CSV made of raw bytes; the output and the number of rows the reader sees."""
    from scifm.data.io import iter_table

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.csv"
        data.write_bytes(payload)
        frame = _predict_file(run, data, 4)
        return frame, sum(len(chunk) for chunk in iter_table(data))


def _predict_jsonl(run: Path, values: list[str]) -> Predicted:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.jsonl"
        data.write_text("".join(json.dumps({"smiles": v, "name": f"m{i}"}) + "\n"
                                for i, v in enumerate(values)), encoding="utf-8")
        return _predict_file(run, data, 3, id_col="name")


# ---------------------------------------------------------------- checks in pytest
def _check_rows(pred: Predicted, n: int) -> pd.DataFrame:
    """One row per input row, each ok with a prediction or invalid with a reason; the output
    as read back by pandas is what predict reported writing; the input is unchanged."""
    assert pred.input_unchanged, "predict modified its input"
    frame = pred.frame
    assert pred.n_rows == n, f"{n} rows in, predict reported {pred.n_rows} rows out"
    assert len(frame) == n, f"{n} rows in, {len(frame)} rows read back from the output CSV"
    assert pred.n_invalid == int((frame["status"] == "invalid").sum())
    assert frame["row_id"].tolist() == [str(i) for i in range(n)]
    assert set(frame["status"]) <= {"ok", "invalid"}
    pred = [c for c in frame.columns if c.startswith("pred")]
    assert pred, f"no prediction column in {list(frame.columns)}"
    for _, row in frame.iterrows():
        if row["status"] == "ok":
            assert not row["error"], row.to_dict()
            assert all(math.isfinite(float(row[c])) for c in pred), row.to_dict()
        else:
            assert row["error"].strip() and "\n" not in row["error"], row.to_dict()
            assert all(row[c] == "" for c in pred), row.to_dict()
    return frame


def _ok(out) -> object:
    out = check_clean(out)
    assert out.kind == "ok", f"predict refused a well-formed file: {out.message}"
    return out.value


@fewer
@given(values=rows_strategy, chunksize=st.integers(1, 9))
@example(values=["CCO", "C\rC", "\r"], chunksize=1)  # a carriage return inside a cell
def test_predict_writes_one_row_per_input_row(lgbm_run, values, chunksize):
    (pred,) = _ok(bounded(_predict_values, lgbm_run, values, [chunksize], seconds=SECONDS,
                          spawn=True))
    frame = _check_rows(pred, len(values))
    # the input as given; a carriage return is written as the two characters \r (a bare CR is
    # not quoted by the CSV writer and would split the row)
    assert frame["input"].tolist() == [v.replace("\r", "\\r") for v in values]
    for v, status in zip(values, frame["status"], strict=True):
        if v in VALID:
            assert status == "ok", f"a valid training molecule was rejected: {v}"


@fewer
@given(values=st.lists(st.sampled_from(VALID) | smiles_like, min_size=1, max_size=20),
       chunksize=st.integers(1, 7))
def test_chunking_does_not_change_predictions(lgbm_run, values, chunksize):
    one, many = _ok(bounded(_predict_values, lgbm_run, values, [10_000, chunksize],
                            seconds=SECONDS, spawn=True))
    pd.testing.assert_frame_equal(_check_rows(one, len(values)), _check_rows(many, len(values)))


@fewer
@given(lines=st.lists(st.one_of(junk_bytes.map(lambda b: b.replace(b"\n", b" ")),
                                st.sampled_from([b"CCO", b"c1ccccc1O", b'"C\nC"', b",,,"])),
                      min_size=1, max_size=12))
@example(lines=[b",,,", b"\xf7"])  # a ragged row and an undecodable byte
def test_predict_on_random_bytes_is_clean(lgbm_run, lines):
    """Junk rows: an output with one row per row read, or one clear line; nothing else."""
    out = check_clean(bounded(_predict_bytes, lgbm_run, b"smiles\n" + b"\n".join(lines) + b"\n",
                              seconds=SECONDS, spawn=True))
    if out.kind == "ok":
        pred, n_read = out.value
        _check_rows(pred, n_read)


@fewer
@given(values=st.lists(sequences | any_text.filter(lambda s: "\x00" not in s), min_size=1,
                       max_size=10))
@example(values=["\r"])
def test_predict_other_columns_and_formats(lgbm_run, values):
    """The same promises through JSONL and an id column."""
    frame = _check_rows(_ok(bounded(_predict_jsonl, lgbm_run, values, seconds=SECONDS,
                                    spawn=True)), len(values))
    assert frame["id"].tolist() == [f"m{i}" for i in range(len(values))]
