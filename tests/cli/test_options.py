"""The shared options map to config keys the same way in every subcommand."""

from __future__ import annotations

from pathlib import Path

from scifm.cli import options as opt


def test_data_flags_leave_what_was_not_given_to_the_config():
    flags = opt.data_flags(data=Path("d.csv"), input_col=None, target_col=["ADR, cardiac"],
                           modality=None, task=None, split="column:set", out=None, seed=0,
                           no_track=False)
    assert flags["data.path"] == "d.csv" and flags["data.target_cols"] == ["ADR, cardiac"]
    assert flags["split.method"] == "column:set" and flags["seed"] == 0
    assert flags["tracking.enabled"] is None and flags["out"] is None


def test_trainer_and_search_flags():
    assert opt.trainer_flags(epochs=2.0, max_steps=None, lr=None, batch_size=8,
                             resume=False) == {"train.epochs": 2.0, "train.max_steps": None,
                                               "train.lr": None, "train.batch_size": 8,
                                               "train.resume": None}
    assert opt.trainer_flags(epochs=None, max_steps=None, lr=None, batch_size=None,
                             resume=True)["train.resume"] is True
    flags = opt.search_flags(n_trials=3, time_budget=None, folds=4, storage=None,
                             study_name="s", workers=None)
    assert flags["automl.tune.folds"] == 4 and flags["automl.tune.study_name"] == "s"


def test_a_time_budget_alone_is_the_only_budget():
    assert opt.search_overrides(60.0, None, ["seed=1"]) == ["automl.tune.n_trials=null",
                                                            "seed=1"]
    assert opt.search_overrides(60.0, 5, None) == []
    assert opt.search_overrides(None, None, None) == []


def test_help_defaults_are_read_from_the_schema_and_registries():
    from scifm.config.registry import MODALITIES

    assert opt.default(["lightgbm", "transformer"]) == \
        "  [dim]\\[default: lightgbm, transformer][/dim]"
    assert opt.default(5e-4).endswith("0.0005][/dim]") and "none" in opt.default(None)
    by_split = opt.by_modality("default_split")
    for spec in MODALITIES:
        assert f"{spec.name}: {spec.default_split}" in by_split
    assert "token_classification" in opt.TASKS and "token_classification" not in \
        opt.SEQUENCE_TASKS
