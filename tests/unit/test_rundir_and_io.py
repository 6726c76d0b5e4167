import json

import numpy as np
import pytest

from scifm.errors import RunDirError
from scifm.rundir import RunDir
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json, atomic_write_text


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": np.float32(1.5), "b": float("nan"), "c": np.arange(2)})
    assert json.loads(target.read_text()) == {"a": 1.5, "b": None, "c": [0, 1]}
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    def bad():
        raise Boom

    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert target.read_text() == "old"  # the failed write did not touch the file
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp files left


def test_run_dir_meta_error_is_clear(tmp_path):
    with pytest.raises(RunDirError, match="not a scifm run directory"):
        RunDir(tmp_path).model_meta()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "scifm.json").write_text('{"family": "lightgbm"}')
    assert RunDir(tmp_path).model_meta()["family"] == "lightgbm"
    assert RunDir(tmp_path).family("x").root == tmp_path / "families" / "x"


def test_task_spec_validation_and_decode():
    with pytest.raises(ValueError):
        TaskSpec("multiclass", ["a", "b"], ["x", "y", "z"])
    with pytest.raises(ValueError):
        TaskSpec("ranking", ["a"])
    task = TaskSpec("binary", ["a", "b"])
    assert task.n_outputs == 2 and task.is_classification
    assert task.decode(np.array([[0.2, 0.8]])).tolist() == [["0", "1"]]
    assert TaskSpec.from_dict(task.to_dict()) == task


def test_recipe_results_name_the_files_of_their_run_directory(tmp_path):
    from scifm.rundir import RunResult, TrainResult

    result = TrainResult(tmp_path, "lightgbm", {"test": {}})
    assert isinstance(result, RunResult) and result.families == {}
    run = RunDir(tmp_path)
    assert (result.report, result.leaderboard, result.model_dir) == (
        run.report, run.leaderboard, run.model)
