"""A missing optional part is one line naming the extra to install, before any work starts."""

from __future__ import annotations

import importlib.util

import pytest

from scifm.errors import ConfigError
from scifm.utils import extras


def _without(monkeypatch: pytest.MonkeyPatch, *absent: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in absent else real(name, *a))


def test_require_extra_names_the_install_command_in_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        extras.require_extra("no_such_module_xyz", "postgres", "--storage postgresql://...")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("--storage postgresql://... needs the PostgreSQL driver")
    assert 'pip install -c constraints.txt -e ".[postgres]"' in msg
    assert 'pip install "scifm[postgres]"' in msg


def test_require_extra_accepts_an_installed_module_or_any_alternative() -> None:
    extras.require_extra("json", "postgres", "x")
    extras.require_extra(("no_such_module_xyz", "json"), "postgres", "x")
    assert extras.missing("no_such_module_xyz.sub")  # parent missing: no exception


@pytest.mark.parametrize("storage", [None, "", "sqlite:///runs/x/optuna.db", "journal:///tmp/j"])
def test_storages_without_a_driver_need_nothing(storage: str | None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "psycopg", "psycopg2")
    extras.require_storage_driver(storage)


def test_postgresql_without_any_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "psycopg", "psycopg2")
    hint = r'postgres.*pip install -c constraints.txt -e "\.\[postgres\]"'
    with pytest.raises(ConfigError, match=hint):
        extras.require_storage_driver("postgresql://user@dbhost/optuna")


def test_postgresql_with_psycopg2_only_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "psycopg")
    if extras.missing("psycopg2"):
        monkeypatch.setattr(extras, "missing", lambda name: name != "psycopg2")
    extras.require_storage_driver("postgresql://user@dbhost/optuna")


def test_an_explicit_driver_must_be_that_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras, "missing", lambda name: name == "psycopg2")
    extras.require_storage_driver("postgresql+psycopg://u@h/db")
    with pytest.raises(ConfigError, match=r"--storage postgresql\+psycopg2://"):
        extras.require_storage_driver("postgresql+psycopg2://u@h/db")
