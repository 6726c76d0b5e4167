"""``scifm redact`` end to end: no planted PII string reaches the output file, the summary, the
terminal or the log; bad input -> one clear line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import random

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.utils.extras import missing
from tests.unit.privacy.test_redaction import CLEAN, planted_note

pytestmark = pytest.mark.cli
runner = CliRunner()
needs_presidio = pytest.mark.skipif(
    missing("presidio_analyzer") or missing("presidio_anonymizer"),
    reason="the privacy extra is not installed: pip install -c constraints.txt -e '.[privacy]'")


class _Records(logging.Handler):
    """Every log record of every logger, formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def all_logs():
    handler, loggers = _Records(), [logging.getLogger(), logging.getLogger("scifm")]
    for lg in loggers:
        lg.addHandler(handler)
    yield handler
    for lg in loggers:
        lg.removeHandler(handler)


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@needs_presidio
def test_redact_csv_and_text_leak_no_pii_anywhere(tmp_path, all_logs, capfd):
    rng = random.Random(7)
    notes = [planted_note(rng) for _ in range(6)]
    planted = {value for _, pii in notes for value, _ in pii}
    pd.DataFrame({"id": range(6), "note": [n for n, _ in notes], "y": list("010101")}) \
        .to_csv(tmp_path / "notes.csv", index=False)
    (tmp_path / "notes.txt").write_text("".join(n.replace("\n", " ") + "\n" for n, _ in notes),
                                        encoding="utf-8")
    seen = []
    for name, extra in (("notes.csv", ["--input-col", "note"]), ("notes.txt", [])):
        out = tmp_path / f"redacted_{name}"
        res = runner.invoke(app, ["-v", "redact", str(tmp_path / name), "--out", str(out),
                                  *extra])
        assert res.exit_code == 0, res.output
        summary = json.loads((tmp_path / f"{out.name}.summary.json").read_text())
        assert summary["n_rows"] == 6 and summary["counts"]["PERSON"] == 12
        assert summary["counts"]["RECORD_ID"] == 6 and "no offline NER model" in summary["names"]
        seen += [out.read_text(encoding="utf-8"), json.dumps(summary), res.output]
    captured = capfd.readouterr()
    seen += [captured.out, captured.err, *all_logs.lines]
    assert all_logs.lines  # the log was captured (and it holds counts only)
    for text in seen:
        leaked = [value for value in planted if value in text]
        assert not leaked, leaked
    frame = pd.read_csv(tmp_path / "redacted_notes.csv")
    assert frame["id"].tolist() == list(range(6)) and frame["y"].tolist() == [0, 1] * 3
    assert all(CLEAN[0] in note for note in frame["note"])


@needs_presidio
def test_redact_bad_input_is_one_clear_line(tmp_path):
    data = tmp_path / "notes.csv"
    pd.DataFrame({"note": ["Mr. Okafor, 617-555-0199"]}).to_csv(data, index=False)
    res = runner.invoke(app, ["redact", str(data), "--input-col", "text", "-o",
                              str(tmp_path / "o.csv")])
    line = _one_error_line(res)
    assert "'text'" in line and "note" in line
    res = runner.invoke(app, ["redact", str(tmp_path / "nope.csv"), "--input-col", "note", "-o",
                              str(tmp_path / "o.csv")])
    assert "not found" in _one_error_line(res)
    res = runner.invoke(app, ["redact", str(data), "-o", str(tmp_path / "o.csv")])
    assert "--input-col" in _one_error_line(res)
    res = runner.invoke(app, ["redact", str(data), "--input-col", "note", "-o", str(data)])
    assert "never writes over its inputs" in _one_error_line(res)
    assert not (tmp_path / "o.csv").exists()
    assert "Okafor" in data.read_text()


def test_redact_without_the_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr("scifm.utils.extras.missing", lambda module: module.startswith("presidio"))
    data = tmp_path / "notes.txt"
    data.write_text("Mr. Okafor\n", encoding="utf-8")
    res = runner.invoke(app, ["redact", str(data), "-o", str(tmp_path / "o.txt")])
    line = _one_error_line(res)
    assert "scifm redact" in line and '".[privacy]"' in line
