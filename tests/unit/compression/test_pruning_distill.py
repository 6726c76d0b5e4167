"""Pruning (structured heads + FFN, magnitude) with a recovery fine-tune, and distillation into a
smaller student, on a tiny fine-tuned BERT: every variant is a transformer folder that loads in a
fresh process."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from scifm.compression.base import CompressJob, CompressOptions, SplitRows
from scifm.compression.distill import make_distilled_variants
from scifm.compression.pruning import make_pruned_variants, sparsity
from scifm.config.schema import ModelConfig, PeftConfig, TrainConfig
from scifm.errors import ConfigError
from scifm.models import load_predictor
from scifm.models.base import MODEL_META
from scifm.tasks import TaskSpec
from scifm.training.distillation import distillation_loss
from scifm.training.finetune import FineTuner
from scifm.training.losses import make_compute_loss
from tests.conftest import make_molecules

TASK = TaskSpec("binary", ["active"], classes=["no", "yes"])


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    df = make_molecules(96, seed=5)
    x, y = df["smiles"].tolist(), df[["active"]].to_numpy(dtype=float)
    model = FineTuner(TASK, "smiles", ModelConfig(size="tiny", max_length=64),
                      TrainConfig(epochs=6, lr=3e-3, batch_size=16, bf16="off", warmup_ratio=0.0),
                      seed=0, work_dir=tmp_path_factory.mktemp("teacher_work"))
    model.fit(x[:64], y[:64], x[64:80], y[64:80])
    folder = tmp_path_factory.mktemp("teacher") / "model"
    model.save(folder)
    return folder, (x, y)


def make_job(teacher_dir, work, **options) -> CompressJob:
    folder, (x, y) = teacher_dir
    rows = {"train": SplitRows(x[:64], y[:64]), "val": SplitRows(x[64:80], y[64:80]),
            "test": SplitRows(x[80:], y[80:])}
    meta = json.loads((folder / MODEL_META).read_text())
    return CompressJob(folder, meta, TASK, load_predictor(folder), rows, work,
                       CompressOptions(**options))


def predict_in_fresh_process(folders, inputs) -> list[np.ndarray]:
    """Predictions of each model folder, loaded in one new Python process."""
    code = ("import json, sys; from scifm.models import load_predictor; "
            "x = json.loads(sys.argv[1]); "
            "print(json.dumps([load_predictor(f).predict(x).tolist() for f in sys.argv[2:]]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(inputs), *map(str, folders)],
                         capture_output=True, text=True, timeout=120, check=True)
    return [np.asarray(p) for p in json.loads(out.stdout.strip().splitlines()[-1])]


@pytest.fixture(scope="module")
def pruned(teacher_dir, tmp_path_factory):
    job = make_job(teacher_dir, tmp_path_factory.mktemp("prune"), recovery_steps=6, seed=0)
    return job, {v.name: v for v in make_pruned_variants(job)}


def test_structured_pruning_cuts_heads_and_neurons_and_reloads(pruned) -> None:
    job, made = pruned
    assert set(made) == {"pruned-structured-50", "pruned-magnitude-50"}
    variant = made["pruned-structured-50"]
    config = json.loads((variant.model_dir / "config.json").read_text())
    teacher = json.loads((job.model_dir / "config.json").read_text())
    n_layers, n_heads = teacher["num_hidden_layers"], teacher["num_attention_heads"]
    cut = {int(k): v for k, v in config["pruned_heads"].items()}
    assert sorted(cut) == list(range(n_layers)) and all(len(v) == n_heads // 2
                                                        for v in cut.values())
    assert config["intermediate_size"] == teacher["intermediate_size"] // 2
    weights = load_file(str(variant.model_dir / "model.safetensors"))
    query = weights["bert.encoder.layer.0.attention.self.query.weight"]
    assert query.shape[0] == teacher["hidden_size"] // 2  # half the heads' rows are gone
    n_params = sum(t.numel() for t in weights.values())
    n_teacher = sum(t.numel() for t in load_file(str(job.model_dir / "model.safetensors"))
                    .values())
    assert n_params < 0.85 * n_teacher
    assert variant.details["n_parameters"] == n_params
    assert variant.details["recovery_steps"] == 6
    pred = load_predictor(variant.model_dir).predict(job.rows["test"].inputs)
    assert pred.shape == (16, 1) and np.all((pred > 0) & (pred < 1))


def test_magnitude_pruning_keeps_half_the_weights_zero_through_recovery(pruned) -> None:
    job, made = pruned
    variant = made["pruned-magnitude-50"]
    model = load_predictor(variant.model_dir).model_
    teacher = job.teacher.model_
    assert sparsity(model) >= 0.49 and sparsity(teacher) < 0.01
    assert variant.details["sparsity"] == pytest.approx(sparsity(model))
    # recovery trained the surviving weights (the mask alone would leave them as they were)
    w, w0 = (m.bert.encoder.layer[0].intermediate.dense.weight.detach() for m in (model, teacher))
    alive = w != 0
    assert not torch.allclose(w[alive], w0[alive])


def test_distillation_loss_pulls_towards_the_teacher_and_masks_missing_labels() -> None:
    loss = distillation_loss(TASK, make_compute_loss(TASK), alpha=0.5)
    teacher = torch.tensor([[2.0], [-1.0], [0.5]])
    y = torch.tensor([[1.0], [float("nan")], [1.0]])  # row 2: corpus row, no label

    def value(student: torch.Tensor) -> float:
        return float(loss({"logits": student}, torch.cat([y, teacher], 1)))

    assert value(teacher) < value(teacher + 1.5) and value(teacher) < value(-teacher)
    hard_only = float(loss({"logits": teacher}, y))  # validation rows: labels alone
    assert hard_only == pytest.approx(float(make_compute_loss(TASK)({"logits": teacher}, y)))
    unlabelled = torch.cat([torch.full_like(y, float("nan")), teacher], 1)
    assert math.isfinite(float(loss({"logits": teacher * 0}, unlabelled)))


@pytest.fixture(scope="module")
def distilled(teacher_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distill")
    corpus = make_molecules(140, seed=9)["smiles"].tolist()[100:140]
    (tmp / "corpus.smi").write_text("\n".join(corpus + ["not_a_smiles", "C1CC"]) + "\n")
    job = make_job(teacher_dir, tmp / "work", distill_epochs=3, seed=0, corpus=tmp / "corpus.smi")
    return job, make_distilled_variants(job)


def test_distilled_student_is_smaller_learns_and_uses_the_corpus(distilled) -> None:
    job, made = distilled
    assert [v.name for v in made] == ["distilled-small"]  # tiny is not smaller than this teacher
    d = made[0].details
    assert d["n_corpus_rows"] == 40 and d["n_corpus_rejected"] == 2 and d["n_train_rows"] == 64
    assert d["n_parameters"] < d["teacher_n_parameters"]
    # the corpus rows are in the training set: 104 rows in batches of 16, 3 epochs at most
    assert d["steps"] % math.ceil(104 / 16) == 0 and d["steps"] >= math.ceil(104 / 16)
    history = d["history"]
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]

    student = load_predictor(made[0].model_dir)
    assert student.model_.config.num_hidden_layers == 1
    x = job.rows["train"].inputs
    t, s = job.teacher.predict_logits(x)[:, 0], student.predict_logits(x)[:, 0]
    assert np.corrcoef(t, s)[0, 1] > 0.8


def test_every_variant_predicts_the_same_in_a_fresh_process(pruned, distilled) -> None:
    job, made = pruned
    folders = [v.model_dir for v in [*made.values(), *distilled[1]]]
    x = list(job.rows["test"].inputs)
    for folder, there in zip(folders, predict_in_fresh_process(folders, x), strict=True):
        assert there.shape == (len(x), 1) and np.all((there > 0) & (there < 1))
        np.testing.assert_allclose(there, load_predictor(folder).predict(x), rtol=1e-5,
                                   atol=1e-6)


def test_a_lora_regression_teacher_gives_plain_folders_in_target_units(tmp_path) -> None:
    df = make_molecules(64, seed=2)
    x, y = df["smiles"].tolist(), df[["logp"]].to_numpy(dtype=float)
    task = TaskSpec("regression", ["logp"])
    model = FineTuner(task, "smiles", ModelConfig(size="tiny", max_length=64),
                      TrainConfig(epochs=3, lr=3e-3, batch_size=16, bf16="off"), seed=0,
                      work_dir=tmp_path / "w", peft_cfg=PeftConfig(method="lora", r=4))
    model.fit(x[:48], y[:48])
    model.save(tmp_path / "teacher")
    assert (tmp_path / "teacher" / "adapter_config.json").is_file()
    rows = {"train": SplitRows(x[:48], y[:48]), "test": SplitRows(x[48:], y[48:])}
    job = CompressJob(tmp_path / "teacher", {"family": "transformer", "modality": "smiles"}, task,
                      load_predictor(tmp_path / "teacher"), rows, tmp_path / "v",
                      CompressOptions(recovery_steps=2, distill_epochs=1, student="tiny"))
    made = make_pruned_variants(job)
    with pytest.raises(ConfigError, match="not be smaller"):  # tiny preset = this teacher's size
        make_distilled_variants(job)
    expected = job.teacher.predict(x[48:])
    for variant in made:
        assert not (variant.model_dir / "adapter_config.json").exists()
        pred = load_predictor(variant.model_dir).predict(x[48:])
        assert abs(pred.mean() - expected.mean()) < 2 * y.std()  # target units, not z-scores
