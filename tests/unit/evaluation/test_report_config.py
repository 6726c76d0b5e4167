"""The report's configuration block: collapsed, only the sections that apply to the run."""

from __future__ import annotations

import yaml

from scifm.config.load import config_to_yaml, load_config
from scifm.evaluation.report import ModelResult, ReportData, render_report
from scifm.evaluation.report_config import applicable_config, config_section
from scifm.tasks import TaskSpec

CFG = config_to_yaml(load_config(flags={"train.lr": 3e-5, "data.target_cols": ["y"]}))


def test_lightgbm_run_hides_transformer_pretrain_and_other_modalities() -> None:
    text, dropped = applicable_config(CFG, ["lightgbm"], "scifm train --model lightgbm",
                                      "smiles")
    tree = yaml.safe_load(text)
    assert {"train", "peft", "pretrain", "automl"}.isdisjoint(tree)
    assert {"train", "peft", "pretrain", "data.sequence", "data.text", "model.size"} <= set(
        dropped)
    assert tree["data"]["target_cols"] == ["y"] and "smiles" in tree["data"]
    assert "features" in tree["model"] and "size" not in tree["model"]
    assert tree["split"] and tree["eval"] and "seed" in tree


def test_transformer_run_keeps_train_and_peft() -> None:
    text, dropped = applicable_config(CFG, ["lightgbm", "transformer"], "scifm demo", "protein")
    tree = yaml.safe_load(text)
    assert tree["train"]["lr"] == 3e-5 and "peft" in tree and "size" in tree["model"]
    assert "pretrain" in dropped and "data.smiles" in dropped and "sequence" in tree["data"]
    assert "data.sequence" not in dropped


def test_auto_reads_automl_not_model_families() -> None:
    _, dropped = applicable_config(CFG, ["lightgbm", "rf"], "scifm auto --data x.csv", "smiles")
    assert "automl" not in dropped and "automl.tune" not in dropped
    assert "model.families" in dropped


def test_text_that_is_no_mapping_is_shown_as_is() -> None:
    assert applicable_config("just: [unclosed", ["lightgbm"]) == ("just: [unclosed", [])
    assert applicable_config("- a\n- b\n", ["lightgbm"]) == ("- a\n- b\n", [])


def test_section_is_collapsed_and_names_what_it_hides() -> None:
    data = ReportData(title="t", task=TaskSpec("regression", ["y"]), config_yaml=CFG,
                      command="scifm train", modality="smiles", environment={"python": "3.11"},
                      models={"lightgbm": ModelResult(metrics={})})
    sec = config_section(data)
    assert sec.startswith('<section id="config">')
    assert "<details><summary>Resolved configuration — " in sec
    assert "not applicable to lightgbm hidden" in sec and "pretrain" in sec
    assert "<details><summary>Environment (python 3.11)</summary>" in sec
    pre = sec[sec.index("<pre>"):sec.index("</pre>")]
    assert "\ntrain:" not in pre and "lr:" not in pre  # train.* belongs to the transformer
    assert "\nsplit:" in pre and "target_cols:" in pre


def test_report_keeps_every_key_when_all_apply() -> None:
    doc = render_report(ReportData(title="t", task=TaskSpec("binary", ["y"]),
                                   config_yaml="seed: 1  # <note>\n"))
    assert "seed: 1  # &lt;note&gt;" in doc  # unfiltered text, comments kept, escaped
