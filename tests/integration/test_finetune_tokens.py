"""Token classification end to end: NER on CoNLL files, per-residue labels with a mask, through
the fine-tuning steps (FineTuner) and the ``scifm finetune`` recipe."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from token_fixtures import ner_sentences, residue_rows, ss_label, write_conll

from scifm.config.load import load_config
from scifm.config.schema import ModelConfig, PeftConfig, TrainConfig
from scifm.evaluation.token_metrics import evaluate_tokens
from scifm.models.transformer import load_token_model
from scifm.recipes.finetune import finetune
from scifm.recipes.predict import predict
from scifm.training.finetune import FineTuner

pytestmark = pytest.mark.integration

TRAIN = TrainConfig(epochs=12, lr=3e-3, batch_size=8, patience=20, bf16="off")
NER_MODEL = ModelConfig(size="tiny", max_length=64, text_vocab_size=200)


def _split(pairs):
    return [w for w, _ in pairs], [t for _, t in pairs]


def test_ner_learns_entities_and_reloads_identically(tmp_path):
    x_tr, y_tr = _split(ner_sentences(30, seed=0))
    x_va, y_va = _split(ner_sentences(8, seed=1))
    x_te, y_te = _split(ner_sentences(20, seed=2))
    model = FineTuner("ner", "text", NER_MODEL, TRAIN)
    model.fit(x_tr, y_tr, x_va, y_va)
    assert model.family == "token"
    pred = model.predict(x_te)
    assert [len(p) for p in pred] == [len(w) for w in x_te]
    f1 = evaluate_tokens("ner", y_te, pred, n_bootstrap=0)["entity_f1"]["value"]
    all_o = evaluate_tokens("ner", y_te, [["O"] * len(w) for w in x_te], n_bootstrap=0)
    assert all_o["entity_f1"]["value"] == 0.0
    assert f1 > 0.6, f1  # a fixed disease vocabulary is easy to learn
    assert "val_entity_f1" in model.history_[-1]
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    meta = json.loads((tmp_path / "m" / "scifm.json").read_text())
    assert meta["task"] == "token_classification" and meta["kind"] == "ner"
    assert meta["labels"] == ["O", "B-Disease", "I-Disease"]
    assert load_token_model(tmp_path / "m").predict(x_te) == pred


def test_residue_labels_respect_the_mask_and_truncation():
    rows = residue_rows(36)
    x = [list(r["sequence"]) for r in rows]
    y = [[None if m == "0" else s for s, m in zip(r["ss3"], r["resolved_mask"], strict=True)]
         for r in rows]
    model = FineTuner("residue", "protein", ModelConfig(size="tiny", max_length=64), TRAIN)
    model.fit(x[:28], y[:28], x[28:32], y[28:32])
    assert model.predictor_.labels_ == ["C", "E", "H"]  # the garbage 'X' under the mask: unseen
    pred = model.predict(x[32:])
    q3 = evaluate_tokens("residue", y[32:], pred, n_bootstrap=0)["q3"]["value"]
    assert q3 > 0.7, q3
    # a residue beyond max_length gets the fill label instead of a model prediction
    long = [list("AIKDE" * 30)]
    out = model.predict(long)[0]
    assert len(out) == 150 and set(out[70:]) == {model.predictor_.fill_label_}
    assert sum(o == ss_label(r) for o, r in zip(out[1:60], long[0][1:60], strict=True)) > 40


def test_token_tasks_gain_peft_class_weights_and_resume(tmp_path):
    """What sequence tasks had: a LoRA adapter that saves and reloads, balanced class weights,
    and resuming from the last checkpoint."""
    x, y = _split(ner_sentences(24, seed=0))
    quick = TrainConfig(max_steps=6, lr=1e-2, batch_size=8, bf16="off", warmup_ratio=0.0)
    lora = FineTuner("ner", "text", NER_MODEL, quick, peft_cfg=PeftConfig(method="lora"))
    lora.fit(x[:20], y[:20], x[20:], y[20:])
    assert 0 < lora.n_trainable_parameters_ < lora.n_parameters_ / 2
    lora.save(tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter_config.json").is_file()
    again = load_token_model(tmp_path / "lora")
    assert again.predict(x) == lora.predict(x)

    weighted_cfg = NER_MODEL.model_copy(update={"class_weight": "balanced"})
    weighted = FineTuner("ner", "text", weighted_cfg, quick).fit(x, y)
    plain = FineTuner("ner", "text", NER_MODEL, quick).fit(x, y)
    assert all(np.isfinite(r["train_loss"]) for r in weighted.history_)
    assert weighted.history_[0]["train_loss"] != plain.history_[0]["train_loss"]

    first = FineTuner("ner", "text", NER_MODEL, quick.model_copy(update={"max_steps": 3}),
                      work_dir=tmp_path / "w").fit(x, y)  # 3 steps = 1 epoch
    assert first.resumed_from_ is None and first.global_step_ == 3
    resumed = FineTuner("ner", "text", NER_MODEL, quick.model_copy(update={"resume": True}),
                        work_dir=tmp_path / "w").fit(x, y)
    assert resumed.resumed_from_.endswith("checkpoint-3") and resumed.global_step_ == 6


def _run(tmp_path, flags):
    base = {"model.size": "tiny", "model.max_length": 64,
            "data.task": "token_classification", "out": str(tmp_path / "run"),
            "train.epochs": 8, "train.lr": 3e-3, "train.batch_size": 8, "train.bf16": "off",
            "eval.n_bootstrap": 100, "tracking.enabled": False, "model.text_vocab_size": 200}
    base.update(flags)
    return finetune(load_config(flags=base))


def test_recipe_ner_on_conll_files(tmp_path):
    paths = {}
    for name, n, seed in (("train", 30, 0), ("dev", 6, 1), ("test", 10, 2)):
        paths[name] = write_conll(tmp_path / f"{name}.txt.gz", ner_sentences(n, seed))
    result = _run(tmp_path, {"data.path": str(paths["train"]), "data.modality": "text",
                             "data.val_path": str(paths["dev"]),
                             "data.test_path": str(paths["test"])})
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    for name in ("entity_f1", "entity_precision", "entity_recall"):
        lo, hi = metrics["test"][name]["ci95"]
        assert lo <= metrics["test"][name]["value"] <= hi
    assert metrics["kind"] == "ner" and metrics["test"]["n"] == 10
    splits = json.loads((result.run_dir / "splits.json").read_text())
    assert {k: len(v) for k, v in splits["ids"].items()} == {"train": 30, "val": 6, "test": 10}
    preds = pd.read_csv(result.run_dir / "predictions_test.csv")
    assert len(preds) == 10
    assert all(len(p.split()) == len(i.split()) for p, i in zip(preds["pred"], preds["input"],
                                                                  strict=True))
    assert "entity_f1" in (result.run_dir / "report.html").read_text()

    # scifm predict on the run: a CoNLL file without tags, and a table of sentences
    words = [w for w, _ in ner_sentences(10, 2)]
    untagged = tmp_path / "new.conll"
    untagged.write_text("\n\n".join("\n".join(ws) for ws in words) + "\n")
    out = tmp_path / "tagged.csv"
    summary = predict(result.run_dir, untagged, out)
    tagged = pd.read_csv(out)
    assert summary.n_rows == 10 and summary.n_invalid == 0
    assert tagged["pred"].tolist() == preds["pred"].tolist()  # same model, same sentences
    first = tagged["pred"][0].split()
    spans = [e for e in str(tagged["entities"][0]).split("; ") if e != "nan"]
    assert len(spans) == first.count("B-Disease")
    table = tmp_path / "sentences.csv"
    pd.DataFrame({"text": [" ".join(words[0]), "", " ".join(words[1])]}).to_csv(table,
                                                                                index=False)
    predict(result.run_dir, table, out)
    rows = pd.read_csv(out)
    assert rows["status"].tolist() == ["ok", "invalid", "ok"]
    assert rows["error"][1] == "empty sentence"
    assert rows["pred"][0] == tagged["pred"][0] and rows["pred"][2] == tagged["pred"][1]


def test_recipe_residues_with_split_column_and_mask(tmp_path):
    path = tmp_path / "ss.csv"
    rows = residue_rows(30)
    rows.append({"id": "bad", "sequence": "ACD", "ss3": "HH", "resolved_mask": "111",
                 "set": "train"})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = _run(tmp_path, {"data.path": str(path), "data.modality": "protein",
                             "data.target_cols": ["ss3"], "data.mask_col": "resolved_mask",
                             "data.id_col": "id", "split.method": "predefined",
                             "split.column": "set"})
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test"]["n"] == 6  # every 5th protein is in the test set
    n_scored = sum(len(r["sequence"]) - 2 for i, r in enumerate(rows[:30]) if i % 5 == 0)
    assert metrics["test"]["n_scored"] == n_scored  # masked residues are not scored
    assert 0.0 <= metrics["test"]["q3"]["ci95"][0] <= metrics["test"]["q3"]["value"]
    rejected = pd.read_csv(result.run_dir / "rejected.csv")
    assert rejected["id"].tolist() == ["bad"]
    assert (result.run_dir / "model" / "model.safetensors").is_file()
    assert not (result.run_dir / "checkpoints").exists()

    # scifm predict: one label per residue, invalid sequences reported in place
    test_preds = pd.read_csv(result.run_dir / "predictions_test.csv")
    new = tmp_path / "new.csv"
    pd.DataFrame({"sequence": [test_preds["input"][0], "AC1D", test_preds["input"][1]]}).to_csv(
        new, index=False)
    out = tmp_path / "labels.csv"
    summary = predict(result.run_dir, new, out)
    labelled = pd.read_csv(out)
    assert summary.n_invalid == 1 and labelled["status"].tolist() == ["ok", "invalid", "ok"]
    assert labelled["pred"][0] == test_preds["pred"][0]
    assert labelled["pred"][2] == test_preds["pred"][1]
    assert len(labelled["pred"][0]) == len(test_preds["input"][0])
