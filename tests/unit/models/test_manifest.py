"""Model folders are written whole with a SHA-256 manifest, and load only when intact and only from
safe formats (issue 9): a pickle-based file is refused, a truncated, swapped, missing or added
file is one RunDirError line naming it, a folder saved before manifests loads with a warning."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError, RunDirError
from scifm.featurizers.embedding import EmbeddingFeaturizer
from scifm.featurizers.tokenizers import build_tokenizer, load_checkpoint_tokenizer
from scifm.models import load_predictor
from scifm.models.backbones import Backbone
from scifm.models.base import MODEL_META, update_model_meta
from scifm.models.ensemble import EnsemblePredictor
from scifm.models.feature import FeaturePredictor
from scifm.models.manifest import MANIFEST, folder_files, staged_folder, write_manifest
from scifm.models.safeload import check_model_folder, refuse_unsafe_files
from scifm.models.stores import BoosterStore
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec
from scifm.training.peft import load_adapter_model

DATA = Path(__file__).parent / "data"
BINARY = TaskSpec("binary", ["active"], classes=["no", "yes"])
REG = TaskSpec("regression", ["logp"])
DAMAGED = "the model folder was changed or damaged; retrain or restore it"


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.fixture(scope="module")
def lgbm(molecules_module):
    x = molecules_module["smiles"].tolist()
    y = molecules_module[["active"]].to_numpy(dtype=float)
    return FeaturePredictor("lightgbm", BINARY, "smiles", features="maccs",
                            params={"n_estimators": 20, "min_child_samples": 3}, n_jobs=1).fit(x, y)


@pytest.fixture(scope="module")
def molecules_module():
    from tests.conftest import make_molecules

    return make_molecules(60)


@pytest.fixture(scope="module")
def transformer_dir(tmp_path_factory) -> Path:
    """A saved (untrained) tiny transformer: config.json, model.safetensors, tokenizer, scifm.json,
    manifest.json."""
    mc = ModelConfig(size="tiny", max_length=32)
    tok = build_tokenizer("smiles", ["CCO", "c1ccccc1", "CCN", "CCCl"], mc)
    torch.manual_seed(0)
    model = Backbone.sequence(BINARY).from_config(mc, len(tok))
    path = tmp_path_factory.mktemp("transformer") / "model"
    TransformerPredictor(BINARY, "smiles", model, tok, max_length=32).save(path)
    return path


def copy_of(src: Path, dst: Path, manifest: bool = True) -> Path:
    shutil.copytree(src, dst)
    if not manifest:
        (dst / MANIFEST).unlink()
    return dst


# ---------------------------------------------------------------- writing
def test_save_writes_a_manifest_and_replaces_the_folder_whole(lgbm, transformer_dir, tmp_path):
    model = copy_of(transformer_dir, tmp_path / "model")  # a former transformer run's model/
    lgbm.save(model)
    assert sorted(p.name for p in model.iterdir()) == [
        "booster_0.txt", "featurizer.json", MANIFEST, MODEL_META]  # no stale model.safetensors
    manifest = json.loads((model / MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["booster_0.txt", "featurizer.json", MODEL_META]
    assert manifest["files"]["booster_0.txt"]["bytes"] == (model / "booster_0.txt").stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left
    assert check_model_folder(model) is True
    x = ["CCO", "c1ccccc1O"]
    np.testing.assert_array_equal(load_predictor(model).predict(x), lgbm.predict(x))


def test_a_failed_save_leaves_the_previous_folder_as_it_was(lgbm, tmp_path, monkeypatch):
    model = tmp_path / "model"
    lgbm.save(model)
    before = {p: p.read_bytes() for p in model.iterdir()}

    def crash(self, m, path):
        (path / "booster_0.txt").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(BoosterStore, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        lgbm.save(model)
    assert {p: p.read_bytes() for p in model.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_update_model_meta_rehashes_scifm_json(lgbm, tmp_path):
    lgbm.save(tmp_path / "model")
    update_model_meta(tmp_path / "model", data={"modality": "smiles"})
    assert check_model_folder(tmp_path / "model")
    assert load_predictor(tmp_path / "model").family == "lightgbm"


def test_staged_folder_without_manifest_and_nested_files(tmp_path):
    with staged_folder(tmp_path / "tok", manifest=False) as tmp:
        (tmp / "tokenizer.json").write_text("{}")
    assert [p.name for p in (tmp_path / "tok").iterdir()] == ["tokenizer.json"]
    with staged_folder(tmp_path / "m") as tmp:
        (tmp / "base").mkdir()
        (tmp / "base" / "config.json").write_text("{}")
        (tmp / ".hidden").write_text("x")
    assert folder_files(tmp_path / "m") == ["base/config.json"]
    assert list(json.loads((tmp_path / "m" / MANIFEST).read_text())["files"]) == [
        "base/config.json"]


# ---------------------------------------------------------------- tampering
def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _swap(f: Path) -> None:  # same size, other content
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1
    f.write_bytes(bytes(data))


def _plant(f: Path) -> None:
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(b"\x80\x04")  # the start of a pickle


TAMPERING = {
    "truncated booster": (lambda m: _truncate(m / "booster_0.txt"),
                          r"booster_0.txt does not match its manifest \(\d+ bytes, expected \d+\)"),
    "swapped booster": (lambda m: _swap(m / "booster_0.txt"),
                        r"booster_0.txt does not match its manifest \(sha256 [0-9a-f]{12}\.\.\., "
                        r"expected [0-9a-f]{12}\.\.\.\)"),
    "corrupt featurizer.json": (lambda m: (m / "featurizer.json").write_text("{not json"),
                                "featurizer.json does not match its manifest"),
    "missing featurizer.json": (lambda m: (m / "featurizer.json").unlink(),
                                r"featurizer.json is missing \(listed in .*manifest.json\)"),
    "added file": (lambda m: (m / "notes.txt").write_text("hi"),
                   "notes.txt is not in the model's manifest"),
    "corrupt manifest": (lambda m: (m / MANIFEST).write_text("[1, 2"),
                         "cannot read .*manifest.json"),
    "manifest escaping the folder": (
        lambda m: (m / MANIFEST).write_text(json.dumps(
            {"files": {"../x": {"sha256": "0" * 64, "bytes": 1}}})),
        "manifest.json is not a valid model manifest"),
    "planted pytorch_model.bin": (lambda m: _plant(m / "pytorch_model.bin"),
                                  "pytorch_model.bin: scifm refuses a model folder holding a "
                                  "pickle-based file"),
    "pickle in a sub-folder": (lambda m: _plant(m / "sub" / "x.pkl"), "sub/x.pkl: scifm refuses"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_tampered_feature_model_is_one_line_naming_the_file(case, lgbm, tmp_path):
    model = tmp_path / "model"
    lgbm.save(model)
    load_predictor(model)  # verified once: a later change is still found
    tamper, pattern = TAMPERING[case]
    tamper(model)
    with pytest.raises(RunDirError, match=pattern) as err:
        load_predictor(model)
    one_line(err)


def test_corrupt_scifm_json_is_one_line(lgbm, tmp_path):
    model = tmp_path / "model"
    lgbm.save(model)
    (model / MODEL_META).write_text('{"family": "lightgbm", ')
    with pytest.raises(RunDirError, match="cannot read the model description .*scifm.json") as e:
        load_predictor(model)
    one_line(e)
    (model / MODEL_META).write_text(json.dumps({"family": "lightgbm"}))  # valid but swapped
    with pytest.raises(RunDirError, match="scifm.json does not match its manifest"):
        load_predictor(model)


def test_a_folder_saved_before_manifests_loads_with_one_warning(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("scifm"), "propagate", True)  # after a CLI test
    model = copy_of(DATA / "lightgbm_v1", tmp_path / "model")
    expected = json.loads((DATA / "lightgbm_v1_expected.json").read_text())
    import scifm.models.safeload as safeload

    warnings: list[str] = []  # what the module emits (not what handlers happen to capture)
    monkeypatch.setattr(safeload.logger, "warning",
                        lambda msg, *args: warnings.append(msg % args))
    for _ in range(2):
        pred = load_predictor(model).predict(expected["inputs"])
    np.testing.assert_allclose(pred, expected["predictions"], rtol=1e-12)
    assert len(warnings) == 1 and "has no manifest.json" in warnings[0]
    assert "cannot be verified" in warnings[0]
    (model / "booster_0.pkl").write_text("")  # still no pickle-based file, manifest or not
    with pytest.raises(RunDirError, match="booster_0.pkl: scifm refuses"):
        load_predictor(model)


def test_an_ensemble_manifest_covers_its_members(lgbm, molecules_module, tmp_path):
    x = molecules_module["smiles"].tolist()
    y = molecules_module[["logp"]].to_numpy(dtype=float)
    members = {f: FeaturePredictor(f, REG, "smiles", features="maccs", n_jobs=1).fit(x, y)
               for f in ("linear", "knn")}
    EnsemblePredictor(REG, "smiles", members, {"linear": 1, "knn": 1}).save(tmp_path / "model")
    files = json.loads((tmp_path / "model" / MANIFEST).read_text())["files"]
    assert "members/knn/estimators.skops" in files and "members/knn/manifest.json" in files
    assert load_predictor(tmp_path / "model").predict(x[:3]).shape == (3, 1)
    _swap(tmp_path / "model" / "members" / "knn" / "estimators.skops")
    with pytest.raises(RunDirError, match="members/knn/estimators.skops does not match"):
        load_predictor(tmp_path / "model")


# ---------------------------------------------------------------- Hugging Face folders
def test_transformer_folder_round_trips_with_its_manifest(transformer_dir):
    files = json.loads((transformer_dir / MANIFEST).read_text())["files"]
    assert {"config.json", "model.safetensors", "tokenizer.json", MODEL_META} <= set(files)
    assert load_predictor(transformer_dir).predict(["CCO"]).shape == (1, 1)


HF_TAMPERING = {
    "planted pytorch_model.bin": (
        lambda m: (torch.save(load_file(m / "model.safetensors"), m / "pytorch_model.bin"),
                   (m / "model.safetensors").unlink()),
        "pytorch_model.bin: scifm refuses a model folder holding a pickle-based file",
        "pytorch_model.bin: scifm refuses a model folder holding a pickle-based file"),
    "truncated model.safetensors": (
        lambda m: _truncate(m / "model.safetensors"),
        "model.safetensors does not match its manifest",
        "cannot load the model .*model.safetensors: Error while deserializing header"),
    "missing tokenizer.json": (
        lambda m: (m / "tokenizer.json").unlink(),
        "tokenizer.json is missing",
        "tokenizer.json is missing: no tokenizer in"),
    "corrupt tokenizer.json": (
        lambda m: (m / "tokenizer.json").write_text("{"),
        "tokenizer.json does not match its manifest",
        "cannot read .*tokenizer.json: Expecting"),
    "corrupt config.json": (
        lambda m: (m / "config.json").write_text("[1]"),
        "config.json does not match its manifest",
        "config.json does not hold a JSON object"),
    "missing weights": (
        lambda m: (m / "model.safetensors").unlink(),
        "model.safetensors is missing",
        "model.safetensors is missing: no model weights"),
}


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "saved-before-manifests"])
@pytest.mark.parametrize("case", list(HF_TAMPERING))
def test_a_damaged_transformer_folder_is_one_line_naming_the_file(case, manifest, transformer_dir,
                                                                  tmp_path):
    model = copy_of(transformer_dir, tmp_path / "model", manifest=manifest)
    tamper, with_manifest, without = HF_TAMPERING[case]
    tamper(model)
    with pytest.raises(RunDirError, match=with_manifest if manifest else without) as err:
        load_predictor(model)
    one_line(err)


def test_a_pickled_adapter_is_refused(transformer_dir, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    shutil.copytree(transformer_dir, model / "base")
    (model / "base" / MANIFEST).unlink()
    (model / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(RunDirError, match="adapter_model.safetensors is missing"):
        load_adapter_model(model)
    (model / "adapter_model.bin").write_bytes(b"\x80\x04")  # peft would torch.load it
    with pytest.raises(RunDirError, match="adapter_model.bin: scifm refuses") as err:
        load_adapter_model(model)
    one_line(err)


# ---------------------------------------------------------------- checkpoints
def test_a_model_init_checkpoint_with_only_pytorch_model_bin_is_refused(transformer_dir, tmp_path):
    ckpt = copy_of(transformer_dir, tmp_path / "ckpt", manifest=False)
    (ckpt / MODEL_META).unlink()  # a plain Hugging Face checkpoint
    torch.save(load_file(ckpt / "model.safetensors"), ckpt / "pytorch_model.bin")
    (ckpt / "model.safetensors").unlink()
    cfg = ModelConfig(init=ckpt, max_length=32)
    with pytest.raises(RunDirError, match="ckpt/pytorch_model.bin: scifm refuses") as err:
        Backbone.sequence(BINARY).load(cfg)
    one_line(err)
    with pytest.raises(RunDirError, match="pytorch_model.bin: scifm refuses"):
        load_checkpoint_tokenizer(ckpt, 32)


def test_a_downloaded_checkpoint_with_safetensors_beside_a_bin_loads_without_the_bin(
        transformer_dir, tmp_path, caplog):
    ckpt = copy_of(transformer_dir, tmp_path / "hub", manifest=False)
    (ckpt / MODEL_META).unlink()  # as downloaded from a hub: both formats side by side
    (ckpt / "pytorch_model.bin").write_bytes(b"\x80\x04 not a real pickle")  # never opened
    with caplog.at_level("WARNING"):
        model = Backbone.sequence(BINARY).load(ModelConfig(init=ckpt, max_length=32))
    assert model is not None and "never opens the pickle" in caplog.text
    (ckpt / MODEL_META).write_text("{}")  # a scifm folder may hold no pickle at all
    with pytest.raises(RunDirError, match="pytorch_model.bin: scifm refuses"):
        refuse_unsafe_files(ckpt)


def test_a_damaged_model_init_checkpoint_is_one_line(transformer_dir, tmp_path):
    ckpt = copy_of(transformer_dir, tmp_path / "scifm_ckpt")
    _truncate(ckpt / "model.safetensors")
    with pytest.raises(RunDirError, match="model.safetensors does not match its manifest"):
        Backbone.sequence(BINARY).load(ModelConfig(init=ckpt))
    plain = copy_of(transformer_dir, tmp_path / "plain", manifest=False)
    (plain / MODEL_META).unlink()
    _truncate(plain / "model.safetensors")
    with pytest.raises(ConfigError, match="model.init: cannot load the model .*model.safetensors"):
        Backbone.sequence(BINARY).load(ModelConfig(init=plain))
    (plain / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match="model.init: .*tokenizer.json is missing"):
        load_checkpoint_tokenizer(plain, 32)


def test_an_embedding_folder_is_checked_too(transformer_dir, tmp_path):
    enc = copy_of(transformer_dir, tmp_path / "enc")
    assert len(EmbeddingFeaturizer(str(enc))) == 64
    (enc / "training_args.bin").write_bytes(b"\x80\x04")
    with pytest.raises(RunDirError, match="training_args.bin: scifm refuses"):
        len(EmbeddingFeaturizer(str(enc)))
    (enc / "training_args.bin").unlink()
    _swap(enc / "model.safetensors")
    with pytest.raises(RunDirError, match="model.safetensors does not match its manifest"):
        len(EmbeddingFeaturizer(str(enc)))


def test_write_manifest_then_check(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    write_manifest(tmp_path)
    assert check_model_folder(tmp_path)
    (tmp_path / "a.txt").write_text("b")
    with pytest.raises(RunDirError, match=f"a.txt does not match its manifest .*: {DAMAGED}"):
        check_model_folder(tmp_path)
