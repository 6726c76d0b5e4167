"""Search spaces are data; every draw builds a valid estimator / config for its family."""

from __future__ import annotations

import optuna
import pytest

from scifm.config.registry import MODALITIES
from scifm.featurizers import featurizer_from_name
from scifm.models.estimators import make_estimator
from scifm.models.registry import get_family, tunable_families
from scifm.tuning.search_spaces import (
    default_trial,
    feature_choices,
    sample_params,
    space_for,
)

TUNABLE = tunable_families()


@pytest.mark.parametrize("family", TUNABLE)
@pytest.mark.parametrize("task_type", ["regression", "binary", "multiclass"])
def test_samples_are_valid_params(family, task_type):
    space = space_for(family, task_type)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        trial = study.ask()
        params = sample_params(trial, space)
        assert set(params) == set(space)
        for name, value in params.items():
            spec = space[name]
            if spec[0] == "categorical":
                assert value in spec[1]
            else:
                assert spec[1] <= value <= spec[2]
        typed = get_family(family).params(**params)  # every draw is a valid section
        if family != "lightgbm":
            assert set(params) <= set(type(typed).model_fields)
        if family != "lightgbm" and get_family(family).estimator is not None:
            make_estimator(family, task_type, typed.model_dump())
        study.tell(trial, 0.0)


def test_task_restricted_parameters():
    assert set(space_for("linear", "binary")) == {"C"}
    assert set(space_for("linear", "regression")) == {"alpha"}
    assert "epsilon" not in space_for("svm", "multiclass")


@pytest.mark.parametrize("modality", MODALITIES.names())
def test_feature_choices_build_for_their_modality(modality):
    for name in feature_choices(modality):
        assert featurizer_from_name(name, modality) is not None


@pytest.mark.parametrize("family", sorted(TUNABLE))
@pytest.mark.parametrize("task_type, modality", [("binary", "smiles"), ("regression", "dna")])
def test_default_trial_lies_inside_the_search_space(family, task_type, modality):
    params = default_trial(family, task_type, modality)
    space = space_for(family, task_type)
    assert set(params) <= set(space) | {"features"}
    assert params.get("features") in (None, *feature_choices(modality))
    for name, value in params.items():
        if name == "features":
            continue
        spec = space[name]
        if spec[0] == "categorical":
            assert value in spec[1]
        else:
            assert spec[1] <= value <= spec[2]
    if family == "lightgbm":  # scifm train's defaults, clipped into the space
        assert params["learning_rate"] == 0.05 and params["n_estimators"] == 1000
        assert params["features"] == ("ecfp+rdkit2d" if modality == "smiles" else "kmer5")
