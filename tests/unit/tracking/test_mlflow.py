from pathlib import Path

from scifm.tracking.mlflow import flatten, log_run, resolve_tracking_uri, scalar_metrics


def test_flatten_and_scalar_metrics():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    metrics = {"test": {"rmse": {"value": 1.5, "ci95": [1.0, 2.0]}, "n": 10,
                        "per_task": {"y": {"rmse": {"value": 1.5, "ci95": [1, 2]}}}},
               "val": {"rmse": 1.2, "r2": float("nan")}}
    got = scalar_metrics(metrics, "")
    assert got == {"test.rmse": 1.5, "test.per_task.y.rmse": 1.5, "val.rmse": 1.2}


def test_default_uri_is_sqlite_beside_run_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = resolve_tracking_uri(None, tmp_path / "runs" / "a")
    assert uri == f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(None, tmp_path) == "http://127.0.0.1:1"
    assert resolve_tracking_uri("sqlite:///x.db", tmp_path) == "sqlite:///x.db"


def test_log_run_to_sqlite_records_params_metrics_history_and_artifacts(tmp_path):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.html").write_text("<html></html>")
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    run_id = log_run(run_dir=run_dir, uri=uri, experiment="t", run_name="r1",
                     params={"train": {"lr": 0.1}, "seed": 0},
                     histories={"transformer": [{"epoch": 1, "val_loss": 0.9},
                                                {"epoch": 2, "val_loss": 0.5}]},
                     final_metrics={"test": {"roc_auc": {"value": 0.8, "ci95": [0.7, 0.9]}}},
                     artifacts=[run_dir / "report.html"])
    assert run_id is not None
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.data.params["train.lr"] == "0.1"
    assert run.data.metrics["test.roc_auc"] == 0.8
    hist = client.get_metric_history(run_id, "transformer.val_loss")
    assert [(m.step, m.value) for m in hist] == [(1, 0.9), (2, 0.5)]
    names = [a.path for a in client.list_artifacts(run_id)]
    assert "report.html" in names
    assert run.info.status == "FINISHED"


def test_tracking_failure_warns_and_returns_none(tmp_path, caplog):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    bad_uri = f"sqlite:///{tmp_path / 'missing_dir' / 'x' / 'mlflow.db'}"
    (tmp_path / "missing_dir").write_text("a file where a folder should be")
    with caplog.at_level("WARNING"):
        rid = log_run(run_dir=run_dir, uri=bad_uri, experiment="t", run_name="r", params={},
                      histories={}, final_metrics={}, artifacts=[Path("nope")])
    assert rid is None
    assert "tracking failed" in caplog.text
