"""Parallel tuning workers sharing one Optuna study: a real local PostgreSQL server (Debian package
``postgresql``, loopback only, started in a temporary folder) and SQLite on one machine."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from scifm.config.load import load_config
from scifm.recipes.tune import tune

pytestmark = pytest.mark.integration


def _pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (Debian: /usr/lib/postgresql/<v>/bin)."""
    for found in (shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                                                  reverse=True)):
        if found and Path(found).with_name("initdb").exists():
            return Path(os.path.realpath(found)).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, fsync off); yields a URL."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg[binary] is not installed")
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    # initdb refuses to run as root: the cluster then belongs to the 'postgres' system user, in a
    # folder it can reach (pytest's tmp_path is private to root)
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="scifm-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pg = pwd.getpwnam("postgres")
        except KeyError:
            pg = None
        if runuser is None or pg is None:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root without a 'postgres' user to own the test cluster")
        os.chown(root, pg.pw_uid, pg.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    log = root / "server.log"

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=60)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "scifm", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30", "-o",
            f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=50", "start")
    except subprocess.CalledProcessError as err:
        msg = (err.stderr or b"").decode(errors="replace")[-500:]
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {msg}\n{tail}")
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="scifm", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE optuna")
        yield f"postgresql://scifm@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _cfg(data: Path, out: Path, **extra: object):
    flags = {"data.path": str(data), "data.target_cols": ["active"], "out": str(out),
             "automl.tune.family": "linear", "automl.tune.folds": 2, "automl.tune.pruner": "none",
             "model.n_jobs": 1, "eval.n_bootstrap": 20, "tracking.enabled": False, **extra}
    return load_config(None, flags=flags)


def _check_study(study: optuna.Study, n: int) -> None:
    numbers = [t.number for t in study.trials]
    assert len(numbers) == n and sorted(numbers) == list(range(n)), numbers
    assert len({t._trial_id for t in study.trials}) == n
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_two_workers_share_one_postgres_study(tmp_path, molecules, postgres_url):
    data = tmp_path / "mols.csv"
    molecules.head(80).to_csv(data, index=False)
    res = tune(_cfg(data, tmp_path / "run", **{
        "automl.tune.n_trials": 6, "automl.tune.workers": 2,
        "automl.tune.storage": postgres_url, "automl.tune.study_name": "pg-two-workers"}))
    study = optuna.load_study(study_name="pg-two-workers", storage=postgres_url)
    _check_study(study, 6)
    # both processes really ran trials (3 each: n_trials is split exactly)
    workers = [t.user_attrs["worker"] for t in study.trials]
    assert sorted(workers.count(w) for w in set(workers)) == [3, 3]
    assert f":{os.getpid()}" in " ".join(workers)  # the calling process is worker 0
    assert res.n_trials == 6 and (tmp_path / "run" / "model" / "scifm.json").is_file()


def test_two_cli_processes_join_one_postgres_study(tmp_path, molecules, postgres_url):
    """The multi-machine recipe: the same command started twice at once on one storage (each
    call creates-or-loads the study, then adds its own trials)."""
    data = tmp_path / "mols.csv"
    molecules.head(60).to_csv(data, index=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "scifm", "-q", "tune", "--data", str(data), "--target-col",
           "active", "--family", "linear", "--n-trials", "3", "--folds", "2", "--no-track",
           "--storage", postgres_url, "--study-name", "pg-cli", "--set", "model.n_jobs=1",
           "--set", "eval.n_bootstrap=10", "--set", "automl.tune.pruner=none"]
    t0 = time.monotonic()
    procs = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"m{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(2)]
    outs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    _check_study(optuna.load_study(study_name="pg-cli", storage=postgres_url), 6)
    assert time.monotonic() - t0 < 120


def test_two_workers_on_sqlite_and_journal(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    molecules.head(60).to_csv(data, index=False)
    # default storage: SQLite in the run directory
    tune(_cfg(data, tmp_path / "sq", **{"automl.tune.n_trials": 4, "automl.tune.workers": 2}))
    _check_study(optuna.load_study(study_name="scifm-linear",
                                   storage=f"sqlite:///{tmp_path / 'sq' / 'optuna.db'}"), 4)
    # journal storage: one file, file locks
    from scifm.tuning.parallel import resolve_storage

    url = f"journal:///{tmp_path / 'j' / 'optuna.journal'}"
    tune(_cfg(data, tmp_path / "jr", **{"automl.tune.n_trials": 3, "automl.tune.workers": 2,
                                        "automl.tune.storage": url}))
    _check_study(optuna.load_study(study_name="scifm-linear", storage=resolve_storage(url)), 3)
