"""What plain models on scifm's molecule features reach on a scaffold split with no time budget
(issue 11; not a test): is a set lost to Chemprop for want of a model class, or of time?

For each seed of ``../shared/data/splits/<dataset>_scaffold_seed<k>.csv.gz``: scifm's own
featurizers (``rdkit2d`` alone, and ``ecfp+rdkit2d``, the search's first set) on every row;
three models fitted on train+val and scored on test (RMSE; regression sets only):

* ``ridge``: standardised features clipped to ±10 (a new molecule's outlying descriptor does not
  extrapolate), ``RidgeCV`` over 12 alphas (efficient leave-one-out);
* ``extratrees``: 500 trees, scikit-learn defaults otherwise;
* ``lightgbm``: 500 rounds, learning rate 0.05;

and ``mean``: the plain average of the three on ``rdkit2d``. The numbers say what the families
can reach; ``scifm auto`` under a time budget of about Chemprop's wall time reaches less
(BENCHMARKS.md).

Usage::

    python bench/descriptor_probe.py --datasets freesolv esol_delaney --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_bench import MOLECULENET, SHARED  # noqa: E402

MODELS = ("ridge", "extratrees", "lightgbm")


def fit_predict(name: str, x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray,
                seed: int) -> np.ndarray:
    import lightgbm as lgb
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    x_fit, x_test = np.nan_to_num(x_fit), np.nan_to_num(x_test)
    if name == "ridge":
        scale = StandardScaler().fit(x_fit)
        clip = [np.clip(scale.transform(x), -10, 10) for x in (x_fit, x_test)]
        return RidgeCV(alphas=np.logspace(-2, 3, 12)).fit(clip[0], y_fit).predict(clip[1])
    if name == "extratrees":
        model = ExtraTreesRegressor(500, n_jobs=2, random_state=seed)
    else:
        model = lgb.LGBMRegressor(n_estimators=500, learning_rate=0.05, random_state=seed,
                                  verbose=-1)
    return model.fit(x_fit, y_fit).predict(x_test)


def probe(dataset: str, seed: int) -> dict[str, float]:
    from scifm.featurizers import featurize, featurizer_from_name
    from scifm.featurizers.memo import feature_memo

    col, targets, metric = MOLECULENET[dataset]
    if metric != "rmse":
        raise SystemExit(f"{dataset}: this probe scores regression sets only")
    df = pd.read_csv(SHARED / "splits" / f"{dataset}_scaffold_seed{seed}.csv.gz")
    smiles, y = df[col].astype(str).tolist(), df[targets[0]].to_numpy(float)
    fit, test = (df["split"] != "test").to_numpy(), (df["split"] == "test").to_numpy()
    out: dict[str, float] = {}
    preds = []
    with feature_memo():
        for features in ("rdkit2d", "ecfp+rdkit2d"):
            x = np.asarray(featurize(featurizer_from_name(features, "smiles"), smiles), float)
            for name in MODELS:
                p = fit_predict(name, x[fit], y[fit], x[test], seed)
                out[f"{name} {features}"] = float(np.sqrt(np.mean((p - y[test]) ** 2)))
                if features == "rdkit2d":
                    preds.append(p)
    out["mean rdkit2d"] = float(np.sqrt(np.mean((np.mean(preds, axis=0) - y[test]) ** 2)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=["freesolv"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    if not (SHARED / "splits").is_dir():
        raise SystemExit(f"skipped: the shared splits are not at {SHARED / 'splits'}")
    for dataset in args.datasets:
        rows = {seed: probe(dataset, seed) for seed in args.seeds}
        print(f"\n{dataset} test RMSE (seeds {args.seeds}), fitted on train+val")
        print("| model | features | per seed | mean ± std |\n|---|---|---|---:|")
        for key in rows[args.seeds[0]]:
            vals = [rows[s][key] for s in args.seeds]
            model, features = key.split(" ", 1)
            print(f"| {model} | {features} | {', '.join(f'{v:.3f}' for v in vals)} | "
                  f"{np.mean(vals):.3f} ± {np.std(vals):.3f} |")


if __name__ == "__main__":
    main()
