"""The resumable state: a finished prefix of chunks, a mismatched fingerprint refused."""

from __future__ import annotations

import pandas as pd
import pytest

from scifm.errors import OutputError
from scifm.screening.state import ScreenState, state_folder


def test_resume_refuse_restart(tmp_path):
    folder = state_folder(tmp_path / "hits.parquet")
    assert folder.name == "hits.screen"
    state = ScreenState.open(folder, {"options": {"top": 5}}, restart=False)
    for i in (0, 1, 3):  # chunk 2 missing: 3 is redone
        state.write("scored", i, pd.DataFrame({"row_id": [i]}))
    again = ScreenState.open(folder, {"options": {"top": 5}}, restart=False)
    assert again.finished("scored") == 2 and not (folder / "scored-00000003.parquet").exists()
    assert [f["row_id"].tolist() for f in again.frames("scored")] == [[0], [1]]
    with pytest.raises(OutputError, match=r"options\.top changed.*--restart"):
        ScreenState.open(folder, {"options": {"top": 6}}, restart=False)
    fresh = ScreenState.open(folder, {"options": {"top": 6}}, restart=True)
    assert fresh.finished("scored") == 0
    fresh.remove()
    assert not folder.exists()


def test_a_folder_screen_did_not_write_is_refused(tmp_path):
    folder = tmp_path / "hits.screen"
    folder.mkdir()
    (folder / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match="not written by scifm screen"):
        ScreenState.open(folder, {}, restart=True)
