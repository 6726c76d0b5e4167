"""Molecule drawings, nearest training neighbours and the best / worst examples section."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scifm.evaluation.drawings import Neighbours, molecule_svg
from scifm.evaluation.report_examples import examples_section, prediction_errors
from scifm.tasks import TaskSpec
from tests.unit.evaluation.report_fixtures import molecule_report


def test_molecule_svg_is_inline_and_safe() -> None:
    svg = molecule_svg("CC(=O)Oc1ccccc1C(=O)O")
    assert svg.startswith('<svg class="mol" role="img"') and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<script" not in svg and not re.search(r"\bid=", svg)
    assert molecule_svg("not a molecule") == "" and molecule_svg("") == ""
    # CXSMILES atom labels are not parsed: no text of the input reaches the drawing
    hostile = molecule_svg("C* |$;<script>alert(1)</script>$|")
    assert "alert" not in hostile and "script" not in hostile


def test_neighbours_are_ranked_by_tanimoto() -> None:
    train = ["c1ccccc1O", "CCO", "c1ccccc1", "CCCCCCCCO", "not smiles"]
    nn = Neighbours(train)
    (row, sim), *rest = nn.nearest("c1ccccc1O", k=3)
    assert (row, sim) == (0, 1.0) and len(rest) == 2
    sims = [s for _, s in nn.nearest("CCCCO", k=4)]
    assert sims == sorted(sims, reverse=True) and len(sims) == 4  # the invalid one is skipped
    assert nn.nearest("not smiles") == []


def test_prediction_errors() -> None:
    y = np.array([[1.0], [0.0], [np.nan]])
    p = np.array([[0.9], [0.3], [0.5]])
    err, what = prediction_errors(TaskSpec("binary", ["a"]), y, p)
    assert what == "1 − P(true class)" and np.allclose(err[:2], [0.1, 0.3]) and np.isnan(err[2])
    multi = TaskSpec("multiclass", ["c"], ["x", "y", "z"])
    err, _ = prediction_errors(multi, np.array([[2.0], [0.0]]),
                               np.array([[0.1, 0.1, 0.8], [0.2, 0.7, 0.1]]))
    assert np.allclose(err, [0.2, 0.8])
    err, what = prediction_errors(TaskSpec("regression", ["r"]), np.array([[1.0], [2.0]]),
                                  np.array([[1.5], [0.0]]))
    assert what == "absolute error" and np.allclose(err, [0.5, 2.0])


@pytest.mark.parametrize("task_type", ["regression", "binary"])
def test_examples_draw_best_worst_and_neighbours(task_type: str) -> None:
    data = molecule_report(task_type)  # 12 test molecules
    sec = examples_section(data)
    assert sec.startswith('<section id="examples">')
    assert sec.count('<svg class="mol"') == 6 + 6 + 6 * 3
    assert sec.count("mol-card query") == 6 and sec.count("train · Tanimoto") == 18
    m = data.models["lightgbm"]
    err, _ = prediction_errors(data.task, m.y_true, m.y_pred)
    shown = [float(x) for x in re.findall(r"(?:absolute error|class\)) (-?[\d.]+)", sec)]
    order = np.sort(err)
    assert shown[:6] == pytest.approx(order[:6], abs=1e-3)  # best first
    assert shown[6:] == pytest.approx(order[::-1][:6], abs=1e-3)  # then worst first
    if task_type == "regression":
        assert "log units" in sec


def test_sequences_are_listed_not_drawn() -> None:
    data = molecule_report("regression")
    data.modality = "protein"
    sec = examples_section(data)
    assert "<svg" not in sec and sec.count("<tr>") == 2 * (1 + 6)
    assert "Best predicted test inputs" in sec and "Worst predicted test inputs" in sec
