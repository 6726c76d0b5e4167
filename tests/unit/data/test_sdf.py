"""SDF records: canonical SMILES, names, SD properties; a broken mol block is quarantined."""

from __future__ import annotations

import pandas as pd

from scifm.data.io import read_table
from scifm.data.sdf import sdf_records


def _sdf_with_broken_block(tmp_path):
    from rdkit import Chem

    blocks = []
    for smi, name, act in [("CCO", "ethanol", "1.5"), ("c1ccccc1", "benzene", "2.5")]:
        mol = Chem.MolFromSmiles(smi)
        mol.SetProp("_Name", name)
        mol.SetProp("activity", act)
        sio = __import__("io").StringIO()
        w = Chem.SDWriter(sio)
        w.write(mol)
        w.close()
        blocks.append(sio.getvalue())
    # a carbon with five bonds: RDKit rejects it at sanitisation
    bad = Chem.MolToMolBlock(Chem.MolFromSmiles("CC(C)(C)(C)C", sanitize=False))
    blocks.insert(1, bad.replace("\n", "\n", 1) + ">  <activity>\n9.9\n\n$$$$\n")
    p = tmp_path / "m.sdf"
    p.write_text("".join(blocks), encoding="utf-8")
    return p


def test_sdf_quarantines_broken_block(tmp_path):
    df = read_table(_sdf_with_broken_block(tmp_path))
    assert len(df) == 3
    assert df["smiles"].tolist()[0] == "CCO" and df["smiles"].tolist()[2] == "c1ccccc1"
    assert df.loc[1, "smiles"] == ""
    assert "record 2" in df.loc[1, "_parse_error"]
    assert pd.isna(df.loc[0, "_parse_error"])
    assert df["activity"].tolist() == ["1.5", "9.9", "2.5"]
    assert df.loc[2, "_name"] == "benzene"


def test_sdf_records_stream_one_dict_per_block(tmp_path):
    recs = list(sdf_records(_sdf_with_broken_block(tmp_path)))
    assert [r["_name"] for r in recs][::2] == ["ethanol", "benzene"]
    assert recs[1]["smiles"] == "" and recs[1]["_parse_error"].startswith("unparseable mol block")
