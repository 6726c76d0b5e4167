"""What the README's first install command installs: the features that define scifm are core
dependencies; optional parts are extras named beside the README example that needs them."""

from __future__ import annotations

import re

import pytest

from tests.readme.readme_commands import README, ROOT, readme_parts

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_auto_tune_every_family_and_peft_are_core_dependencies() -> None:
    core = _names(PROJECT["dependencies"])
    assert {"optuna", "skops", "peft", "lightgbm", "scikit-learn"} <= core
    xgb = [r for r in PROJECT["dependencies"] if r.startswith("xgboost")]
    assert len(xgb) == 2 and all(";" in r for r in xgb)  # xgboost-cpu where it has wheels
    assert "datamol" not in core and "psycopg" not in core


def test_extras() -> None:
    extras = PROJECT["optional-dependencies"]
    assert _names(extras["postgres"]) == {"psycopg"}
    assert extras["automl"] == [] and extras["peft"] == []  # old install commands still work
    (own,) = [r for r in extras["dev"] if r.startswith("scifm[")]  # dev installs the extras
    assert set(own[len("scifm["):-1].split(",")) == {"postgres", "mpnn", "privacy", "ray"}
    assert _names(extras["mpnn"]) == {"chemprop"}
    assert _names(extras["privacy"]) == {"presidio-analyzer", "presidio-anonymizer", "faker"}
    assert _names(extras["ray"]) == {"ray"}


def test_the_postgres_example_names_its_extra_beside_it() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    (part,) = [p for p in readme_parts() if "postgresql://" in p.text]
    before = "\n".join(lines[part.line - 4:part.line - 1])
    assert 'pip install -c constraints.txt -e ".[postgres]"' in before
