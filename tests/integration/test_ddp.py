"""Two CPU processes (torchrun, gloo): one run directory, written once, that loads."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(args: list[str], cwd, timeout: int = 150) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "scifm",
           *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_train_on_two_cpu_processes(tmp_path, molecules_csv):
    out = tmp_path / "run"
    proc = _torchrun(["train", "--data", str(molecules_csv), "--input-col", "smiles",
                      "--target-col", "logp", "--model", "transformer", "--split", "random",
                      "--out", str(out), "--no-track", "--set", "model.size=tiny",
                      "--set", "model.max_length=48", "--set", "train.max_steps=4",
                      "--set", "train.batch_size=8", "--set", "eval.n_bootstrap=50",
                      "--set", "train.bf16=off"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # written once: one model folder and one metrics file, no per-rank copies or leftovers
    assert sorted(p.name for p in tmp_path.rglob("metrics.json")) == ["metrics.json"]
    assert [p.parent.name for p in tmp_path.rglob("scifm.json")] == ["model"]
    assert not (out / "checkpoints").exists()
    log = (out / "log.txt").read_text()
    assert "trained by 2 processes (gloo)" in log  # a real process group, not 2 copies
    assert log.count("run directory:") == 1  # only rank 0 logs into the run directory
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test"]["rmse"]["value"])

    from scifm.models import load_predictor

    model = load_predictor(out / "model")
    assert model.predict(["CCO", "c1ccccc1O"]).shape == (2, 1)


def test_text_vocabulary_trained_on_several_processes(tmp_path):
    """Each rank trains the text vocabulary itself; it must be identical for DDP to be right."""
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"word {i} here,{i % 2}\n" for i in range(30)))
    proc = _torchrun(["train", "--data", str(data), "--modality", "text", "--target-col",
                      "label", "--model", "transformer", "--out", str(tmp_path / "r"),
                      "--no-track", "--split", "random", "--set", "model.size=tiny",
                      "--set", "train.max_steps=2"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "trained by 2 processes" in (tmp_path / "r" / "log.txt").read_text()


def test_pretrain_on_two_cpu_processes(tmp_path):
    """MLM pretraining under torchrun: one checkpoint, written once, that loads and is finite."""
    rng = np.random.default_rng(0)
    parts = ["C", "CC", "O", "N", "c1ccccc1", "C(=O)O", "Cl", "CN"]
    corpus = tmp_path / "corpus.smi"
    corpus.write_text("".join("".join(rng.choice(parts, size=rng.integers(2, 8))) + "\n"
                              for _ in range(200)))
    out = tmp_path / "pre"
    proc = _torchrun(["pretrain", "--data", str(corpus), "--modality", "smiles", "--out",
                      str(out), "--no-track", "--max-steps", "6", "--set", "model.size=tiny",
                      "--set", "model.max_length=48", "--set", "train.batch_size=8",
                      "--set", "pretrain.eval_steps=3", "--set", "train.bf16=off",
                      "--set", "pretrain.holdout_fraction=0.2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert "pretrained by 2 processes (gloo)" in log
    assert log.count("run directory:") == 1  # rank 1 writes nothing into the run directory
    assert sorted(p.name for p in tmp_path.rglob("metrics.json")) == ["metrics.json"]
    assert not (out / "checkpoints").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_steps"] == 6
    assert np.isfinite(metrics["test"]["perplexity"]["value"])
    report = json.loads((out / "data_report.json").read_text())
    rejected = (out / "rejected.csv").read_text().splitlines()
    assert rejected[0] == "row,input,reason" and rejected.count(rejected[0]) == 1
    assert len(rejected) == 1 + report["n_rejected"]  # one writer, not two interleaved files

    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(out / "model")
    assert model.num_parameters() > 0


def test_finetune_tokens_on_two_cpu_processes(tmp_path):
    """``scifm finetune`` NER under torchrun: the main process trains the WordPiece vocabulary
    and shares it, both processes train, one run directory is written once and predicts."""
    sys.path.insert(0, str(Path(__file__).parent))
    from token_fixtures import ner_sentences, write_conll

    paths = {name: write_conll(tmp_path / f"{name}.conll", ner_sentences(n, seed))
             for name, n, seed in (("train", 24, 0), ("dev", 6, 1), ("test", 6, 2))}
    out = tmp_path / "ner"
    proc = _torchrun(["finetune", "--data", str(paths["train"]), "--modality", "text",
                      "--task", "token_classification", "--set",
                      f"data.val_path={paths['dev']}", "--set", f"data.test_path={paths['test']}",
                      "--out", str(out), "--no-track", "--set", "model.size=tiny",
                      "--set", "model.max_length=48", "--set", "model.text_vocab_size=200",
                      "--set", "train.batch_size=4", "--epochs", "2", "--set",
                      "eval.n_bootstrap=20", "--set", "train.bf16=off"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.rglob("metrics.json")) == ["metrics.json"]
    assert [p.parent.name for p in tmp_path.rglob("scifm.json")] == ["model"]
    assert not (out / "checkpoints").exists()
    log = (out / "log.txt").read_text()
    assert "on 2 process(es)" in log and log.count("run directory:") == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and np.isfinite(metrics["test"]["entity_f1"]["value"])

    from scifm.models import load_predictor

    tags = load_predictor(out / "model").predict([["the", "patient", "with", "asthma"]])
    assert len(tags[0]) == 4
