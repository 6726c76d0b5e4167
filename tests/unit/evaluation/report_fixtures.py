"""Realistic :class:`ReportData` of a small molecule study (two families, a scaffold-like split,
learning curves as the families record them), for the report tests and the browser test."""

from __future__ import annotations

import numpy as np

from scifm.config.load import config_to_yaml
from scifm.config.schema import ExperimentConfig
from scifm.evaluation.metrics import evaluate_predictions, paired_bootstrap
from scifm.evaluation.report import ModelResult, ReportData
from scifm.tasks import TaskSpec
from tests.conftest import make_molecules

EVIL = '<script>alert("x")</script>'
EVIL_SMILES = "C</script><script>alert(1)</script>"
"""A test input that would close a ``<script>`` block if the figure JSON were not escaped."""


def lightgbm_history(n_rounds: int = 200) -> list[dict]:
    """What ``loss_history`` records for LightGBM: ~10 rounds keyed ``round``, raw-scale MSE."""
    return [{"round": r, "train_loss": 4.0 / (1 + r / 20), "val_loss": 2.0 + 30.0 / (5 + r)
             + (r / n_rounds) ** 4} for r in range(n_rounds // 10, n_rounds + 1, n_rounds // 10)]


def transformer_history(epochs: int = 5, metric: str = "val_rmse") -> list[dict]:
    """What ``trainer_history`` records: one row per epoch, standardised loss, val metric
    (the lowest ``val_rmse`` at epoch 4 of 5)."""
    return [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e + 0.02 * e,
             metric: 1.5 - 0.1 * e + 0.06 * (e - 3) ** 2} for e in range(1, epochs + 1)]


def _split(n: int, seed: int) -> dict[str, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(0.7 * n), int(0.85 * n)
    return {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}


def molecule_report(task_type: str = "regression", n: int = 80, seed: int = 0,
                    evil: bool = False) -> ReportData:
    """Two families on ``n`` molecules; with ``evil`` a hostile title, model name and input."""
    df = make_molecules(n, seed=seed)
    smiles = list(df["smiles"])
    if evil:
        smiles[-1] = EVIL_SMILES
    regression = task_type == "regression"
    task = (TaskSpec("regression", ["logp"]) if regression
            else TaskSpec("binary", ["active"], ["inactive", "active"]))
    y = df[["logp" if regression else "active"]].to_numpy(float)
    sp = _split(n, seed)
    rng = np.random.default_rng(seed)
    yt = y[sp["test"]]
    if regression:
        good, weak = yt + 0.3 * rng.normal(size=yt.shape), yt + 1.0 * rng.normal(size=yt.shape)
    else:
        good = np.clip(0.6 * yt + 0.4 * rng.random(yt.shape), 0, 1)
        weak = np.clip(0.3 * yt + 0.7 * rng.random(yt.shape), 0, 1)
    other = EVIL if evil else "transformer"
    metric = "val_rmse" if regression else "val_roc_auc"
    val = {"rmse": 0.4, "r2": 0.8} if regression else {"roc_auc": 0.9, "accuracy": 0.8}
    models = {
        "lightgbm": ModelResult(evaluate_predictions(task, yt, good, n_bootstrap=50) | {
            "val": val}, lightgbm_history(), yt, good, fit_seconds=1.5),
        other: ModelResult(evaluate_predictions(task, yt, weak, n_bootstrap=50),
                           transformer_history(metric=metric), yt, weak, fit_seconds=30.0,
                           n_parameters=3_267_841)}
    cmp = paired_bootstrap(task, yt, good, weak, "rmse" if regression else "roc_auc",
                           n_bootstrap=50, name_a="lightgbm", name_b=other)
    ys = y[:, 0]
    targets = ({"logp": {"n": n, "mean": float(ys.mean()), "std": float(ys.std(ddof=1)),
                         "min": float(ys.min()), "median": float(np.median(ys)),
                         "max": float(ys.max())}} if regression else
               {"active": {"n": n, "class_counts": {"inactive": int((ys == 0).sum()),
                                                    "active": int((ys == 1).sum())}}})
    cfg = ExperimentConfig()
    return ReportData(
        title=f"molecules {EVIL}" if evil else f"molecules ({task_type})", task=task,
        dataset_path="data/mols.csv", modality="smiles",
        command="scifm train --data data/mols.csv --model lightgbm,transformer",
        data_report={"n_rows_in": n + 5, "n_valid": n + 3, "n_invalid": 2,
                     "n_rows_all_labels_missing": 1, "n_duplicate_rows": 2, "n_rows_out": n,
                     "n_rejected": 5, "invalid_reasons": {"unparseable SMILES": 2},
                     "n_missing_labels": {task.target_cols[0]: 1}, "targets": targets,
                     "warnings": ["2 rows have a decimal comma"]},
        split={"method": "scaffold", "seed": seed,
               "sizes": {k: int(len(v)) for k, v in sp.items()}},
        leakage={"exact_duplicates": {"train_test": 0},
                 "nn_similarity": {"mean": 0.41, "values": list(rng.random(len(yt)))},
                 "warnings": []},
        models=models, comparisons=[cmp], config_yaml=config_to_yaml(cfg),
        extra_notes=["Selected model (best validation): lightgbm."],
        rejected_rows_file="rejected.csv", created="2024-01-01 00:00 UTC",
        environment={"numpy": "2.4"},
        warnings=[f"{other}: predicts nearly one value for every row"] if evil else [],
        split_inputs={k: [smiles[i] for i in v] for k, v in sp.items()},
        split_y={k: y[v] for k, v in sp.items()}, units={"logp": "log units"} if regression
        else {})
