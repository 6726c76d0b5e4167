"""The run directory: the contract between stages (train -> predict / evaluate / report).

::

    RUN_DIR/
      config.yaml            fully resolved experiment spec
      log.txt                the run's log
      data_report.json       cleaning summary (invalid rows, duplicates, label stats)
      rejected.csv           every input row not used, with the reason
      splits.json            original row ids per split + hash of the cleaned data
      leakage.json           split audit (cross-split duplicates, nearest-neighbour similarity)
      model/                 the selected model (HF folder for transformers) + scifm.json
      metrics.json           {"model": ..., "val": {...}, "test": {metric: {value, ci95}}, ...}
      predictions_test.csv   id, input, true, predicted, probabilities
      history.json           per-epoch training log of each family
      families/<family>/     with several families: each family's model, metrics, predictions
      leaderboard.csv        ``tune`` / ``auto``: every trial (and the finals)
      report.html            self-contained report

:class:`RunContext` is the prologue and epilogue every recipe shares: it checks ``OUT``, writes
the run into its staging folder ``OUT.partial/`` (:mod:`scifm.staging`), saves the resolved
config, copies the log into ``log.txt``, seeds everything, logs the finished run to MLflow and,
only when the run succeeded, moves ``OUT.partial/`` into place as ``OUT``. A failed or
interrupted run leaves ``OUT`` as it was; ``OUT.partial/`` is kept when it holds checkpoints (or
an Optuna study) to continue from (``--resume``). An existing non-empty ``OUT`` is replaced only
with ``--overwrite`` (or ``--resume``), and only when scifm wrote everything in it. Under
``torchrun`` every process runs the recipe (so all of them train) but only the main process
writes (``ctx.is_main`` guards every write) and moves the folder.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scifm.config.load import save_config
from scifm.errors import RunDirError
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.safeload import check_model_folder
from scifm.staging import (
    CHECKPOINTS,
    abandon,
    begin,
    check_target,
    commit,
    resumable,
    staging_dir,
    target,
)
from scifm.tracking.mlflow import log_run, log_trials
from scifm.training.distributed import barrier, is_main_process
from scifm.utils.seed import seed_everything

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig

__all__ = ["RunContext", "RunDir", "RunResult", "TrainResult", "staging_dir", "stopped_note"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def data_report(self) -> Path:
        return self.root / "data_report.json"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected.csv"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def leakage(self) -> Path:
        return self.root / "leakage.json"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions_test(self) -> Path:
        return self.root / "predictions_test.csv"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def leaderboard(self) -> Path:
        return self.root / "leaderboard.csv"

    def family(self, name: str) -> RunDir:
        """Sub-run directory of one model family (used when several families are trained)."""
        return RunDir(self.root / "families" / name)

    def promote(self, src: RunDir) -> None:
        """Copy ``src``'s model and test predictions to the top of this run directory."""
        if self.model.exists():
            shutil.rmtree(self.model)
        shutil.copytree(src.model, self.model)
        shutil.copyfile(src.predictions_test, self.predictions_test)
        if not (self.model / MODEL_META).is_file():
            raise RunDirError(f"{src.model} holds no {MODEL_META}")

    def model_meta(self) -> dict[str, Any]:
        """Read ``model/scifm.json``; a clear error if this is not a trained run directory."""
        meta = self.model / MODEL_META
        if not meta.is_file():
            raise RunDirError(f"{self.root} is not a scifm run directory: {meta} is missing "
                              "(train one with `scifm train`)")
        check_model_folder(self.model)  # no pickle-based file, manifest intact (one line if not)
        return read_model_json(meta)


@dataclass
class RunResult:
    """What a recipe returns: the run directory it wrote (the outcome; :class:`RunDir` names its
    files) and, in the subclasses, the headline numbers."""

    run_dir: Path

    @property
    def report(self) -> Path:
        return RunDir(self.run_dir).report

    @property
    def leaderboard(self) -> Path:
        return RunDir(self.run_dir).leaderboard

    @property
    def model_dir(self) -> Path:
        return RunDir(self.run_dir).model


@dataclass
class TrainResult(RunResult):
    """What the training recipes (``train``, ``finetune``) return."""

    selected: str
    """The run's model: the family selected on validation (``model/``)."""
    metrics: dict[str, Any]
    """``metrics.json`` of the selected model."""
    families: dict[str, Any] = field(default_factory=dict)
    """Each trained family's :class:`~scifm.evaluation.scoring.FamilyResult` (empty when only
    ``metrics`` is known, e.g. token classification or a non-main process)."""
    mlflow_run_id: str | None = None


def attach_run_log(path: Path) -> Callable[[], None]:
    """Copy every ``scifm`` log record into ``path``; returns a function that detaches it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("scifm")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)

    def detach() -> None:
        root.removeHandler(handler)
        handler.close()

    return detach


@dataclass
class RunContext:
    """One run of a recipe: its directory, config, command line and process role.

    Open it with :meth:`open` (a context manager); recipes write only when :attr:`is_main`, and
    only into :attr:`run` (the staging folder, moved to :attr:`out` when the run succeeded).
    """

    cfg: ExperimentConfig
    """The fully resolved config (saved as ``config.yaml``)."""
    run: RunDir
    """Paths inside the staging folder ``OUT.partial`` the run writes (:func:`staging_dir`)."""
    command: str = ""
    """The command that started the run (shown in the report)."""
    is_main: bool = True
    """False on the other processes of a ``torchrun`` launch: they train, never write."""
    mlflow_run_id: str | None = field(default=None, init=False)
    """Set by :meth:`track`."""

    @property
    def out(self) -> Path:
        """The run directory as given (``cfg.out``): where the run is once it succeeded."""
        return Path(self.cfg.out)

    def final(self, path: Path) -> Path:
        """Where ``path`` (inside :attr:`run`) will be once the run succeeded."""
        return self.out / Path(path).relative_to(self.run.root)

    @classmethod
    @contextmanager
    def open(cls, cfg: ExperimentConfig, command: str = "", *,
             carry: Sequence[str] = ()) -> Iterator[RunContext]:
        """Check ``cfg.out``, make its staging folder (``carry``: glob patterns of state the run
        continues from, copied in from an earlier run; the Trainer checkpoints with
        ``train.resume``), save the config, attach ``log.txt`` and seed everything; on success
        wait for the other processes and move the staging folder into place.

        Raises
        ------
        OutputError
            ``cfg.out`` is a file, holds files scifm did not write, or is an earlier run and
            neither ``overwrite`` nor ``train.resume`` is set (before any work).
        """
        out, main, resume = target(cfg.out), is_main_process(), cfg.train.resume
        if main:
            check_target(out, cfg.out, kind="run", replace=cfg.overwrite or resume)
            existed = out.is_dir() and any(out.iterdir())
            staging = begin(out, carry=(*carry, *(CHECKPOINTS if resume else ())),
                            discard=cfg.overwrite)
        else:  # the main process prepares the folder before the process group exists
            existed, staging = False, staging_dir(cfg.out)
        ctx = cls(cfg, RunDir(staging), command, main)
        detach = None
        if main:
            detach = attach_run_log(ctx.run.log)
            save_config(cfg.model_copy(update={"overwrite": False}), ctx.run.config)
            logger.info("run directory: %s (written in %s until the run succeeds)", cfg.out,
                        staging)
        try:
            seed_everything(cfg.seed)
            yield ctx
        except BaseException as exc:
            if detach is not None:
                detach()
                detach = None
            if main:
                _stopped(exc, Path(cfg.out), staging, existed)
            raise
        finally:
            if detach is not None:
                detach()
            barrier()  # the other processes wait until the main one has written everything
        if main:
            commit(out, staging, kind="run", command=command)

    def track(self, *, params: Mapping[str, Any] | None = None,
              histories: Mapping[str, list[dict[str, Any]]], final_metrics: Mapping[str, Any],
              artifacts: list[Path], trials: list[dict[str, Any]] | None = None) -> str | None:
        """Write the model card ``model/README.md`` (main process; not for a pretrained
        checkpoint), then log the finished run to MLflow (main process, ``tracking.enabled``);
        returns the run id. ``trials`` are logged as nested runs (tuning). The artifacts are read
        from the staging folder; the run is named and tagged after the final run directory (its
        MLflow database is beside both)."""
        if self.is_main:  # the card goes into model/ before the model is logged
            _write_card(self.run, target(self.cfg.out))
        tc = self.cfg.tracking
        if not (self.is_main and tc.enabled):
            return None
        final = target(self.cfg.out)
        run_id = log_run(run_dir=final, uri=tc.uri, experiment=tc.experiment,
                         run_name=final.name,
                         params=params if params is not None else self.cfg.model_dump(mode="json"),
                         histories=histories, final_metrics=final_metrics, artifacts=artifacts)
        if trials is not None:
            log_trials(uri=tc.uri, run_dir=final, parent_run_id=run_id, trials=trials)
        self.mlflow_run_id = run_id
        return run_id


def _write_card(run: RunDir, final: Path) -> None:
    """Write the model card ``model/README.md`` (:mod:`scifm.trust.card`) of a finished
    supervised run (a pretrained checkpoint, whose ``scifm.json`` has no task, keeps the card
    ``pretrain`` wrote); a failure warns and never fails the run (``scifm card RUN_DIR`` writes
    it again)."""
    from scifm.trust.card import write_card

    try:
        if not (run.model / MODEL_META).is_file() or \
                "task" not in read_model_json(run.model / MODEL_META):
            return
        write_card(run, final.name)
    except Exception as e:  # noqa: BLE001 - the run is complete without its card
        logger.warning("model card not written (%s: %s); write it with `scifm card %s`",
                       type(e).__name__, str(e).splitlines()[0] if str(e) else "", final)


def _stopped(exc: BaseException, out: Path, staging: Path, existed: bool) -> None:
    """A run failed or was interrupted: keep its staging folder when it holds something to
    continue from, and record on ``exc`` what was left (:func:`stopped_note`)."""
    kept = abandon(staging)
    try:
        exc.scifm_out = out  # type: ignore[attr-defined]
        exc.scifm_staging = staging if kept else None  # type: ignore[attr-defined]
        exc.scifm_existed = existed  # type: ignore[attr-defined]
    except AttributeError:  # an exception type without attributes; nothing to say then
        return
    if kept and not isinstance(exc, KeyboardInterrupt):  # the CLI says it for Ctrl-C
        logger.warning("%s", stopped_note(exc))


def stopped_note(exc: BaseException) -> str | None:
    """What a failed or interrupted run left, in one sentence for the CLI's last line (e.g.
    ``runs/x still holds the previous run; the checkpoints are kept in runs/x.partial: run the
    same command with --resume to continue from them``); None when ``exc`` did not come through
    a :class:`RunContext`."""
    out = getattr(exc, "scifm_out", None)
    if out is None:
        return None
    staging = getattr(exc, "scifm_staging", None)
    note = f"{out} " + ("still holds the previous run" if getattr(exc, "scifm_existed", False)
                        else "was not created")
    if staging is None:
        return note
    if resumable(staging, CHECKPOINTS):
        return (f"{note}; the checkpoints are kept in {staging}: run the same command with "
                "--resume to continue from them")
    return (f"{note}; the unfinished search is kept in {staging}: run the same command to "
            "continue it")
