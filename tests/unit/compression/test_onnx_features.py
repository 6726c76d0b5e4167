"""Compression of feature models: the ONNX form (``onnx-trees``) and the ECFP student
(``distill-fp``), each loaded in a fresh process and compared with its source."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scifm.compression import distill_features
from scifm.compression.base import CompressJob, CompressOptions, SplitRows
from scifm.compression.distill_features import make_fingerprint_students
from scifm.compression.onnx_features import OnnxMismatchError, make_onnx_feature_variants
from scifm.config.schema import DataConfig
from scifm.data.validate import make_validator
from scifm.models import load_predictor
from scifm.models.ensemble import EnsemblePredictor
from scifm.models.feature import FeaturePredictor
from scifm.models.params import LightGBMParams
from scifm.models.stacked import StackedPredictor, fit_meta
from scifm.tasks import TaskSpec
from tests.conftest import make_molecules

REG = TaskSpec("regression", ["logp"])
BIN = TaskSpec("binary", ["active"])
TWO = TaskSpec("binary", ["active", "high"])
MC = TaskSpec("multiclass", ["band"], classes=["low", "mid", "high"])
FAST = {"n_estimators": 40}
QUICK = LightGBMParams(n_estimators=150, early_stopping_rounds=30)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def mols() -> dict[str, object]:
    """150 molecules: 100 train, 25 val, 25 test, with every kind of target."""
    df = make_molecules(150)
    canonical = make_validator("smiles", DataConfig())  # rows of a run are canonical
    df["smiles"] = [canonical(s) for s in df["smiles"]]
    y_two = np.stack([df["active"], df["logp"] > 2.5], axis=1).astype(float)
    y_two[::5, 1] = np.nan  # a missing label per five rows in the second task
    band = np.digitize(df["logp"], np.quantile(df["logp"], [0.33, 0.66]))[:, None]
    return {"x": df["smiles"].tolist(), "reg": df[["logp"]].to_numpy(float),
            "bin": df[["active"]].to_numpy(float), "two": y_two, "mc": band.astype(float)}


def _fit(family: str, task: TaskSpec, y: np.ndarray, x: list[str], features: str = "ecfp",
         params: dict | None = None) -> FeaturePredictor:
    return FeaturePredictor(family, task, "smiles", features=features, n_jobs=1,
                            params=params).fit(x[:100], y[:100], x[100:125], y[100:125])


def _job(model, folder: Path, x: list[str], y: np.ndarray, **options) -> CompressJob:
    """Save ``model`` as a run's model/, load it back as the teacher, as ``scifm compress`` does."""
    model.save(folder / "model")
    meta = json.loads((folder / "model" / "scifm.json").read_text())
    meta["data"] = {"modality": "smiles", "input_col": "smiles"}
    rows = {"train": SplitRows(x[:100], y[:100]), "val": SplitRows(x[100:125], y[100:125]),
            "test": SplitRows(x[125:], y[125:])}
    return CompressJob(folder / "model", meta, model.task, load_predictor(folder / "model"),
                       rows, folder / "work", CompressOptions(**options))


def _in_fresh_process(folders: dict[str, Path], x: list[str], out: Path) -> dict[str, dict]:
    """Load each folder with ``load_predictor`` in a new interpreter and predict ``x``."""
    script = (
        "import json, sys, numpy as np\n"
        "from scifm.models import load_predictor\n"
        "folders, x, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]\n"
        "res = {}\n"
        "for name, path in folders.items():\n"
        "    m = load_predictor(path)\n"
        "    res[name] = {'family': m.family, 'pred': np.asarray(m.predict(x)).tolist()}\n"
        "json.dump(res, open(out, 'w'))\n")
    subprocess.run([sys.executable, "-c", script, json.dumps({k: str(v) for k, v in
                                                              folders.items()}),
                    json.dumps(x), str(out)], check=True, cwd=ROOT, timeout=120)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def made(mols, tmp_path_factory) -> dict[str, tuple]:
    """Four ONNX variants and one student: ``name -> (variant, source predictor)``."""
    tmp = tmp_path_factory.mktemp("variants")
    x = mols["x"]
    sources = {
        "lgbm-reg": (_fit("lightgbm", REG, mols["reg"], x, params=FAST), mols["reg"]),
        "lgbm-bin": (_fit("lightgbm", BIN, mols["bin"], x, "ecfp+rdkit2d", FAST), mols["bin"]),
        "rf-bin": (_fit("rf", BIN, mols["bin"], x, params=FAST), mols["bin"]),
    }
    members = {"lightgbm": _fit("lightgbm", REG, mols["reg"], x, "rdkit2d", FAST),
               "linear": _fit("linear", REG, mols["reg"], x)}
    sources["ensemble"] = (EnsemblePredictor(REG, "smiles", members,
                                             {"lightgbm": 0.7, "linear": 0.3}), mols["reg"])
    out = {}
    for name, (model, y) in sources.items():
        (variant,) = make_onnx_feature_variants(_job(model, tmp / name, x, y))
        assert variant.name == "onnx" and variant.details["checked_rows"] == 25
        out[name] = (variant, model)
    # the student of a random forest on RDKit descriptors (the slow kind), with a corpus
    teacher = _fit("rf", BIN, mols["bin"], x, "rdkit2d", FAST)
    corpus = tmp / "corpus.smi"
    new = make_molecules(170)["smiles"].tolist()[150:]  # 20 molecules the run never saw
    corpus.write_text("\n".join([*new, *x[125:], "not_a_smiles", x[0]]) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distill_features, "STUDENT_PARAMS", QUICK)
        (student,) = make_fingerprint_students(_job(teacher, tmp / "t", x, mols["bin"],
                                                    corpus=corpus))
    out["student"] = (student, teacher)
    return out


@pytest.fixture(scope="module")
def fresh(made, mols, tmp_path_factory) -> dict[str, dict]:
    """Every variant of ``made`` loaded and predicting in one new interpreter."""
    out = tmp_path_factory.mktemp("fresh") / "predictions.json"
    return _in_fresh_process({k: v[0].model_dir for k, v in made.items()}, mols["x"], out)


def test_onnx_variants_load_in_a_fresh_process_and_equal_their_source(made, fresh, mols):
    x = mols["x"]
    for name, (variant, source) in made.items():
        if name == "student":
            continue
        folder = variant.model_dir
        meta = json.loads((folder / "scifm.json").read_text())
        assert meta["family"] == "onnx_features" and fresh[name]["family"] == "onnx_features"
        assert meta["data"]["input_col"] == "smiles"  # what `predict` reads from a run
        assert not list(folder.rglob("*.skops")) and list(folder.rglob("*.onnx"))
        want = source.predict(x)
        got = np.asarray(fresh[name]["pred"])
        assert got.shape == want.shape == (len(x), 1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
    # the ensemble's members keep their own featurizers (RDKit 2D, ECFP) and weights
    ens = json.loads((made["ensemble"][0].model_dir / "scifm.json").read_text())
    assert ens["combine"] == {"kind": "ensemble", "weights": {"lightgbm": 0.7, "linear": 0.3}}
    assert {m["features"] for m in ens["members"].values()} == {"rdkit2d", "ecfp"}


def test_onnx_shapes_of_multiclass_multitask_stacking_and_calibrated_svm(mols, tmp_path):
    x = mols["x"]
    reg_members = {"xgboost": _fit("xgboost", REG, mols["reg"], x, params=FAST),
                   "extratrees": _fit("extratrees", REG, mols["reg"], x, params=FAST)}
    meta = fit_meta(REG, {k: m.predict(x[100:125]) for k, m in reg_members.items()},
                    mols["reg"][100:125])
    sources = {
        "lgbm-mc": (_fit("lightgbm", MC, mols["mc"], x, params=FAST), mols["mc"]),
        "rf-two": (_fit("rf", TWO, mols["two"], x, params=FAST), mols["two"]),  # one joint forest
        "svm-bin": (_fit("svm", BIN, mols["bin"], x), mols["bin"]),  # Platt scaling in numpy
        "stack": (StackedPredictor(REG, "smiles", reg_members, meta), mols["reg"]),
    }
    for name, (model, y) in sources.items():
        (variant,) = make_onnx_feature_variants(_job(model, tmp_path / name, x, y))
        got = load_predictor(variant.model_dir).predict(x)
        want = model.predict(x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
        if model.task.task_type == "multiclass":
            np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_onnx_member_without_converter_skips_the_variant(mols, tmp_path, caplog):
    x = mols["x"]
    members = {"lightgbm": _fit("lightgbm", REG, mols["reg"], x, params=FAST),
               "knn": _fit("knn", REG, mols["reg"], x)}
    ens = EnsemblePredictor(REG, "smiles", members, {"lightgbm": 0.5, "knn": 0.5})
    with caplog.at_level(logging.WARNING):
        assert make_onnx_feature_variants(_job(ens, tmp_path / "e", x, mols["reg"])) == []
    lines = [r.getMessage() for r in caplog.records if "onnx" in r.getMessage()]
    assert len(lines) == 1 and "'knn'" in lines[0]
    assert not (tmp_path / "e" / "work" / "onnx").exists()


def test_onnx_mismatch_with_the_source_is_an_error(mols, tmp_path):
    x = mols["x"]
    job = _job(_fit("lightgbm", REG, mols["reg"], x, params=FAST), tmp_path / "m", x,
               mols["reg"])
    shifted = job.teacher.predict
    job.teacher.predict = lambda xs: shifted(xs) + 0.01  # a converter that lost 0.01
    with pytest.raises(OnnxMismatchError, match="differs"):
        make_onnx_feature_variants(job)
    assert not (job.work / "onnx").exists()  # nothing left that could be mistaken for one


@pytest.fixture
def quick_student(monkeypatch):
    monkeypatch.setattr(distill_features, "STUDENT_PARAMS", QUICK)


def test_distilled_student_is_a_lightgbm_folder_that_follows_its_teacher(made, fresh, mols):
    student, teacher = made["student"]
    assert student.name == "distilled-ecfp-lgbm"
    meta = json.loads((student.model_dir / "scifm.json").read_text())
    assert meta["family"] == "lightgbm" and meta["features"] == "ecfp"
    assert meta["distilled"]["teacher_family"] == "rf" and meta["data"]["input_col"] == "smiles"
    # the run's test and train rows are left out of the corpus, as is the invalid item
    assert meta["distilled"]["n_corpus_rows"] == student.details["n_corpus_rows"] == 20
    assert "objective=cross_entropy" in (student.model_dir / "booster_0.txt").read_text()
    got = np.asarray(fresh["student"]["pred"])[:100]
    assert fresh["student"]["family"] == "lightgbm" and ((got >= 0) & (got <= 1)).all()
    teach = teacher.predict(mols["x"][:100])  # the teacher's training rows
    assert np.corrcoef(got[:, 0], teach[:, 0])[0, 1] > 0.9  # soft labels, learned


def test_student_regression_multiclass_and_other_modalities(mols, tmp_path, quick_student):
    x = mols["x"]
    for name, task, y in (("reg", REG, mols["reg"]), ("mc", MC, mols["mc"])):
        teacher = _fit("linear", task, y, x)
        (student,) = make_fingerprint_students(_job(teacher, tmp_path / name, x, y))
        model = load_predictor(student.model_dir)
        got, teach = model.predict(x[:100]), teacher.predict(x[:100])
        assert model.family == "lightgbm" and got.shape == teach.shape
        if task.task_type == "regression":
            assert np.corrcoef(got[:, 0], teach[:, 0])[0, 1] > 0.9
        else:  # trained on the teacher's most probable class
            assert np.mean(got.argmax(axis=1) == teach.argmax(axis=1)) > 0.8
    job = _job(_fit("linear", REG, mols["reg"], x), tmp_path / "dna", x, mols["reg"])
    job.meta.update(modality="dna", data={"modality": "dna"})
    assert make_fingerprint_students(job) == []


def test_scifm_predict_uses_a_run_whose_model_is_a_variant(made, mols, tmp_path):
    from scifm.recipes.predict import predict

    variant, source = made["lgbm-bin"]  # ECFP + RDKit 2D features, binary
    run = tmp_path / "compressed"  # what `scifm compress` writes: the variant as model/
    shutil.copytree(variant.model_dir, run / "model")
    rows = pd.DataFrame({"smiles": [*mols["x"][:30], "not_a_smiles"]})
    rows.to_csv(tmp_path / "new.csv", index=False)
    # two spawned workers: each loads the folder and opens its own ONNX Runtime sessions
    summary = predict(run, tmp_path / "new.csv", tmp_path / "pred.csv", workers=2)
    out = pd.read_csv(summary.out)
    assert summary.n_rows == 31 and summary.n_invalid == 1
    ok = out["status"] == "ok"
    want = source.predict(out.loc[ok, "canonical"].tolist())[:, 0]
    np.testing.assert_allclose(out.loc[ok, "prob_active"], want, atol=1e-5)
    # sessions open on first use and are never part of the predictor's pickled state
    model = load_predictor(run / "model")
    assert not any(m._sessions for m in model.members.values())
    model.predict(mols["x"][:5])
    assert all(m._sessions and m.__getstate__()["_sessions"] == {}
               for m in model.members.values())


def test_a_damaged_onnx_folder_is_one_clear_error(made, tmp_path):
    from scifm.errors import RunDirError
    from scifm.models.onnx_features import OnnxFeaturePredictor

    folder = tmp_path / "ens"
    shutil.copytree(made["ensemble"][0].model_dir, folder)
    meta = json.loads((folder / "scifm.json").read_text())
    meta["combine"]["weights"] = {"lightgbm": 1.0}  # a member without a weight
    (folder / "scifm.json").write_text(json.dumps(meta))
    with pytest.raises(RunDirError, match="do not name the members"):
        OnnxFeaturePredictor.load(folder)
    (folder / "members" / "linear" / "task_0.onnx").unlink()
    with pytest.raises(RunDirError, match="model file missing"):
        OnnxFeaturePredictor.load(folder)


@pytest.mark.parametrize("family", ["rf", "extratrees", "lightgbm", "xgboost"])
def test_missing_features_take_the_route_the_trees_learned(family):
    """RDKit descriptors can be NaN: the graphs must send NaN where the library does."""
    import onnxruntime as ort

    from scifm.compression.onnx_features import lightgbm_graphs, taskwise_graphs
    from scifm.models.baselines import LGBMTaskModel
    from scifm.models.estimators import TaskwiseEstimator, make_estimator
    from scifm.models.onnx_features import entry_columns

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    gone = rng.random(300) < 0.4
    X[gone, 0] = np.nan
    y = (gone | (X[:, 1] > 1.0)).astype(float)  # a missing value means "active"
    if family == "lightgbm":
        model = LGBMTaskModel("binary", n_estimators=30, min_child_samples=5).fit(X, y)
        conv = lightgbm_graphs(model, BIN)
    else:
        est = make_estimator(family, "binary", {"n_estimators": 30}, n_jobs=1)
        model = TaskwiseEstimator(est, task_type="binary").fit(X, y)
        conv = taskwise_graphs(model, BIN, family)
    (entry,) = conv["outputs"]
    sess = ort.InferenceSession(conv["graphs"][entry["file"]].SerializeToString())
    got = entry_columns(entry, sess.run([entry["output"]], {"X": X})[0], len(X), BIN)
    np.testing.assert_allclose(got[:, 0], model.predict(X), atol=1e-5)
