"""Crash containment of validation: an input that kills the native library is rejected alone.

The crash is made reliable with a test plug-in whose validator kills its own process
(``SIGSEGV``, as RDKit does) on a marker input, and otherwise validates SMILES as usual; it is
declared ``native``, so it runs in worker processes like the SMILES plug-in.
"""

from __future__ import annotations

import logging
import os
import pickle
import time

import pandas as pd
import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data import contained, validate
from scifm.data.clean import clean_table
from scifm.data.contained import validate_contained
from scifm.data.validate import validate_inputs
from scifm.modalities.base import ModalitySpec, NativeCode
from scifm.modalities.smiles import smiles_validator
from tests.crash_plugin import CRASHED, crashing_validator


@pytest.fixture
def crashy():
    spec = MODALITIES.register(ModalitySpec(
        name="crashy", validator=crashing_validator, input_cols=("smiles",),
        native=NativeCode("TestLib", ("rdkit.Chem",))))
    yield spec
    MODALITIES.unregister(spec.name)
    for key in [k for k in validate._CRASHERS if k[0] == spec.name]:
        del validate._CRASHERS[key]


def test_a_crashing_input_is_rejected_alone(crashy, caplog):
    values = ["OCC", "CRASH-1", "c1ccccc1", None, "xx", "CRASH-2", "OCC"]
    with caplog.at_level(logging.WARNING):
        canonical, reasons = validate_inputs(values, "crashy", DataConfig(modality="crashy"))
    assert canonical == ["CCO", None, "c1ccccc1", None, None, None, "CCO"]
    assert reasons[1] == reasons[5] == CRASHED
    assert reasons[3] == "missing input" and reasons[4].startswith("invalid SMILES syntax")
    assert sum(CRASHED in r.message for r in caplog.records) == 2
    # remembered: this process never hands them to the library again
    assert validate._CRASHERS[("crashy", "CRASH-1")] == CRASHED
    again, why = validate_inputs(["CRASH-1", "CCO"], "crashy", DataConfig(modality="crashy"))
    assert again == [None, "CCO"] and why == [CRASHED, None]


def test_crashes_are_isolated_across_workers_and_batches(monkeypatch):
    monkeypatch.setattr(contained, "MIN_ROWS", 10)
    monkeypatch.setattr(contained, "BATCH", 4)
    bad = {3, 4, 57, 98, 99}
    values = [f"CRASH-{i}" if i in bad else "C" * (1 + i % 7) for i in range(100)]
    verdicts, crashed = validate_contained(crashing_validator, DataConfig(), values, "TestLib",
                                           workers=3)
    assert len(verdicts) == 100 and sorted(crashed) == sorted(bad)
    for i, (canonical, reason) in enumerate(verdicts):
        if i in bad:
            assert canonical is None and reason == CRASHED
        else:
            assert canonical == values[i] and reason is None


def test_a_worker_that_hangs_is_killed_and_its_input_rejected(monkeypatch):
    monkeypatch.setattr(contained, "STALL_S", 0.5)
    verdicts, crashed = validate_contained(crashing_validator, DataConfig(),
                                           ["OCC", "HANG", "CCN"], "TestLib")
    assert verdicts[0] == ("CCO", None) and verdicts[2] == ("CCN", None)
    assert verdicts[1] == (None, "timed out in the parser (TestLib): no answer in 0.5 s")
    assert crashed == [1]


def test_a_validator_bug_is_raised_as_it_would_be_in_process(crashy):
    with pytest.raises(ValueError, match="a bug in the validator"):
        validate_inputs(["CCO", "BUG"], "crashy", DataConfig(modality="crashy"))


def test_a_validator_that_cannot_run_in_a_worker_is_run_in_process(caplog):
    def closure_factory(data_cfg):  # a closure cannot be pickled
        return smiles_validator(data_cfg)

    MODALITIES.register(ModalitySpec(name="local", validator=closure_factory,
                                     input_cols=("smiles",), native=NativeCode("TestLib")))
    try:
        with caplog.at_level(logging.WARNING):
            canonical, reasons = validate_inputs(["OCC", "xx"], "local",
                                                 DataConfig(modality="local"))
    finally:
        MODALITIES.unregister("local")
    assert canonical == ["CCO", None] and reasons[1].startswith("invalid SMILES")
    assert any("in this process" in r.message for r in caplog.records)


def test_a_disposable_worker_validates_in_process(monkeypatch):
    monkeypatch.setattr(contained, "_IN_WORKER", True)
    assert not contained.can_contain()
    monkeypatch.setattr(validate, "validate_contained", None)  # would fail if called
    canonical, _ = validate_inputs(["OCC"], "smiles", DataConfig())
    assert canonical == ["CCO"]


def test_cleaning_rejects_the_crasher_with_its_reason(crashy):
    df = pd.DataFrame({"smiles": ["CCO", "CRASH-x", "c1ccccc1O", "CCN", "CCCl"],
                       "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    res = clean_table(df, DataConfig(modality="crashy", target_cols=["y"]))
    assert len(res.dataset) + len(res.rejected) == len(df)
    rejected = res.rejected.set_index("row_id")
    assert rejected.loc[1, "reason"] == CRASHED
    assert res.report["invalid_reasons"]["crashed the parser (TestLib)"] == 1


def test_clean_data_costs_a_message_per_call_not_a_process():
    cfg = DataConfig()
    validate_inputs(["CCO"], "smiles", cfg)  # starts (or reuses) the warm worker
    t0 = time.perf_counter()
    for i in range(10):
        validate_inputs(["CCO", "C" * (i + 2)], "smiles", cfg)
    assert (time.perf_counter() - t0) / 10 < 0.05


def test_a_corpus_remembers_its_crashers_in_worker_processes(crashy, tmp_path, monkeypatch):
    from scifm.data.corpus import CorpusReader  # torch: not imported by the workers

    path = tmp_path / "corpus.smi"
    path.write_text("CCO\nCRASH-c\nc1ccccc1\n")
    reader = CorpusReader(path, "crashy", DataConfig(modality="crashy"), fmt="text")
    assert [(i.text, i.reason) for i in reader.checked()] == [
        ("CCO", None), (None, CRASHED), ("c1ccccc1", None)]
    state = pickle.dumps(reader)  # as a DataLoader worker receives it
    validate._CRASHERS.clear()
    copy = pickle.loads(state)
    assert validate.known_crashes("crashy") == {"CRASH-c": CRASHED}
    monkeypatch.setattr(contained, "_IN_WORKER", True)  # validates in-process, like a worker
    assert list(copy) == ["CCO", "c1ccccc1"]


def test_workers_that_cannot_start_mean_in_process_validation_not_crashes(monkeypatch, caplog):
    def start_dead(cls, ctx):  # a worker that exits before serving (e.g. main not importable)
        ours, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=os._exit, args=(1,), daemon=True)
        proc.start()
        theirs.close()
        return cls(proc, ours)

    monkeypatch.setattr(contained, "_CANNOT_START", False)
    monkeypatch.setattr(contained, "_WARM", [])
    monkeypatch.setattr(contained._Worker, "start", classmethod(start_dead))
    with caplog.at_level(logging.WARNING):
        canonical, reasons = validate_inputs(["OCC", "xx"], "smiles", DataConfig())
    assert canonical == ["CCO", None] and reasons[1].startswith("invalid SMILES syntax")
    assert any("cannot start here" in r.message for r in caplog.records)
    assert not contained.can_contain()  # from now on: in-process, without retrying
