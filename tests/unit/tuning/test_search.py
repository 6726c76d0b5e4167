"""A search starts a new study from the family's defaults, and only a new one."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from scifm.config.schema import ExperimentConfig
from scifm.tasks import TaskSpec
from scifm.tuning.search import start_from_defaults
from scifm.tuning.search_spaces import default_trial

TASK = TaskSpec("binary", ["y"])


def test_a_new_study_starts_from_the_defaults_a_resumed_one_does_not():
    cfg = ExperimentConfig()
    objective = SimpleNamespace(family="rf", task=TASK, features="ecfp")
    study = optuna.create_study(direction="maximize")
    start_from_defaults(study, cfg, objective)
    assert len(study.trials) == 1
    assert study.trials[0].params == {} and study.trials[0].system_attrs["fixed_params"] == \
        default_trial("rf", "binary", cfg.data.modality, tune_features=False)
    start_from_defaults(study, cfg, objective)  # resumed: the sampler goes on exploring
    assert len(study.trials) == 1
