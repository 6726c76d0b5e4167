"""Transformer embeddings as features for the feature-based families."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import ModelConfig, TrainConfig
from scifm.errors import ConfigError
from scifm.featurizers import build_featurizer
from scifm.featurizers.sets import feature_set
from scifm.modalities.features import applies, atoms
from scifm.models.lightgbm import LightGBMPredictor
from scifm.models.params import LightGBMParams
from scifm.tasks import TaskSpec
from scifm.training.finetune import FineTuner

SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "OCCO", "c1ccncc1", "CCCC"] * 5


def modalities_of(name: str) -> tuple[str, ...]:
    """Modalities every atom of ``name`` applies to."""
    return tuple(m for m in MODALITIES.names() if all(applies(a, m) for a in atoms(name)))


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A tiny fine-tuned transformer run's model/ folder."""
    task = TaskSpec("regression", ["y"])
    y = np.array([[len(s)] for s in SMILES], dtype=float)
    model = FineTuner(task, "smiles", ModelConfig(size="tiny", max_length=32),
                      TrainConfig(max_steps=2, batch_size=8, bf16="off"), seed=0)
    model.fit(SMILES, y)
    path = tmp_path_factory.mktemp("enc") / "model"
    model.save(path)
    return path, model


def test_embedding_features_equal_the_models_mean_pooled_states(encoder_dir):
    path, model = encoder_dir
    feat = feature_set(f"embed:{path}", "smiles")
    x = feat(SMILES[:8])
    assert x.shape == (8, model.predictor_.model_.config.hidden_size) == (8, len(feat))
    np.testing.assert_allclose(x, model.embed(SMILES[:8]), rtol=1e-4, atol=1e-5)
    again = build_featurizer(feat.to_config())  # JSON config -> same features
    np.testing.assert_array_equal(again(SMILES[:8]), x)


def test_embedding_combines_with_fingerprints_and_trains_lightgbm(encoder_dir, tmp_path):
    path, _ = encoder_dir
    assert modalities_of(f"embed:{path}") == ("smiles", "protein", "dna", "text")
    task = TaskSpec("regression", ["y"])
    y = np.array([[len(s)] for s in SMILES], dtype=float)
    model = LightGBMPredictor(task, "smiles", LightGBMParams(n_estimators=20),
                              features=f"embed:{path}+ecfp", seed=0).fit(SMILES, y)
    model.save(tmp_path / "lgbm")
    loaded = LightGBMPredictor.load(tmp_path / "lgbm")
    np.testing.assert_array_equal(loaded.predict(SMILES), model.predict(SMILES))


def test_embedding_of_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no Hugging Face model"):
        len(feature_set(f"embed:{tmp_path}", "text"))
    with pytest.raises(ConfigError, match="unknown feature set"):
        feature_set("embed:", "text")
