import json
import os
import socket

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


# -- run directories as transactions (scifm.staging) and outputs that never overwrite inputs --

def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _committed_run(out, files=("config.yaml", "metrics.json")):
    from scifm.staging import begin, commit, target

    staging = begin(target(out))
    for name in files:
        (staging / name).write_text(name)
    commit(target(out), staging)
    return out


def test_staging_dir_is_beside_the_target(tmp_path):
    from scifm.rundir import staging_dir

    assert staging_dir(tmp_path / "runs" / "x") == tmp_path / "runs" / "x.partial"
    assert staging_dir(f"{tmp_path}/runs/x/") == tmp_path / "runs" / "x.partial"
    link = tmp_path / "link"
    (tmp_path / "real").mkdir()
    link.symlink_to(tmp_path / "real")
    assert staging_dir(link) == tmp_path / "real.partial"  # the link keeps pointing at the run


def test_commit_moves_the_run_into_place_and_records_its_files(tmp_path):
    from scifm.staging import MARKER, ownership, read_marker

    out = _committed_run(tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "config.yaml", "metrics.json"]
    assert read_marker(out)["files"] == ["config.yaml", "metrics.json"]
    assert ownership(out) == ("run", [])
    assert not (tmp_path / "run.partial").exists()


def test_existing_outputs_are_refused_with_one_line(tmp_path):
    from scifm.errors import OutputError
    from scifm.staging import check_target

    out = _committed_run(tmp_path / "run")
    with pytest.raises(OutputError, match="exists and is not empty: pass --overwrite to replace "
                       "it, or choose another --out"):
        check_target(out, out, kind="run", replace=False)
    check_target(out, out, kind="run", replace=True)
    (out / "notes.txt").write_text("mine")  # the user's file: never deleted, even replacing
    with pytest.raises(OutputError, match=r"holds files scifm did not write \(notes.txt\)"):
        check_target(out, out, kind="run", replace=True)
    user = tmp_path / "user"
    (user / "checkpoints").mkdir(parents=True)
    with pytest.raises(OutputError, match="scifm did not write it"):
        check_target(user, user, kind="run", replace=True)
    (tmp_path / "f.csv").write_text("a\n")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_target(tmp_path / "f.csv", "f.csv", kind="run", replace=True)
    with pytest.raises(OutputError, match="holds a scifm run, not an evaluation"):
        check_target(_committed_run(tmp_path / "r2"), "r2", kind="evaluation", replace=True)
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", "empty", kind="run", replace=False)
    legacy = tmp_path / "legacy"  # a run directory written before .scifm-run.json
    (legacy / "model").mkdir(parents=True)
    (legacy / "config.yaml").write_text("seed: 0\n")
    check_target(legacy, legacy, kind="run", replace=True)


def test_replacing_a_run_removes_every_old_file(tmp_path):
    from scifm.staging import begin, commit

    out = _committed_run(tmp_path / "run", files=("config.yaml", "model.safetensors"))
    staging = begin(out, discard=True)
    (staging / "config.yaml").write_text("new")
    (staging / "booster.txt").write_text("new")
    commit(out, staging)
    assert sorted(p.name for p in out.iterdir() if p.name != ".scifm-run.json") == [
        "booster.txt", "config.yaml"]  # no stale model.safetensors
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing left aside


def test_a_failed_run_keeps_only_what_can_be_continued(tmp_path):
    from scifm.errors import OutputError
    from scifm.staging import CHECKPOINTS, abandon, begin

    out = tmp_path / "run"
    staging = begin(out)
    (staging / "config.yaml").write_text("x")
    assert abandon(staging) is False and not staging.exists()  # nothing to continue from
    staging = begin(out)
    (staging / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (staging / "metrics.json").write_text("half")
    assert abandon(staging) is True
    with pytest.raises(OutputError, match="needs to continue .*--resume.*--overwrite"):
        begin(out)  # a fresh run would throw the checkpoints away
    again = begin(out, carry=CHECKPOINTS)  # --resume: the checkpoints stay, the rest goes
    assert again == staging and (staging / "checkpoints" / "checkpoint-2").is_dir()
    assert not (staging / "metrics.json").exists()
    abandon(staging)
    begin(out, discard=True)  # --overwrite: start over
    assert not (staging / "checkpoints").exists()


def test_a_staging_folder_in_use_or_not_ours_is_refused(tmp_path):
    from scifm.errors import OutputError
    from scifm.staging import MARKER, begin

    out = tmp_path / "run"
    staging = tmp_path / "run.partial"
    staging.mkdir()
    with pytest.raises(OutputError, match="scifm did not make it"):
        begin(out)
    (staging / MARKER).write_text(json.dumps({"state": "running", "pid": os.getppid(),
                                              "host": socket.gethostname()}))
    with pytest.raises(OutputError, match="being written by another scifm run"):
        begin(out)


def test_continued_state_is_copied_out_of_the_previous_run(tmp_path):
    from scifm.staging import STUDY, abandon, begin

    out = _committed_run(tmp_path / "run", files=("config.yaml", STUDY))
    before = _snapshot(out)
    staging = begin(out, carry=(STUDY,), discard=True)
    assert (staging / STUDY).read_text() == STUDY
    (staging / STUDY).write_text("more trials")
    abandon(staging)
    assert _snapshot(out) == before  # copied, not moved or linked


def test_outputs_never_overwrite_inputs(tmp_path, monkeypatch):
    from scifm.errors import OutputError
    from scifm.utils.io import refuse_overwriting_inputs

    data = tmp_path / "in.csv"
    data.write_text("smiles\nCCO\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    monkeypatch.chdir(tmp_path / "sub")
    inputs = {"the --data file": data, "the run's model": tmp_path / "run" / "model"}
    (tmp_path / "run" / "model").mkdir(parents=True)
    for out in (data, "../in.csv", tmp_path / "link.csv", "../hard.csv"):
        with pytest.raises(OutputError, match="is the --data file .*never writes over its "
                           "inputs"):
            refuse_overwriting_inputs(out, inputs)
    with pytest.raises(OutputError, match="contains the run's model"):
        refuse_overwriting_inputs(tmp_path / "run", inputs)
    with pytest.raises(OutputError, match="is inside the run's model"):
        refuse_overwriting_inputs(tmp_path / "run" / "model" / "p.csv", inputs)
    refuse_overwriting_inputs(tmp_path / "run" / "evaluations" / "x", inputs)
    refuse_overwriting_inputs("../out.csv", inputs)
    assert data.read_text() == "smiles\nCCO\n"
