"""The Optuna objective: k-fold cross-validation of one family on train+val.

Folds come from :func:`scifm.tuning.folds.search_folds` on the train+val rows only (grouped by
the modality's key — Bemis–Murcko scaffold for SMILES, similarity cluster for sequences — even
when the outer split is predefined or random; stratified or random otherwise); the test rows
never reach the objective. Each
fold's primary-metric score is reported as an intermediate value (step = fold), so a pruner
stops trials that are already worse than their peers on the same folds. A trial's value is the
mean over folds; ``cv_mean``, ``cv_std``, ``fold_scores`` and ``fit_seconds`` are stored as trial
user attributes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from scifm.config.registry import MODALITIES
from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanDataset
from scifm.data.datapoints import primary_strings
from scifm.data.splitting import fold_group_method
from scifm.evaluation.metrics import compute_metrics, primary_metric
from scifm.featurizers import Featurizer, featurizer_from_name
from scifm.featurizers import featurize as featurize_inputs
from scifm.featurizers.base import Features, is_fixed
from scifm.models.registry import build_predictor, get_family
from scifm.tasks import TaskSpec
from scifm.tuning.inner_split import MIN_INNER_ROWS, inner_split
from scifm.tuning.search_spaces import Spec, feature_choices, sample_params
from scifm.tuning.study import with_params
from scifm.utils.deadline import TimeUp, fit_deadline
from scifm.utils.io import atomic_path

logger = logging.getLogger(__name__)

_CACHE_SIZE = 3
"""Feature matrices of the whole pool kept at once (one per feature set)."""


_MEMO_SIZE = 16
"""Configurations whose finished folds a :class:`CVObjective` remembers (the latest run)."""


def memo_key(features: str, params: dict[str, Any]) -> str:
    """One configuration as a key: its parameters and feature set, in a fixed order."""
    return json.dumps({**params, "features": features}, sort_keys=True, default=repr)


def subset(dataset: CleanDataset, rows: np.ndarray) -> CleanDataset:
    """The rows ``rows`` of ``dataset`` as a new dataset (positions renumbered from 0)."""
    rows = np.asarray(rows, dtype=np.int64)
    extra = dataset.extra.iloc[rows].reset_index(drop=True) if len(dataset.extra) else \
        dataset.extra
    return dataclasses.replace(
        dataset, inputs=[dataset.inputs[i] for i in rows],
        raw_inputs=[dataset.raw_inputs[i] for i in rows], ids=[dataset.ids[i] for i in rows],
        row_ids=dataset.row_ids[rows], y=dataset.y[rows], extra=extra)


def featurize(featurizer: Featurizer, xs: Sequence[str]) -> Features:
    """Featurize ``xs`` (the one place where the objective turns inputs into features), with a
    progress bar (:func:`scifm.featurizers.featurize`)."""
    return featurize_inputs(featurizer, xs)


def task_estimator(family: str, features: str, params: dict[str, Any], task: TaskSpec,
                   modality: str, cfg: ExperimentConfig) -> Any:
    """An unfitted estimator on numeric features, ``fit(X, y, X_val, y_val)`` / ``predict``,
    from the family's registered ``estimator`` with ``params`` and ``features`` applied."""
    spec = get_family(family)
    if spec.estimator is None:
        raise ValueError(f"family {family!r} has no estimator on numeric features")
    return spec.estimator(task, with_params(cfg, family, {**params, "features": features}))


class _PredictorOnInputs:
    """A whole predictor of a family without a numeric-feature ``estimator``: fitted per fold
    on raw inputs (the objective then skips its shared feature matrices), its work folder (a
    transformer's checkpoints) a temporary one, removed once it is fitted."""

    def __init__(self, family: str, task: TaskSpec, modality: str, cfg: ExperimentConfig) -> None:
        self._work = tempfile.TemporaryDirectory(prefix=f"scifm-{family}-")
        self.predictor = build_predictor(family, task, modality, cfg, Path(self._work.name))

    def fit(self, x: Sequence[Any], y: np.ndarray, x_val: Sequence[Any] | None = None,
            y_val: np.ndarray | None = None) -> _PredictorOnInputs:
        try:
            self.predictor.fit(list(x), y, None if x_val is None else list(x_val), y_val)
        finally:
            self._work.cleanup()
        return self

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        return self.predictor.predict(list(x))


@dataclasses.dataclass
class _FittedOnFeatures:
    """A holdout fit of a feature-based family, as its predictor (saved as the refit)."""

    predictor: Any


class CVObjective:
    """``objective(trial) -> mean CV score`` for :meth:`optuna.Study.optimize`.

    Parameters
    ----------
    family
        ``lightgbm`` or a feature-based family.
    task, modality
        What is predicted, from which inputs.
    x, y
        The pool (train + val) inputs and labels ``n x n_tasks``; nothing else is seen.
    folds
        ``(train, valid)`` positions into ``x``.
    space
        Parameter specs (:func:`scifm.tuning.search_spaces.space_for`).
    features
        A fixed feature set, or ``None`` to search the modality's
        :func:`~scifm.tuning.search_spaces.feature_choices`.
    cfg
        The experiment config (seed, class weights, threads, defaults of unsearched params).
    oof_dir
        If given, a completed trial's out-of-fold predictions (``len(x) x n_outputs``, every pool
        row predicted by the fold that held it out) are saved there as
        ``<study name>-<trial number>.npy`` (:meth:`oof_file`), for ensembling.
    feature_cache
        Feature matrices of ``x`` by feature-set name, shared by objectives over the same ``x``
        (several families) so each feature set is computed once.
    """

    def __init__(self, family: str, task: TaskSpec, modality: str, x: Sequence[str],
                 y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                 space: dict[str, Spec], features: str | None, cfg: ExperimentConfig,
                 oof_dir: Path | None = None,
                 feature_cache: OrderedDict[str, Features] | None = None) -> None:
        self.family = family
        self.deadline: float | None = None
        """Wall-clock time (``time.time()``) after which a running trial stops, between folds
        or inside a fold's fit (:mod:`scifm.utils.deadline`), so that one slow trial cannot
        overrun the search budget: pruned, or, for a study's first trial, scored on the folds
        it finished."""
        self.task = task
        self.modality = modality
        self.x = list(x)
        self._group_ids: np.ndarray | None = None
        self.y = np.asarray(y, dtype=np.float64)
        self.folds = folds
        self.space = space
        self.features = features
        self.cfg = cfg
        self.oof_dir = Path(oof_dir) if oof_dir is not None else None
        self.metric, self.higher_is_better = primary_metric(task)
        self._cache: OrderedDict[str, Features] = (OrderedDict() if feature_cache is None
                                                   else feature_cache)
        self.choices: list[str] | None = None
        """The feature sets searched (None: the modality's,
        :func:`~scifm.tuning.search_spaces.feature_choices`); ``auto`` leaves out those its time
        budget cannot afford."""
        self.holdout = False
        """``folds`` is the outer split's one (train, val) pair (a family registered
        ``auto_holdout``): the fit early-stops on the val rows, ends at the deadline with its
        best epoch (:func:`~scifm.utils.deadline.fit_deadline` ``keep_best``), and a completed
        trial's fitted predictor is saved (:meth:`model_dir`) to serve as the refit."""
        self._fitted: Any = None
        self._predict_s = 0.0
        self._memo: OrderedDict[str, dict[int, tuple[np.ndarray, float]]] = OrderedDict()
        """Finished folds by configuration (:func:`memo_key`): ``fold -> (predictions,
        seconds)``, so that a configuration run again (a cut trial resumed,
        :func:`scifm.tuning.portfolio.search_families`) fits only the folds it has not
        finished. A fit is seeded, so a fold fitted again would give the same predictions."""
        self.progress: Any = None
        """Told each fold a trial starts (``progress.fold(trial, k, n_folds)``; set by
        :func:`scifm.tuning.search.run_trials`); never pickled to a worker process."""

    def __getstate__(self) -> dict[str, Any]:
        # the bar lives in this process only; a fitted model is never sent to a worker
        return {**self.__dict__, "progress": None, "_fitted": None}

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize`` (from the primary metric)."""
        return "maximize" if self.higher_is_better else "minimize"

    def _matrices(self, features: str, tr: np.ndarray, va: np.ndarray,
                  ) -> tuple[Any, Any, Featurizer]:
        featurizer = featurizer_from_name(features, self.modality)
        if not is_fixed(featurizer):  # fitted on the fold's training rows only
            featurizer.fit([self.x[i] for i in tr])
            return (featurize(featurizer, [self.x[i] for i in tr]),
                    featurize(featurizer, [self.x[i] for i in va]), featurizer)
        if features not in self._cache:
            self._cache[features] = featurize(featurizer, self.x)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        X = self._cache[features]
        return X[tr], X[va], featurizer

    def _fold_predictions(self, features: str, params: dict[str, Any], tr: np.ndarray,
                          va: np.ndarray) -> np.ndarray:
        if get_family(self.family).estimator is None:  # no numeric-feature estimator
            cfg = with_params(self.cfg, self.family, {**params, "features": features})
            est: Any = _PredictorOnInputs(self.family, self.task, self.modality, cfg)
            X_tr, X_va = [self.x[i] for i in tr], [self.x[i] for i in va]
        else:
            X_tr, X_va, featurizer = self._matrices(features, tr, va)
            est = task_estimator(self.family, features, params, self.task, self.modality,
                                 self.cfg)
        if self.holdout:  # early stopping on the held-out val rows, as the refit would
            est.fit(X_tr, self.y[tr], X_va, self.y[va])
            self._fitted = est if hasattr(est, "predictor") else _FittedOnFeatures(
                self._feature_predictor(features, params, featurizer, est))
        elif get_family(self.family).early_stopping and len(tr) >= MIN_INNER_ROWS:
            groups = self._groups()  # stops on new groups, as the refit stops on val
            fit, stop = inner_split(len(tr), self.cfg.seed,
                                    None if groups is None else groups[tr])
            est.fit(X_tr[fit], self.y[tr][fit], X_tr[stop], self.y[tr][stop])
        else:
            est.fit(X_tr, self.y[tr])
        t0 = time.perf_counter()
        pred = np.asarray(est.predict(X_va)).reshape(len(va), self.task.n_outputs)
        self._predict_s = time.perf_counter() - t0  # a kept model's scoring cost (holdout)
        return pred

    def _groups(self) -> np.ndarray | None:
        """Group ids of the pool rows for the inner split (the search folds' grouping, e.g.
        scaffolds; computed once); None when the folds are not grouped."""
        if self._group_ids is None and self.cfg.automl.tune.cv in ("auto", "grouped"):
            method = fold_group_method(self.modality, self.cfg.split.method)
            if method is not None:
                self._group_ids = MODALITIES.get(self.modality).split_groups(
                    method, primary_strings(self.x), self.cfg.seed,
                    self.cfg.split.similarity_threshold, folds=True)
        return self._group_ids

    def _feature_predictor(self, features: str, params: dict[str, Any],
                           featurizer: Featurizer, est: Any) -> Any:
        """The family's predictor around an estimator fitted on the train rows (early stopping
        on val): what the refit would fit, saved as it is (:meth:`_save_model`)."""
        cfg = with_params(self.cfg, self.family, {**params, "features": features})
        predictor = build_predictor(self.family, self.task, self.modality, cfg,
                                    Path(tempfile.gettempdir()))
        predictor.featurizer, predictor.model = featurizer, est
        predictor.history_ = list(getattr(est, "history_", []) or [])
        return predictor

    def oof_predictions(self, params: dict[str, Any]) -> np.ndarray:
        """Out-of-fold predictions of one configuration (trial ``params``, ``features``
        included when searched), every fold fitted; rows outside every fold stay NaN."""
        params = dict(params)
        features = self.features or params.pop("features")
        oof = np.full((len(self.x), self.task.n_outputs), np.nan)
        for tr, va in self.folds:
            oof[va] = self._fold_predictions(features, params, tr, va)
        return oof

    def oof_file(self, study_name: str, number: int) -> Path | None:
        """Where trial ``number``'s out-of-fold predictions are saved (``None``: not kept)."""
        return None if self.oof_dir is None else self.oof_dir / f"{study_name}-{number}.npy"

    def model_dir(self, study_name: str, number: int) -> Path | None:
        """Where a holdout trial's fitted predictor is saved (``None``: not kept)."""
        return None if self.oof_dir is None else self.oof_dir / f"{study_name}-{number}.model"

    def __call__(self, trial: optuna.Trial) -> float:
        from scifm.tuning.parallel import worker_tag

        trial.set_user_attr("worker", worker_tag())
        params = sample_params(trial, self.space)
        features = self.features or trial.suggest_categorical(
            "features", feature_choices(self.modality, self.cfg))
        if self.choices is not None and features not in self.choices and \
                get_family(self.family).uses_features:  # same distribution
            raise optuna.TrialPruned(f"feature set {features} left out (too slow for the time "
                                     "budget)")
        scores: list[float] = []
        oof = np.full((len(self.x), self.task.n_outputs), np.nan)
        t0 = time.perf_counter()
        memo = self._fold_memo(features, params)
        if memo:
            trial.set_user_attr("resumed", f"{len(memo)} fold(s) reused from an earlier run "
                                           "of this configuration")
        if self.holdout:
            tr, va = self.folds[0]
            trial.set_user_attr("holdout", f"holdout: fitted on the {len(tr)} train rows "
                                           f"(early stopping on val), scored on the {len(va)} "
                                           "val rows")
        for k, (tr, va) in enumerate(self.folds):
            if k in memo:  # finished by an earlier run of this configuration: its time counts
                pred, seconds = memo[k]
                t0 -= seconds
            else:
                if self.progress is not None:
                    self.progress.fold(trial.number, k, len(self.folds))
                started = time.perf_counter()
                try:
                    with fit_deadline(self.deadline, keep_best=self.holdout):
                        pred = self._fold_predictions(features, params, tr, va)
                except TimeUp as err:
                    return self._cut(trial, scores, oof, t0,
                                     f"time budget spent in fold {k} ({err})")
                memo[k] = (pred, time.perf_counter() - started)
            oof[va] = pred
            score = compute_metrics(self.task, self.y[va], pred)[self.metric]
            scores.append(score)
            trial.set_user_attr("fold_scores", [float(s) for s in scores])
            trial.set_user_attr("folds_seconds", round(time.perf_counter() - t0, 3))
            if score == score:
                trial.report(float(score), step=k)
            if trial.should_prune():
                self._record(trial, scores, t0)
                raise optuna.TrialPruned(f"fold {k}: {self.metric} = {score:.4f}")
            if self.deadline is not None and time.time() > self.deadline and \
                    k < len(self.folds) - 1:
                return self._cut(trial, scores, oof, t0, f"time budget spent after fold {k}")
        self._save_oof(trial, oof)
        value = self._record(trial, scores, t0)
        self._save_model(trial, value)
        return value

    def _fold_memo(self, features: str, params: dict[str, Any],
                   ) -> dict[int, tuple[np.ndarray, float]]:
        if self.holdout:  # one fit, kept as a model; folds may have been k-fold ones before
            return {}
        key = memo_key(features, params)
        if key not in self._memo:
            self._memo[key] = {}
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        self._memo.move_to_end(key)
        return self._memo[key]

    def _cut(self, trial: optuna.Trial, scores: list[float], oof: np.ndarray, t0: float,
             why: str) -> float:
        """The time budget ran out part-way: a study's first trial is scored on the folds it
        finished (its out-of-fold predictions keep NaN rows); any other trial is pruned, as is
        one that finished no fold."""
        self._record(trial, scores, t0)
        if not scores or _has_complete_trial(trial.study):
            raise optuna.TrialPruned(why)
        trial.set_user_attr("cut", f"{why}: scored on {len(scores)} of {len(self.folds)} folds")
        logger.warning("%s trial %d: %s; scored on the %d fold(s) it finished", self.family,
                       trial.number, why, len(scores))
        self._save_oof(trial, oof)
        return float(trial.user_attrs["cv_mean"])

    def _save_oof(self, trial: optuna.Trial, oof: np.ndarray) -> None:
        file = self.oof_file(trial.study.study_name, trial.number)
        if file is not None:
            with atomic_path(file) as tmp, open(tmp, "wb") as fh:  # never a truncated .npy
                np.save(fh, oof)

    def _save_model(self, trial: optuna.Trial, value: float) -> None:
        """A holdout trial's fitted predictor, saved without pickle (its refit) when it beats
        the study's best so far (only the best trial's is used)."""
        fitted, self._fitted = self._fitted, None
        folder = self.model_dir(trial.study.study_name, trial.number)
        predictor = getattr(fitted, "predictor", None)
        if predictor is not None and folder is not None and self._beats_best(trial, value):
            t0 = time.perf_counter()
            predictor.save(folder)
            trial.set_user_attr("model_dir", folder.name)  # with what reusing it will cost:
            trial.set_user_attr("save_seconds", round(time.perf_counter() - t0, 3))
            trial.set_user_attr("predict_seconds", round(self._predict_s, 3))  # the val rows

    def _beats_best(self, trial: optuna.Trial, value: float) -> bool:
        if not _has_complete_trial(trial.study):
            return True
        if value != value:
            return False
        best = float(trial.study.best_value)
        return value > best if self.higher_is_better else value < best

    @staticmethod
    def _record(trial: optuna.Trial, scores: list[float], t0: float) -> float:
        finite = np.asarray([s for s in scores if s == s], dtype=np.float64)
        mean = float(finite.mean()) if finite.size else float("nan")
        std = float(finite.std()) if finite.size else float("nan")
        trial.set_user_attr("cv_mean", mean)
        trial.set_user_attr("cv_std", std)
        trial.set_user_attr("n_folds_done", len(scores))
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - t0, 3))
        return mean


def _has_complete_trial(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
