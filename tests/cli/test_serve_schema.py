"""``scifm serve``'s OpenAPI schema fuzzed by schemathesis (issue 13, Tests): cases generated from
the schema (valid and invalid bodies, odd model names, odd inputs) are sent to the ASGI app
in-process, on a tiny real LightGBM run; no response may be a 5xx. With an API key set, the
same holds and every valid ``/v1`` call without the key gets 401."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from scifm.serving.app import ServeSettings, create_app

pytestmark = pytest.mark.cli
KEY = "schema-test-key"
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
"""A few derandomised examples per operation: the same cases on every run, < 60 s in all."""
ENDPOINTS = {"GET /health", "GET /ready", "GET /v1/models", "GET /v1/models/{name}",
             "POST /v1/models/{name}/predict"}
EXPECTED = {GenerationMode.POSITIVE: ENDPOINTS,
            GenerationMode.NEGATIVE: {"POST /v1/models/{name}/predict"}}
"""The operations fuzzed in each mode (negative: those whose inputs can be made invalid)."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny real LightGBM run (tracking off), named ``mols``."""
    from scifm.config.load import load_config
    from scifm.recipes.train import train
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("schema")
    make_molecules(60).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(root / "mols.csv"), "data.target_cols": ["active"],
        "model.families": "lightgbm", "model.features": "maccs", "split.method": "random",
        "params.lightgbm.n_estimators": 10, "eval.n_bootstrap": 20, "tracking.enabled": False,
        "out": str(root / "mols")})
    return train(cfg).run_dir


@pytest.fixture(scope="module")
def open_app(run_dir):
    """The app without an API key, small limits (so that large generated bodies hit the 413
    path quickly)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SCIFM_API_KEY", raising=False)
        app = create_app([run_dir], ServeSettings(max_items=50, max_body_bytes=64 * 1024))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def keyed_app(run_dir):
    """The app with an API key (read when the app is built)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCIFM_API_KEY", KEY)
        app = create_app([run_dir])
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(schema, mode: GenerationMode, check) -> set[str]:
    """Run ``check(case)`` on generated cases of every operation; the operations that had cases
    (an operation without parameters or body has no negative case)."""
    fuzzed = set()
    for operation in _operations(schema):
        try:
            FUZZ(given(case=operation.as_strategy(generation_mode=mode))(check))()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        fuzzed.add(operation.label)
    return fuzzed


def test_the_schema_has_every_endpoint(open_app):
    assert {op.label for op in _operations(open_app)} == EXPECTED[GenerationMode.POSITIVE]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error(open_app, mode):
    def check(case):
        response = case.call_and_validate(checks=[not_a_server_error])
        assert response.status_code < 500, response.text

    assert _fuzz(open_app, mode, check) >= EXPECTED[mode]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_with_a_key(keyed_app, mode):
    unauthorised = {401} if mode is GenerationMode.POSITIVE else {400, 401, 422}

    def check(case):
        if case.path.startswith("/v1/"):  # a malformed body: 400 / 422 before the key
            without = case.call(headers={"X-API-Key": "", "Authorization": ""})
            assert without.status_code in unauthorised, without.text
        response = case.call_and_validate(headers={"X-API-Key": KEY},
                                          checks=[not_a_server_error])
        assert response.status_code < 500, response.text

    assert _fuzz(keyed_app, mode, check) >= EXPECTED[mode]


@pytest.mark.parametrize("text", ["\ud800", "C\udfffC", "\udcff", "C\x00C", "\r\n", ""])
def test_inputs_no_generator_makes_are_invalid_items(open_app, text):
    """Lone surrogates (JSON ``\\ud800`` escapes; Hypothesis's text never holds them) and
    control characters: one invalid item each with its reason, not a 500 for the batch."""
    predict = open_app["/v1/models/{name}/predict"]["POST"]
    case = predict.Case(path_parameters={"name": "mols"}, body={"inputs": [text, "CCO"]},
                        media_type="application/json")
    response = case.call_and_validate(checks=[not_a_server_error])
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == "invalid" and first["error"]
    assert second["status"] == "ok"
