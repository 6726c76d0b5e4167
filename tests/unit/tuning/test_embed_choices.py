"""``automl.auto.embed``: a pretrained encoder's embeddings among the searched feature sets."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.registry import MODALITIES
from scifm.config.schema import ExperimentConfig
from scifm.errors import ConfigError
from scifm.featurizers import embedding, featurizer_from_name
from scifm.featurizers.base import featurize
from scifm.tuning.search_spaces import default_trial, embed_folder, feature_choices
from tests.encoders import SMILES, save_tiny_encoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return save_tiny_encoder(tmp_path_factory.mktemp("enc") / "model")


def _cfg(embed: str | None) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.automl.auto.embed = embed
    return cfg


@pytest.mark.parametrize("modality", MODALITIES.names())
def test_without_embed_the_choices_are_the_plugins(modality):
    spec = MODALITIES.get(modality)
    plain = list(spec.tune_features) or [spec.default_features]
    assert feature_choices(modality) == feature_choices(modality, _cfg(None)) == plain


def test_embed_adds_the_encoder_alone_and_joined_with_the_default(encoder, monkeypatch):
    monkeypatch.chdir(encoder.parent.parent)
    relative = f"{encoder.parent.name}/{encoder.name}"  # resolved against the working directory
    for modality in ("smiles", "dna"):
        spec = MODALITIES.get(modality)
        choices = feature_choices(modality, _cfg(relative))
        assert choices == [*feature_choices(modality), f"embed:{encoder.resolve()}",
                           f"embed:{encoder.resolve()}+{spec.default_features}"]
    assert embed_folder(_cfg(relative)) == encoder.resolve()
    assert embed_folder(_cfg(None)) is None
    for name in feature_choices("smiles", _cfg(str(encoder))):  # every choice builds
        assert featurizer_from_name(name, "smiles") is not None
    # the first trial still starts from the plug-in's default features, never embeddings
    assert default_trial("lightgbm", "binary", "smiles")["features"] == "ecfp+rdkit2d"
    assert default_trial("lightgbm", "regression", "smiles")["features"] == "rdkit2d"


def test_a_folder_without_a_model_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="automl.auto.embed") as err:
        feature_choices("smiles", _cfg(str(tmp_path / "nowhere")))
    assert "no Hugging Face model (config.json)" in str(err.value)
    assert "\n" not in str(err.value)
    (tmp_path / "a+b").mkdir()
    (tmp_path / "a+b" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"'\+'"):
        embed_folder(_cfg(str(tmp_path / "a+b")))


def test_cli_embed_flag_checks_the_folder_before_reading_data(tmp_path):
    res = CliRunner().invoke(app, ["auto", "--data", str(tmp_path / "missing.csv"), "--embed",
                                   str(tmp_path / "no-model"), "--no-track"])
    assert res.exit_code != 0
    assert "automl.auto.embed" in res.output and "config.json" in res.output
    assert "missing.csv" not in res.output  # the data file was never looked at
    helped = CliRunner().invoke(app, ["auto", "--help"], terminal_width=200)
    assert "--embed" in helped.output and "automl.auto.embed" in helped.output


def test_embeddings_of_the_same_inputs_are_computed_once(encoder, monkeypatch):
    calls: list[int] = []
    real = embedding.EmbeddingFeaturizer._embed

    def counted(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(embedding.EmbeddingFeaturizer, "_embed", counted)
    monkeypatch.setattr(embedding, "_MEMO", type(embedding._MEMO)())
    pool = SMILES * 3
    alone = featurize(featurizer_from_name(f"embed:{encoder}", "smiles"), pool)
    joined = featurize(featurizer_from_name(f"embed:{encoder}+ecfp", "smiles"), pool)
    assert calls == [len(pool)]  # the joined set reused the memoised embeddings
    np.testing.assert_array_equal(np.asarray(joined[:, :alone.shape[1]].todense()
                                             if hasattr(joined, "todense") else
                                             joined[:, :alone.shape[1]]), alone)
    alone[:] = 0  # a caller's change does not reach the memo
    again = featurizer_from_name(f"embed:{encoder}", "smiles")
    assert len(again) == alone.shape[1] and again(pool).any()
    featurize(again, pool[:5])  # other inputs: embedded
    assert calls == [len(pool), 5]
