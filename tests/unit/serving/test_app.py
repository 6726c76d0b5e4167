"""``scifm serve``'s HTTP app (issue 13 item 3): every endpoint and error path, through FastAPI's
TestClient on a tiny real LightGBM run; the Python API ``scifm.load`` gives the same results."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import scifm
from scifm.config.load import load_config
from scifm.errors import ConfigError
from scifm.recipes.predict import predict as run_predict
from scifm.recipes.train import train
from scifm.serving.app import ServeSettings, create_app

KEY = "s3cret-key-for-tests"
INPUTS = ["CCO", "not_a_smiles", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny real LightGBM run (tracking off), named ``mols``."""
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("serve")
    make_molecules(80).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(root / "mols.csv"), "data.input_col": "smiles",
        "data.target_cols": ["active"], "model.families": "lightgbm",
        "model.features": "maccs", "split.method": "random", "eval.n_bootstrap": 50,
        "params.lightgbm.n_estimators": 20, "tracking.enabled": False,
        "out": str(root / "mols")})
    return train(cfg).run_dir


@pytest.fixture(scope="module")
def client(run_dir):
    with TestClient(create_app([run_dir])) as c:
        yield c


def _app(run_dir, **settings) -> TestClient:
    return TestClient(create_app([run_dir], ServeSettings(**settings)))


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": ["mols"]}


def test_list_models_has_metadata_metrics_and_card(client, run_dir):
    models = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["mols"]
    info = models[0]
    assert info["family"] == "lightgbm" and info["modality"] == "smiles"
    assert info["task"]["task_type"] == "binary" and info["task"]["target_cols"] == ["active"]
    assert info["input_cols"] == ["smiles"]
    assert "roc_auc" in info["metrics"]["test"]
    assert info["card"] == (run_dir / "model" / "README.md").read_text()
    assert client.get("/v1/models/mols").json() == info


def test_predict_batch_with_an_invalid_smiles(client, run_dir, tmp_path):
    res = client.post("/v1/models/mols/predict", json={"inputs": INPUTS})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["model"] == "mols" and body["n_items"] == 4 and body["n_invalid"] == 1
    results = body["results"]
    assert [r["status"] for r in results] == ["ok", "invalid", "ok", "ok"]
    bad = results[1]
    assert "SMILES" in bad["error"] and bad["canonical"] is None and bad["pred_active"] is None
    # the valid items are exactly what `scifm predict` writes for the same inputs
    pd.DataFrame({"smiles": INPUTS}).to_csv(tmp_path / "in.csv", index=False)
    run_predict(run_dir, tmp_path / "in.csv", tmp_path / "out.csv", workers=1)
    expected = pd.read_csv(tmp_path / "out.csv", dtype={"pred_active": str})
    for row, result in zip(expected.to_dict(orient="records"), results, strict=True):
        assert row["status"] == result["status"]
        if row["status"] == "ok":
            assert row["canonical"] == result["canonical"]
            for col in ("pred_active", "prob_active"):
                assert result[col] == pytest.approx(row[col]), col


def test_python_api_equals_the_endpoint(client, run_dir):
    served = client.post("/v1/models/mols/predict", json={"inputs": INPUTS}).json()["results"]
    assert scifm.load(run_dir).predict(INPUTS) == served


def test_unknown_model_is_404(client):
    res = client.post("/v1/models/nope/predict", json={"inputs": ["CCO"]})
    assert res.status_code == 404 and "mols" in res.json()["detail"]
    assert client.get("/v1/models/nope").status_code == 404


@pytest.mark.parametrize("body", [{"inputs": []}, {}, {"inputs": "CCO"}, {"inputs": [1]}])
def test_empty_or_malformed_batch_is_422(client, body):
    assert client.post("/v1/models/mols/predict", json=body).status_code == 422


def test_too_many_items_is_413(run_dir):
    with _app(run_dir, max_items=3) as c:
        res = c.post("/v1/models/mols/predict", json={"inputs": ["CCO"] * 4})
        assert res.status_code == 413
        assert "the limit is 3" in res.json()["detail"]
        assert c.post("/v1/models/mols/predict", json={"inputs": ["CCO"] * 3}).status_code == 200


def test_oversize_body_is_413(run_dir):
    with _app(run_dir, max_body_bytes=200) as c:
        res = c.post("/v1/models/mols/predict", json={"inputs": ["C" * 50] * 10})
        assert res.status_code == 413
        assert "request body too large" in res.json()["detail"]
        # no Content-Length (chunked): the body actually read is counted
        chunks = (b'{"inputs": [' + b'"CCCCCCCCCC",' * 30 + b'"C"]}').split(b",")
        res = c.post("/v1/models/mols/predict", content=(ch + b"," for ch in chunks[:-1]),
                     headers={"content-type": "application/json"})
        assert res.status_code == 413
        assert c.post("/v1/models/mols/predict", json={"inputs": ["CCO"]}).status_code == 200


def test_api_key_wrong_or_missing_is_401(run_dir, monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    with _app(run_dir, api_key_env="MY_KEY") as c:
        url, body = "/v1/models/mols/predict", {"inputs": ["CCO"]}
        assert c.post(url, json=body).status_code == 401
        assert c.post(url, json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": KEY[:-1]}).status_code == 401
        assert c.post(url, json=body, headers={"X-API-Key": KEY}).status_code == 200
        assert c.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}
                      ).status_code == 200
        assert c.get("/health").status_code == 200  # probes need no key
        assert c.get("/ready").status_code == 200


def test_logs_have_no_key_and_no_inputs(run_dir, monkeypatch, caplog):
    monkeypatch.setenv("SCIFM_API_KEY", KEY)
    secret_input = "CCOCCOCCOCCN"
    with caplog.at_level(logging.DEBUG), _app(run_dir) as c:
        for key in (KEY, "wrong", KEY + "x"):
            c.post("/v1/models/mols/predict", json={"inputs": [secret_input, "xx(("]},
                   headers={"X-API-Key": key})
    assert KEY not in caplog.text and "wrong" not in caplog.text
    assert secret_input not in caplog.text and "xx((" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == "scifm.serving.app"]
    assert any("POST /v1/models/mols/predict 200 items=2" in ln for ln in lines), lines
    assert any("POST /v1/models/mols/predict 401" in ln for ln in lines), lines


def test_timeout_is_504(run_dir):
    with _app(run_dir, timeout_s=0.05) as c:
        batcher = c.app.state.batchers["mols"]
        fast = batcher.predict
        batcher.predict = lambda items: time.sleep(0.5) or fast(items)
        res = c.post("/v1/models/mols/predict", json={"inputs": ["CCO"]})
        assert res.status_code == 504 and "longer than 0.05 s" in res.json()["detail"]


def test_openapi_schema_has_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    assert {"/health", "/ready", "/v1/models", "/v1/models/{name}",
            "/v1/models/{name}/predict"} <= set(schema["paths"])
    post = schema["paths"]["/v1/models/{name}/predict"]["post"]
    assert "requestBody" in post and {"200", "413", "422"} <= set(post["responses"])
    assert {"PredictRequest", "PredictResponse", "ItemResult", "ModelInfo"} <= set(
        schema["components"]["schemas"])
    assert schema["components"]["securitySchemes"]  # the API key is documented


def test_duplicate_run_names_are_refused(run_dir, tmp_path):
    other = tmp_path / run_dir.name
    other.mkdir()
    with pytest.raises(ConfigError, match="unique"):
        create_app([run_dir, other])
