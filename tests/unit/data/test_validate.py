"""Validation by the modality plug-ins: batches of primary inputs and whole records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import DataConfig
from scifm.data.datapoints import Datapoint
from scifm.data.validate import make_validator, validate_inputs, validate_records


def test_make_validator_asks_the_plug_in():
    v = make_validator("smiles", DataConfig())
    assert v("C(O)C") == v("OCC") == "CCO"


def test_validate_inputs_handles_missing_and_caches():
    canon, reasons = validate_inputs(["OCC", None, np.nan, pd.NA, "CCO", "xx", 7],
                                     "smiles", DataConfig())
    assert canon[0] == canon[4] == "CCO"
    assert reasons[1:4] == ["missing input"] * 3
    assert canon[5] is None and reasons[5].startswith("invalid SMILES syntax")
    assert reasons[6] is not None  # '7' is not a SMILES
    with pytest.raises(ValueError, match="unknown modality"):
        validate_inputs(["x"], "image", DataConfig())




def test_validate_records_reads_further_input_columns():
    frame = pd.DataFrame({"smiles": ["OCC", "CCN", "C1CC", "CCC", None],
                          "temperature": ["298", 310.5, "300", "", "300"],
                          "solvent": ["water", "dmso", "water", "water", "water"]})
    cfg = DataConfig(input_col=["smiles", "temperature", "solvent"])
    records, reasons = validate_records(frame, cfg)
    assert records[0] == Datapoint("CCO", (("temperature", 298.0), ("solvent", "water")))
    assert records[1].get("temperature") == 310.5 and str(records[1]) == "CCN"
    assert records[2] is None and reasons[2].startswith("invalid SMILES")
    assert records[3] is None and reasons[3] == "missing input: column 'temperature' is empty"
    assert records[4] is None and reasons[4] == "missing input"
    one, why = validate_records(frame.iloc[:2], DataConfig())
    assert one == ["CCO", "CCN"] and why == [None, None]  # one column: plain datapoints
    assert np.asarray(one, dtype=object).shape == (2,)


def test_validate_records_runs_the_plug_ins_record_check(monkeypatch):
    from scifm.config.registry import MODALITIES
    from scifm.data.datapoints import InvalidInput
    from scifm.modalities.base import ModalitySpec

    def no_hot(primary, extras):
        if dict(extras)["t"] > 400:
            raise InvalidInput(f"implausible condition: t={dict(extras)['t']}")

    base = MODALITIES.get("smiles")
    MODALITIES.register(ModalitySpec(name="smiles_t", validator=base.validator,
                                     input_cols=("smiles", "t"), check_record=no_hot))
    try:
        cfg = DataConfig(modality="smiles_t")
        assert cfg.input_cols == ["smiles", "t"]  # the plug-in's default columns
        records, reasons = validate_records(pd.DataFrame({"smiles": ["CCO", "CCO"],
                                                          "t": [300, 500]}), cfg)
        assert records[0] == Datapoint("CCO", (("t", 300.0),))
        assert records[1] is None and reasons[1] == "implausible condition: t=500.0"
    finally:
        MODALITIES.unregister("smiles_t")
    with pytest.raises(ValueError, match="unknown modality 'smiles_t'"):
        DataConfig(modality="smiles_t")
