"""Fairness audit demo (issue 12): UCI heart disease (Cleveland), by sex and by age.

A scikit-learn logistic regression (median imputation, standardised features, all 13 clinical
columns including ``sex`` and ``age``) predicts ``num > 0`` on a fixed stratified split (60 %
train / 40 % test, stratified on target x sex, seed 0). The test predictions are written as a
predictions file (``true_num``, ``pred_num``, ``prob_num``, ``sex``, ``age``) and audited with
``scifm audit --predictions`` (the recipe, in process: the same as the CLI command printed) by
``sex`` and by age tertiles (``derived:bins:age:3``). Mitigation is fitted out of sample: the
per-group thresholds (Fairlearn ``ThresholdOptimizer``, ``--mitigate``'s code) are fitted on
5-fold out-of-fold predictions of the training rows and applied to the test rows.

Run from the project root: ``python bench/fairness_heart.py`` (about 10 s on 2 cores). Prints
markdown; skips with a message when the data file is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scifm.recipes.audit import audit
from scifm.trust.fairness import classification_fairness
from scifm.trust.fairness_report import difference_rows, group_rows, markdown_table
from scifm.trust.groups import make_groups
from scifm.trust.mitigation import decide, fit_rule

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tables" / "heart_disease_cleveland.csv.gz"
OUT = ROOT / "bench" / "results"
SEED = 0


def _model() -> object:
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(max_iter=1000, C=1.0))


def predictions_file(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Fit on the training rows, write the test predictions; returns the training rows and
    their out-of-fold scores (for the mitigation)."""
    y = (df["num"] > 0).astype(int)
    x = df.drop(columns=["num"])
    strata = y.astype(str) + "_" + df["sex"].astype(str)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, stratify=strata,
                                              random_state=SEED)
    oof = cross_val_predict(_model(), x_tr, y_tr, method="predict_proba",
                            cv=StratifiedKFold(5, shuffle=True, random_state=SEED))[:, 1]
    prob = _model().fit(x_tr, y_tr).predict_proba(x_te)[:, 1]
    out = pd.DataFrame({"id": x_te.index, "input": [f"row{i}" for i in x_te.index],
                        "sex": x_te["sex"].to_numpy(), "age": x_te["age"].to_numpy(),
                        "true_num": y_te.to_numpy(), "pred_num": (prob >= 0.5).astype(int),
                        "prob_num": prob})
    out.to_csv(path, index=False)
    train = x_tr.assign(true_num=y_tr.to_numpy(), input=[f"row{i}" for i in x_tr.index])
    return train.reset_index(drop=True), oof


def audit_section(preds: Path, group_col: str, train: pd.DataFrame, oof: np.ndarray) -> str:
    out_dir = OUT / f"heart_audit_{group_col.replace(':', '_')}"
    result = audit(None, group_col, predictions=preds, out=out_dir, n_bootstrap=2000, seed=SEED)
    fairness = result["fairness"]
    lines = [f"### Heart disease by `{group_col}` ({result['n_rows']} test rows)", "",
             f"Command: `scifm audit --predictions {preds.relative_to(ROOT)} --group-col "
             f"{group_col} --n-bootstrap 2000 --out {out_dir.relative_to(ROOT)}`", "",
             markdown_table(*group_rows(fairness)), "", markdown_table(*difference_rows(fairness)),
             ""]
    lines += [f"- **{name}**: {d['text']}" for name, d in fairness["differences"].items()]
    lines += ["", _mitigation_table(preds, group_col, train, oof, fairness), ""]
    return "\n".join(lines)


def _mitigation_table(preds: Path, group_col: str, train: pd.DataFrame, oof: np.ndarray,
                      before: dict) -> str:
    test = pd.read_csv(preds)
    g_te = make_groups(group_col, test, test["input"].tolist()).groups  # as the audit made them
    g_tr = _same_groups(group_col, train, test, g_te)
    after = {}
    for constraint in ("equalized_odds", "true_positive_rate_parity"):
        rule = fit_rule(oof, train["true_num"].to_numpy(), g_tr, constraint)
        keys = [f"{k}\x1f{g}" for k, g in zip(test["input"], g_te, strict=True)]
        decided = decide(rule, test["prob_num"].to_numpy(), g_te, keys)
        after[constraint] = classification_fairness(test["true_num"].to_numpy(), decided, g_te,
                                                    n_bootstrap=2000, seed=SEED)
    body = []
    for name, d in before["differences"].items():
        cells = [after[c]["differences"][name] for c in after]
        body.append([name, _ci(d), *(_ci(c) for c in cells)])
    body.append(["accuracy (overall)", before["overall"]["accuracy"],
                 *(after[c]["overall"]["accuracy"] for c in after)])
    header = ["metric", "before", "after equalized_odds", "after true_positive_rate_parity"]
    return ("Mitigation, thresholds fitted on 5-fold out-of-fold predictions of the training "
            "rows, evaluated on the test rows (95% CI):\n\n" + markdown_table(header, body))


def _same_groups(group_col: str, train: pd.DataFrame, test: pd.DataFrame,
                 g_te: list) -> list:
    """The training rows' groups: the column itself, or the test rows' age bins (their edges
    applied to the training ages; outside ages go to the first / last bin)."""
    if not group_col.startswith("derived:bins:"):
        return make_groups(group_col, train, train["input"].tolist()).groups
    k = int(group_col.rsplit(":", 1)[1])
    _, edges = pd.qcut(test["age"], k, retbins=True, duplicates="drop")
    names = sorted(set(g_te))  # "Q1 [..]" < "Q2 [..]": bin order
    codes = np.clip(np.searchsorted(edges, train["age"], side="left") - 1, 0, len(names) - 1)
    return [names[c] for c in codes]


def _ci(d: dict) -> str:
    lo, hi = d["ci95"]
    return f"{d['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> int:
    if not DATA.exists():
        print(f"skipped: {DATA} not found (see ../shared/data/README.md section 7.4)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(DATA)
    preds = OUT / "heart_predictions_test.csv"
    train, oof = predictions_file(df, preds)
    print("## Fairness audit: UCI heart disease (Cleveland), logistic regression\n")
    print(f"Data: {DATA.name}, {len(df)} rows, target `num > 0`; 60/40 stratified split "
          f"(seed {SEED}); predictions file `{preds.relative_to(ROOT)}`.\n")
    for group_col in ("sex", "derived:bins:age:3"):
        print(audit_section(preds, group_col, train, oof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
