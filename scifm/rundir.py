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

:class:`RunContext` is the prologue and epilogue every recipe shares: it creates the run
directory, saves the resolved config, copies the log into ``log.txt``, seeds everything, and
logs the finished run to MLflow. Under ``torchrun`` every process runs the recipe (so all of
them train) but only the main process writes: ``ctx.is_main`` guards every write.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scifm.config.load import save_config
from scifm.errors import RunDirError
from scifm.models.base import MODEL_META
from scifm.tracking.mlflow import log_run, log_trials
from scifm.training.distributed import barrier, is_main_process
from scifm.utils.seed import seed_everything

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig

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
        return json.loads(meta.read_text(encoding="utf-8"))


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

    Open it with :meth:`open` (a context manager); recipes write only when :attr:`is_main`.
    """

    cfg: ExperimentConfig
    """The fully resolved config (saved as ``config.yaml``)."""
    run: RunDir
    """Paths inside the run directory."""
    command: str = ""
    """The command that started the run (shown in the report)."""
    is_main: bool = True
    """False on the other processes of a ``torchrun`` launch: they train, never write."""
    mlflow_run_id: str | None = field(default=None, init=False)
    """Set by :meth:`track`."""

    @classmethod
    @contextmanager
    def open(cls, cfg: ExperimentConfig, command: str = "") -> Iterator[RunContext]:
        """Create the run directory, save the config, attach ``log.txt`` and seed everything;
        on exit detach the log and wait for the other processes (if any)."""
        ctx = cls(cfg, RunDir(Path(cfg.out)), command, is_main_process())
        detach = None
        if ctx.is_main:
            ctx.run.root.mkdir(parents=True, exist_ok=True)
            detach = attach_run_log(ctx.run.log)
            save_config(cfg, ctx.run.config)
            logger.info("run directory: %s", ctx.run.root)
        seed_everything(cfg.seed)
        try:
            yield ctx
        finally:
            if detach is not None:
                detach()
            barrier()  # the other processes wait until the main one has written everything

    def track(self, *, params: Mapping[str, Any] | None = None,
              histories: Mapping[str, list[dict[str, Any]]], final_metrics: Mapping[str, Any],
              artifacts: list[Path], trials: list[dict[str, Any]] | None = None) -> str | None:
        """Log the finished run to MLflow (main process, ``tracking.enabled``); returns the run
        id. ``trials`` are logged as nested runs (tuning)."""
        tc = self.cfg.tracking
        if not (self.is_main and tc.enabled):
            return None
        run_id = log_run(run_dir=self.run.root, uri=tc.uri, experiment=tc.experiment,
                         run_name=self.run.root.name,
                         params=params if params is not None else self.cfg.model_dump(mode="json"),
                         histories=histories, final_metrics=final_metrics, artifacts=artifacts)
        if trials is not None:
            log_trials(uri=tc.uri, run_dir=self.run.root, parent_run_id=run_id, trials=trials)
        self.mlflow_run_id = run_id
        return run_id
