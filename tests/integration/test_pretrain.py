"""``scifm pretrain`` end to end, fine-tuning from its checkpoint, and LoRA on a real checkpoint."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.recipes.pretrain import pretrain
from scifm.recipes.train import train
from tests.checkpoints import verified_minilm_path

pytestmark = pytest.mark.integration

RINGS = ["c1ccc({})cc1", "C1CCC({})CC1", "c1ccnc({})c1", "C1CCN(C{})CC1", "c1coc({})c1"]
SUBS = ["C", "CC", "O", "N", "Cl", "F", "C(=O)O", "OC", "CN", "CCO"]
INVALID = ["not_a_smiles", "C1CC", "C(C)(C)(C)(C)C"]


def _corpus(path: Path, n: int = 300) -> Path:
    combos = itertools.islice(itertools.product(SUBS, RINGS, SUBS), n)
    lines = [a + ring.format(b) for a, ring, b in combos] + INVALID
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pt_cfg(tmp: Path, data: Path, **flags: object):
    base = {"data.path": str(data), "data.modality": "smiles", "out": str(tmp),
            "model.size": "tiny", "model.max_length": 64, "train.max_steps": 20,
            "pretrain.eval_steps": 10, "train.batch_size": 16, "train.lr": 1e-3,
            "train.bf16": "off", "tracking.enabled": False}
    base.update(flags)
    return load_config(flags=base)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pt")
    return pretrain(_pt_cfg(tmp / "run", _corpus(tmp / "corpus.smi")))


def test_pretrain_writes_a_masked_lm_checkpoint(pretrained) -> None:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    run, model_dir = pretrained.run_dir, pretrained.model_dir
    assert model_dir == run / "model"
    mlm = AutoModelForMaskedLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert mlm.config.vocab_size == len(tok) and tok.mask_token == "[MASK]"
    assert "Cl" in tok.tokenize("ClCCl")
    assert not list(model_dir.glob("*.bin")) and (model_dir / "model.safetensors").is_file()
    meta = json.loads((model_dir / "scifm.json").read_text())
    assert meta["modality"] == "smiles" and meta["n_steps"] == 20 and meta["max_length"] == 64

    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert math.isfinite(test["perplexity"]["value"]) and test["perplexity"]["value"] > 1
    assert 0.0 <= test["mlm_accuracy"]["value"] <= 1.0
    assert test["perplexity"]["value"] == pytest.approx(math.exp(test["mlm_loss"]["value"]))
    card = (model_dir / "README.md").read_text()
    assert f"perplexity: {test['perplexity']['value']:.4g}" in card and "20 steps" in card
    data = metrics["data"]
    assert data["n_rejected"] == len(INVALID) and data["n_valid"] == 300
    assert data["n_train"] + data["n_holdout"] == 300 and data["n_holdout"] > 0
    assert len(pd.read_csv(run / "rejected.csv")) == len(INVALID)
    history = json.loads((run / "history.json").read_text())["mlm"]
    assert [h["step"] for h in history if "val_loss" in h] == [10, 20]
    assert not (run / "checkpoints").exists()


def test_finetune_from_pretrain_reuses_its_tokenizer(pretrained, tmp_path, molecules_csv) -> None:
    from transformers import AutoTokenizer

    cfg = load_config(flags={
        "data.path": str(molecules_csv), "data.target_cols": ["active"],
        "model.families": "transformer", "model.init": str(pretrained.model_dir),
        "out": str(tmp_path / "ft"), "split.method": "random", "train.max_steps": 6,
        "train.batch_size": 16, "train.bf16": "off", "eval.n_bootstrap": 50,
        "tracking.enabled": False})
    result = train(cfg)
    ft_model = result.run_dir / "model"
    assert AutoTokenizer.from_pretrained(ft_model).get_vocab() == \
        AutoTokenizer.from_pretrained(pretrained.model_dir).get_vocab()
    assert json.loads((ft_model / "scifm.json").read_text())["model"]["init"] == \
        str(pretrained.model_dir)
    assert np.isfinite(result.metrics["test"]["roc_auc"]["value"])


def test_pretrain_cli_resumes_after_interruption(tmp_path) -> None:
    corpus = _corpus(tmp_path / "c.smi", 120)
    common = ["pretrain", "--data", str(corpus), "--modality", "smiles", "--out",
              str(tmp_path / "run"), "--no-track", "--set", "model.size=tiny",
              "--set", "model.max_length=48", "--set", "pretrain.eval_steps=5",
              "--set", "train.batch_size=8", "--set", "train.bf16='off'",
              "--set", "pretrain.holdout_fraction=0.2"]
    runner = CliRunner()
    first = runner.invoke(app, [*common, "--max-steps", "5", "--set",
                                "train.keep_checkpoints=true"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-5").is_dir()
    again = runner.invoke(app, [*common, "--max-steps", "10", "--resume"])
    assert again.exit_code == 0, again.output
    assert "mlm_accuracy" in again.output
    assert "resuming from" in (tmp_path / "run" / "log.txt").read_text()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_steps"] == 10


def test_dna_kmer_pretrain_carries_kmer_to_finetuning(tmp_path) -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=30)) for _ in range(80)]
    (tmp_path / "dna.txt").write_text("\n".join(seqs) + "\n")
    pt = pretrain(_pt_cfg(tmp_path / "pt", tmp_path / "dna.txt", **{
        "data.modality": "dna", "model.dna_kmer": 3, "train.max_steps": 4,
        "pretrain.eval_steps": 4, "pretrain.holdout_fraction": 0.2}))
    meta = json.loads((pt.model_dir / "scifm.json").read_text())
    assert meta["dna_kmer"] == 3 and meta["mask_span"] == 3  # k-mers are masked in spans of k
    labels = [int("TA" in s) for s in seqs]
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(tmp_path / "d.csv"), "data.input_col": "sequence",
        "data.modality": "dna", "data.target_cols": ["label"], "model.families": "transformer",
        "model.init": str(pt.model_dir), "out": str(tmp_path / "ft"), "split.method": "random",
        "train.max_steps": 2, "train.bf16": "off", "eval.n_bootstrap": 20,
        "tracking.enabled": False})
    ft = train(cfg)
    assert json.loads((ft.run_dir / "model" / "scifm.json").read_text())["dna_kmer"] == 3


def test_lora_on_real_minilm_checkpoint_predicts_in_fresh_process(tmp_path) -> None:
    init = verified_minilm_path()  # every file's SHA-256 checked (tests/checkpoints.py)
    from transformers import AutoTokenizer

    words = ["binds the substrate tightly", "strong kinase inhibition", "potent in cells",
             "no effect on growth", "weak or absent binding", "remained inactive"]
    texts = [f"the compound {words[i % 6]} in assay {i}" for i in range(30)]
    pd.DataFrame({"text": texts, "label": [int(i % 6 < 3) for i in range(30)]}).to_csv(
        tmp_path / "t.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(tmp_path / "t.csv"), "data.input_col": "text", "data.modality": "text",
        "data.target_cols": ["label"], "model.families": "transformer", "model.init": str(init),
        "model.max_length": 32, "peft.method": "lora", "out": str(tmp_path / "run"),
        "split.method": "random", "train.max_steps": 3, "train.batch_size": 8,
        "train.bf16": "off", "eval.n_bootstrap": 20, "tracking.enabled": False})
    result = train(cfg)
    model_dir = result.run_dir / "model"
    assert (model_dir / "adapter_model.safetensors").is_file()
    assert AutoTokenizer.from_pretrained(model_dir).get_vocab() == \
        AutoTokenizer.from_pretrained(init).get_vocab()  # the checkpoint's own WordPiece
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert 0 < metrics["n_trainable_parameters"] < 0.01 * metrics["n_parameters"]
    share = 100 * metrics["n_trainable_parameters"] / metrics["n_parameters"]
    report = (result.run_dir / "report.html").read_text()
    assert f"{metrics['n_trainable_parameters']:,} ({share:.2f}%)" in report  # trained vs total
    out = tmp_path / "p.csv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "scifm.cli", "predict", str(result.run_dir),
                           "--data", str(tmp_path / "t.csv"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    preds = pd.read_csv(out)
    assert len(preds) == 30 and preds["prob_label"].between(0, 1).all()
