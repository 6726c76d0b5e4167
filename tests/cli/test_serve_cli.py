"""``scifm serve``: bad arguments give one line and a non-zero exit before any server starts;
a non-loopback host needs an API key or --allow-public."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.cli.serve import check_bind
from scifm.errors import ConfigError

pytestmark = pytest.mark.cli
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    """Were the checks to pass, uvicorn would start: make that a test failure instead."""
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("a server was started")

    monkeypatch.setattr(uvicorn, "run", refuse)
    monkeypatch.delenv("SCIFM_API_KEY", raising=False)


def _error_line(args: list[str]) -> str:
    res = runner.invoke(app, ["serve", *args])
    assert res.exit_code != 0
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert "Traceback" not in res.output and "a server was started" not in res.output
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, res.output
    return errors[0]


def test_missing_folder(tmp_path):
    assert "not a run directory" in _error_line([str(tmp_path / "nope")])


def test_folder_without_a_model(tmp_path):
    assert "not a scifm run directory" in _error_line([str(tmp_path)])


def test_duplicate_names(tmp_path):
    for parent in ("a", "b"):
        (tmp_path / parent / "run").mkdir(parents=True)
    line = _error_line([str(tmp_path / "a" / "run"), str(tmp_path / "b" / "run")])
    assert "'run'" in line and "unique" in line


def test_public_host_without_key(tmp_path):
    line = _error_line([str(tmp_path), "--host", "0.0.0.0"])
    assert "--allow-public" in line and "SCIFM_API_KEY" in line


def test_no_run_dir_is_a_usage_error():
    res = runner.invoke(app, ["serve"])
    assert res.exit_code != 0


def test_check_bind(monkeypatch):
    check_bind("127.0.0.1", "SCIFM_API_KEY", False)
    check_bind("localhost", "SCIFM_API_KEY", False)
    check_bind("::1", "SCIFM_API_KEY", False)
    check_bind("0.0.0.0", "SCIFM_API_KEY", True)
    with pytest.raises(ConfigError):
        check_bind("example.org", "SCIFM_API_KEY", False)
    monkeypatch.setenv("MY_KEY", "k")
    check_bind("0.0.0.0", "MY_KEY", False)
