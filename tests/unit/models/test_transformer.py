"""The transformer family: tiny BERT fits (FineTuner, transformers.Trainer) on generated SMILES,
and the fitted TransformerPredictor that predicts, embeds, saves and loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from scifm.config.schema import ModelConfig, TrainConfig
from scifm.featurizers.tokenizers import build_tokenizer
from scifm.models.base import MODEL_META, Predictor
from scifm.models.transformer import TransformerPredictor, load_transformer
from scifm.tasks import TaskSpec
from scifm.training.data import EncodedDataset, FloatLabelCollator
from scifm.training.device import bf16_supported
from scifm.training.finetune import FineTuner

FRAGS = ["C", "CC", "c1ccccc1", "O", "C(=O)", "N", "Cl", "CCN", "OC", "F", "S"]


def make_smiles(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(FRAGS, size=int(rng.integers(2, 6)))) for _ in range(n)]


def has_n(xs: list[str]) -> np.ndarray:
    return np.array([[1.0 if "N" in s else 0.0] for s in xs])


def cfgs(**train: object) -> tuple[ModelConfig, TrainConfig]:
    base = {"epochs": 12, "lr": 3e-3, "batch_size": 16, "bf16": "off", "warmup_ratio": 0.0,
            "patience": 50}
    base.update(train)
    return ModelConfig(size="tiny", max_length=64), TrainConfig(**base)


def predictor(task: TaskSpec, seed: int = 0, work_dir=None, model_cfg=None, **train: object):
    m, t = cfgs(**train)
    return FineTuner(task=task, modality="smiles", model_cfg=model_cfg or m, train_cfg=t,
                     seed=seed, work_dir=work_dir)


X = make_smiles(64)
BINARY = TaskSpec("binary", ["has_n"], classes=["no", "yes"])


@pytest.fixture(scope="module")
def fitted_binary() -> FineTuner:
    return predictor(BINARY, epochs=15).fit(X[:48], has_n(X[:48]), X[48:], has_n(X[48:]))


def test_binary_fits_the_training_signal(fitted_binary) -> None:
    p = fitted_binary
    assert isinstance(p, Predictor) and p.family == "transformer"
    probs = p.predict(X[:48])
    assert probs.shape == (48, 1) and np.all((probs > 0) & (probs < 1))
    assert roc_auc_score(has_n(X[:48])[:, 0], probs[:, 0]) > 0.95
    assert p.n_parameters_ > 0
    h = p.history_
    assert [r["epoch"] for r in h] == list(range(1, 16))
    assert {"train_loss", "val_loss", "val_roc_auc"} <= set(h[0])
    assert h[-1]["train_loss"] < h[0]["train_loss"]


def test_predict_restores_input_order_and_embeds(fitted_binary) -> None:
    p = fitted_binary
    xs = X[40:60]
    fwd = p.predict(xs)
    np.testing.assert_allclose(p.predict(xs[::-1]), fwd[::-1], rtol=1e-5, atol=1e-6)
    emb = p.embed(xs)
    assert emb.shape == (20, 64) and np.isfinite(emb).all()
    assert not np.allclose(emb[0], emb[1])
    assert p.predict([]).shape == (0, 1)


def test_save_load_identical_and_standard_hf_folder(fitted_binary, tmp_path) -> None:
    p = fitted_binary
    p.save(tmp_path / "model")
    folder = tmp_path / "model"
    names = {f.name for f in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", MODEL_META} <= names
    assert not any(n.endswith((".bin", ".pkl", ".pt")) for n in names)
    meta = json.loads((folder / MODEL_META).read_text())
    assert meta["family"] == "transformer" and meta["modality"] == "smiles"
    assert meta["task"] == BINARY.to_dict() and meta["target_scaling"] is None
    assert meta["model"]["size"] == "tiny" and meta["train"]["epochs"] == 15

    again = load_transformer(folder)
    np.testing.assert_array_equal(again.predict(X), p.predict(X))
    assert again.task == BINARY

    hf = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert hf.config.id2label == {0: "has_n"}
    enc = tok(X[:4], padding=True, return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        logits = hf(**enc).logits.numpy()
    np.testing.assert_allclose(logits, p.predict_logits(X[:4]), rtol=1e-4, atol=1e-5)


def test_regression_predictions_are_in_target_units() -> None:
    rng = np.random.default_rng(1)
    n_count = np.array([s.count("N") for s in X], dtype=float)
    y = (100 + 10 * (n_count - n_count.mean()) / n_count.std()
         + rng.normal(0, 1, len(X)))[:, None]
    p = predictor(TaskSpec("regression", ["pIC"]), epochs=15)
    p.fit(X[:48], y[:48], X[48:], y[48:])
    pred = p.predict(X)
    assert pred.shape == (64, 1)
    assert abs(pred.mean() - 100) < 5 and np.all((pred > 60) & (pred < 140))
    assert np.corrcoef(pred[:48, 0], y[:48, 0])[0, 1] > 0.5
    assert p.predictor_.target_mean_[0] == pytest.approx(y[:48].mean())
    assert 1.0 < p.history_[0]["val_rmse"] < 40  # reported in target units, not standardised


def test_multitask_with_missing_labels_trains_without_nan() -> None:
    rng = np.random.default_rng(2)
    y = np.hstack([has_n(X), np.array([[1.0 if "Cl" in s else 0.0] for s in X])])
    y[rng.random(y.shape) < 0.3] = np.nan
    y[0] = np.nan  # a row without any label
    model_cfg = ModelConfig(size="tiny", max_length=64, class_weight="balanced")
    p = predictor(TaskSpec("binary", ["n", "cl"]), epochs=4, model_cfg=model_cfg)
    p.fit(X[:48], y[:48], X[48:], y[48:])
    losses = [v for r in p.history_ for k, v in r.items() if k.endswith("loss")]
    assert len(losses) == 8 and np.all(np.isfinite(losses))
    pred = p.predict(X)
    assert pred.shape == (64, 2) and np.all((pred > 0) & (pred < 1))


def test_multiclass_probabilities_sum_to_one() -> None:
    y = np.array([[0.0 if "N" in s else (1.0 if "O" in s else 2.0)] for s in X])
    task = TaskSpec("multiclass", ["kind"], classes=["amine", "oxy", "other"])
    p = predictor(task, epochs=3).fit(X[:48], y[:48], X[48:], y[48:])
    probs = p.predict(X)
    assert probs.shape == (64, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert "val_f1_macro" in p.history_[0]
    assert p.predictor_.model_.config.id2label == {0: "amine", 1: "oxy", 2: "other"}


def test_same_seed_identical_predictions_other_seed_differs() -> None:
    preds = []
    for seed in (7, 7, 8):
        p = predictor(BINARY, seed=seed, epochs=2).fit(X[:32], has_n(X[:32]))
        preds.append(p.predict(X))
    np.testing.assert_array_equal(preds[0], preds[1])
    assert not np.allclose(preds[0], preds[2])


def test_resume_continues_from_the_last_checkpoint(tmp_path) -> None:
    y = has_n(X)
    first = predictor(BINARY, work_dir=tmp_path, max_steps=6).fit(X[:48], y[:48])  # 3 steps/epoch
    assert first.global_step_ == 6 and first.resumed_from_ is None
    assert (tmp_path / "checkpoints" / "checkpoint-6").is_dir()
    second = predictor(BINARY, work_dir=tmp_path, max_steps=12, resume=True).fit(X[:48], y[:48])
    assert second.resumed_from_ is not None and second.resumed_from_.endswith("checkpoint-6")
    assert second.global_step_ == 12
    # the epochs of the first run come back from the checkpoint's trainer state
    assert [r["epoch"] for r in second.history_] == [1, 2, 3, 4]
    assert second.history_[0]["train_loss"] == pytest.approx(first.history_[0]["train_loss"])
    # a fresh (non-resumed) run in the same folder starts over and drops the old checkpoints
    third = predictor(BINARY, work_dir=tmp_path, max_steps=3).fit(X[:48], y[:48])
    assert third.resumed_from_ is None and third.global_step_ == 3
    assert sorted(d.name for d in (tmp_path / "checkpoints").iterdir()) == ["checkpoint-3"]


def test_init_from_another_run_keeps_its_tokenizer_and_kmer(tmp_path) -> None:
    dna = ["".join(np.random.default_rng(i).choice(list("ACGT"), 12)) for i in range(24)]
    y = np.array([[float(s.count("A") > 3)] for s in dna])
    model_cfg = ModelConfig(size="tiny", max_length=32, dna_kmer=3)
    _, train_cfg = cfgs(epochs=1)
    run1 = FineTuner(BINARY, "dna", model_cfg, train_cfg).fit(dna, y)
    run1.save(tmp_path / "run1")
    assert TransformerPredictor.load(tmp_path / "run1").dna_kmer_ == 3

    task2 = TaskSpec("regression", ["a", "b"])
    run2 = FineTuner(task2, "dna", ModelConfig(init=tmp_path / "run1", max_length=32),
                     train_cfg).fit(dna, np.hstack([y, 2 * y]))
    assert run2.predictor_.dna_kmer_ == 3  # from run1's scifm.json, not the config default of 1
    assert run2.predictor_.tokenizer_.get_vocab() == run1.predictor_.tokenizer_.get_vocab()
    assert run2.predict(dna).shape == (24, 2)


@pytest.mark.parametrize(("modality", "inputs"), [
    ("protein", ["MKV", "MKVLA", "AAGW", "WWKLM", "MX", "KKLV"] * 4),
    ("dna", ["ACGT", "ACGTTT", "GGNA", "TTAC", "AAAA", "CGCG"] * 4),
    ("text", ["binds the enzyme", "does not bind", "strong binder here", "weak", "no", "yes"] * 4),
])
def test_other_modalities_fit_save_load(modality, inputs, tmp_path) -> None:
    y = np.array([[float(i % 2)] for i in range(len(inputs))])
    model_cfg = ModelConfig(size="tiny", max_length=16, text_vocab_size=50)
    _, train_cfg = cfgs(epochs=1)
    p = FineTuner(BINARY, modality, model_cfg, train_cfg).fit(inputs, y)
    p.save(tmp_path)
    again = TransformerPredictor.load(tmp_path)
    assert again.modality == modality
    np.testing.assert_array_equal(again.predict(inputs), p.predict(inputs))


def test_collator_pads_dynamically_and_keeps_float_nan_labels() -> None:
    tok = build_tokenizer("smiles", X, ModelConfig())
    ds = EncodedDataset([tok("CC")["input_ids"], tok("CCCCC")["input_ids"]],
                        np.array([[1.0, np.nan], [0.0, 1.0]]))
    batch = FloatLabelCollator(tok)([ds[0], ds[1]])
    assert batch["input_ids"].shape == (2, 7)
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert batch["labels"].dtype == torch.float32 and torch.isnan(batch["labels"][0, 1])


@pytest.mark.skipif(not bf16_supported(), reason="no bf16 on this machine")
def test_bf16_autocast_trains() -> None:
    p = predictor(BINARY, epochs=2, bf16="on").fit(X[:32], has_n(X[:32]), X[32:], has_n(X[32:]))
    assert p.predictor_.bf16_ is True
    assert all(np.isfinite(r["train_loss"]) for r in p.history_)
    assert p.predictor_.model_.dtype == torch.float32  # autocast, weights stay fp32
    assert np.isfinite(p.predict(X)).all()


def test_inference_is_fp32_whatever_the_training_precision(fitted_binary) -> None:
    """bf16 logits of a weak model tie (ROC-AUC collapses to 0.5): inference stays fp32."""
    p = fitted_binary.predictor_
    before = p.bf16_
    try:
        p.bf16_ = False
        fp32 = p.predict_logits(X)
        p.bf16_ = True
        assert np.array_equal(p.predict_logits(X), fp32)
        assert len(np.unique(fp32)) > len(X) // 2  # distinct scores, not ties
    finally:
        p.bf16_ = before


def test_folders_saved_before_the_fine_tuning_recipe_still_load(fitted_binary, tmp_path) -> None:
    """Old ``scifm.json``: ``model.family`` (now ``model.families``), no ``peft`` section, no
    trainable count; the folder loads through the family loader and predicts the same."""
    fitted_binary.save(tmp_path / "m")
    meta_file = tmp_path / "m" / MODEL_META
    meta = json.loads(meta_file.read_text())
    meta["model"] = {**{k: v for k, v in meta["model"].items() if k != "families"},
                     "family": "both"}
    del meta["peft"], meta["n_trainable_parameters"]
    meta_file.write_text(json.dumps(meta))
    again = load_transformer(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(X), fitted_binary.predict(X))
    again.save(tmp_path / "resaved")  # and writes it back as it read it
    assert json.loads((tmp_path / "resaved" / MODEL_META).read_text())["model"]["family"] == "both"
