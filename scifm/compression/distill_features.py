"""Variant maker ``distill-fp``: a fast ECFP + LightGBM student of a slow SMILES model.

The best ``scifm auto`` models read RDKit 2D descriptors (about 160 molecules/s per core) or run
a message-passing network; a LightGBM model on count ECFP (the ``ecfp`` feature set: Morgan
counts, radius 2, 2,048 columns) predicts thousands per second. The student learns the
*teacher's* predictions, not the labels:

* rows: the run's train rows, plus the items of ``options.corpus`` when given (validated and
  canonicalised like training inputs; items that are val / test rows of the run are left out,
  so the student never sees the rows it is scored on; every left-out item is counted in the
  log). The validation rows, labelled by the teacher, early-stop the student;
* ``regression``: LightGBM regression on the teacher's predictions (in target units);
* ``binary``: LightGBM's ``cross_entropy`` objective on the teacher's probabilities (soft
  labels), one booster per task. Its boosters predict probabilities (sigmoid of the raw score,
  as ``binary``), so the student is a plain ``lightgbm`` model folder
  (:class:`~scifm.models.lightgbm.LightGBMPredictor`, LightGBM's text format) that ``predict``,
  ``screen`` and ``serve`` load like any other;
* ``multiclass``: soft labels would need a custom LightGBM objective; the student learns the
  teacher's most probable class instead (hard labels, ``multiclass`` objective).

Other modalities get no student (no fingerprint: an empty list, logged). Runs with further input
columns (numeric conditions) get none either: ECFP would ignore the conditions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from scifm.compression.base import CompressJob, Variant
from scifm.config.schema import DataConfig
from scifm.errors import DataError
from scifm.featurizers import featurize, featurizer_from_name
from scifm.models.base import update_model_meta
from scifm.models.lightgbm import LightGBMPredictor
from scifm.models.params import LightGBMParams
from scifm.tasks import TaskSpec

__all__ = ["FEATURES", "VARIANT", "fit_student", "make_fingerprint_students", "teacher_outputs"]

logger = logging.getLogger(__name__)

VARIANT = "distilled-ecfp-lgbm"
FEATURES = "ecfp"
"""The student's feature set: count ECFP4 (:mod:`scifm.featurizers.sets`)."""
TEACH_CHUNK = 10_000
"""Inputs the teacher predicts per call."""
CARRIED_META = ("data", "split")
"""Keys of the teacher's ``scifm.json`` the student keeps (what ``predict`` reads)."""
STUDENT_PARAMS = LightGBMParams()
"""The student's LightGBM settings (the family's defaults: up to 2,000 rounds, early-stopped
after 100 rounds without progress on the teacher-labelled validation rows)."""


def make_fingerprint_students(job: CompressJob) -> list[Variant]:
    """The ``distilled-ecfp-lgbm`` student of a SMILES run's model (none for other runs).

    Raises
    ------
    DataError
        ``options.corpus`` cannot be read or has no valid new molecule.
    """
    modality = str(job.meta.get("modality"))
    data_cfg = DataConfig.model_validate(job.meta.get("data", {"modality": modality}))
    if modality != "smiles":
        logger.info("distill-fp: no fingerprint student for %s inputs", modality)
        return []
    if len(data_cfg.input_cols) > 1:
        logger.warning("distill-fp: no student: the run reads further input columns (%s) that "
                       "ECFP would ignore", ", ".join(data_cfg.input_cols[1:]))
        return []
    x = [*job.rows["train"].inputs, *corpus_inputs(job, data_cfg)]
    targets = teacher_outputs(job.teacher, x, job.task)
    val = job.rows.get("val")
    x_val = list(val.inputs) if val is not None and len(val) else None
    t_val = teacher_outputs(job.teacher, x_val, job.task) if x_val else None
    student = fit_student(job.task, x, targets, x_val, t_val, job.options.seed,
                          job.options.threads)
    out = Path(job.work) / VARIANT
    student.save(out)
    details = {"teacher_family": job.meta.get("family"), "features": FEATURES,
               "objective": _objective(job.task), "n_train_rows": len(job.rows["train"]),
               "n_corpus_rows": len(x) - len(job.rows["train"]),
               "best_iterations": list(student.model.best_iterations_)}
    if x_val:
        details["val_agreement"] = agreement(job.task, student.predict(x_val), t_val)
    update_model_meta(out, distilled=details,
                      **{k: job.meta[k] for k in CARRIED_META if k in job.meta})
    return [Variant(VARIANT, out, f"LightGBM on count ECFP4 trained on the teacher's "
                                  f"predictions ({details['objective']}, {len(x):,} rows)",
                    details)]


def _objective(task: TaskSpec) -> str:
    return {"regression": "regression on teacher values",
            "binary": "cross_entropy on teacher probabilities",
            "multiclass": "multiclass on the teacher's argmax"}[task.task_type]


def corpus_inputs(job: CompressJob, data_cfg: DataConfig) -> list[str]:
    """Canonical SMILES of ``options.corpus`` that are not rows of the run (each once).

    Raises
    ------
    DataError
        The corpus cannot be read or adds no valid new molecule.
    """
    path = job.options.corpus
    if path is None:
        return []
    from scifm.data.corpus import CorpusReader

    reader = CorpusReader(path, "smiles", data_cfg, input_col=data_cfg.input_cols[0])
    taken = {str(d) for rows in job.rows.values() for d in rows.inputs}
    out: list[str] = []
    n_read = n_invalid = n_dup = 0
    for item in reader.checked():
        n_read += 1
        if item.text is None:
            n_invalid += 1
        elif item.text in taken:
            n_dup += 1
        else:
            taken.add(item.text)
            out.append(item.text)
    logger.info("distill-fp: corpus %s: %d items, %d invalid, %d repeated or rows of the run "
                "(left out), %d used", Path(path).name, n_read, n_invalid, n_dup, len(out))
    if not out:
        raise DataError(f"the corpus {path} adds no valid molecule beyond the run's rows "
                        f"({n_read} items read, {n_invalid} invalid)")
    return out


def teacher_outputs(teacher: Any, x: list[Any], task: TaskSpec) -> np.ndarray:
    """The teacher's predictions ``n x task.n_outputs`` (:data:`TEACH_CHUNK` at a time)."""
    parts = [np.asarray(teacher.predict(x[i:i + TEACH_CHUNK]), dtype=np.float64).reshape(
        -1, task.n_outputs) for i in range(0, len(x), TEACH_CHUNK)]
    out = np.concatenate(parts) if parts else np.empty((0, task.n_outputs))
    return np.clip(out, 0.0, 1.0) if task.is_classification else out


def agreement(task: TaskSpec, student: np.ndarray, teacher: np.ndarray) -> float:
    """How closely the student follows the teacher: Pearson r (regression, binary: mean over
    tasks) or the share of rows with the same most probable class (multiclass)."""
    if task.task_type == "multiclass":
        return float(np.mean(student.argmax(axis=1) == teacher.argmax(axis=1)))
    rs = [np.corrcoef(student[:, j], teacher[:, j])[0, 1] for j in range(teacher.shape[1])
          if np.std(student[:, j]) > 0 and np.std(teacher[:, j]) > 0]
    return float(np.mean(rs)) if rs else float("nan")


def fit_student(task: TaskSpec, x: list[Any], targets: np.ndarray, x_val: list[Any] | None,
                t_val: np.ndarray | None, seed: int = 0, n_jobs: int = 0) -> LightGBMPredictor:
    """A ``lightgbm`` predictor on :data:`FEATURES` fitted to the teacher's outputs.

    Parameters
    ----------
    task
        The teacher's task (the student's too).
    x, targets
        Student rows and the teacher's predictions on them (``n x task.n_outputs``).
    x_val, t_val
        Early-stopping rows and the teacher's predictions on them (optional).
    seed, n_jobs
        LightGBM's seed and threads (``<= 0``: all cores).
    """
    student = LightGBMPredictor(task, "smiles", params=STUDENT_PARAMS, features=FEATURES,
                                seed=seed, n_jobs=n_jobs)
    if task.task_type == "binary":
        return _fit_soft(student, x, targets, x_val, t_val)
    if task.task_type == "multiclass":  # hard labels: the teacher's most probable class
        targets = targets.argmax(axis=1)[:, None].astype(np.float64)
        t_val = None if t_val is None else t_val.argmax(axis=1)[:, None].astype(np.float64)
    return student.fit(x, targets, x_val, t_val)


def _soft_params(model: Any, seed: int) -> dict[str, Any]:
    """LightGBM parameters of a soft-label booster: those of the ``lightgbm`` family's
    estimator (``model``, an unfitted :class:`~scifm.models.baselines.LGBMTaskModel`) with the
    ``cross_entropy`` objective."""
    threads = int(model.n_jobs) if model.n_jobs and model.n_jobs > 0 else 0
    return {"objective": "cross_entropy", "metric": "cross_entropy",
            "learning_rate": float(model.learning_rate), "num_leaves": int(model.num_leaves),
            "min_data_in_leaf": int(model.min_child_samples),
            "feature_fraction": float(model.colsample_bytree),
            "bagging_fraction": float(model.subsample),
            "bagging_freq": 1 if model.subsample < 1 else 0,
            "lambda_l2": float(model.reg_lambda), "num_threads": threads, "seed": seed,
            "deterministic": True, "force_row_wise": True, "feature_pre_filter": False,
            "verbose": -1}


def _fit_soft(student: LightGBMPredictor, x: list[Any], targets: np.ndarray,
              x_val: list[Any] | None, t_val: np.ndarray | None) -> LightGBMPredictor:
    """Fit ``student``'s boosters with ``cross_entropy`` on soft labels, one per task."""
    import lightgbm as lgb

    from scifm.models.baselines import LGBMTaskModel

    featurizer = featurizer_from_name(FEATURES, "smiles").fit(x)
    X = featurize(featurizer, x, what="SMILES")
    X_val = featurize(featurizer, x_val, what="SMILES") if x_val else None
    proto = student.estimator()
    params = _soft_params(proto, student.seed)
    boosters, best = [], []
    for j in range(targets.shape[1]):
        ok = ~np.isnan(targets[:, j])
        if not ok.all():
            logger.warning("distill-fp: task %d: %d rows without a teacher prediction left out",
                           j, int((~ok).sum()))
        data = {"verbose": -1, "feature_pre_filter": False}
        train = lgb.Dataset(X[ok], label=targets[ok, j], params=data)
        valid, callbacks = [], []
        if X_val is not None and t_val is not None:
            vok = ~np.isnan(t_val[:, j])
            valid = [lgb.Dataset(X_val[vok], label=t_val[vok, j], reference=train, params=data)]
            callbacks = [lgb.early_stopping(int(proto.early_stopping_rounds),
                                            first_metric_only=True, verbose=False)]
        booster = lgb.train(params, train, num_boost_round=int(proto.n_estimators),
                            valid_sets=valid, callbacks=callbacks)
        boosters.append(booster)
        best.append(booster.best_iteration if booster.best_iteration > 0
                    else booster.current_iteration())
    kwargs = {k: v for k, v in proto.get_params().items() if k != "n_classes"}
    student.model = LGBMTaskModel.from_boosters(boosters, best, n_classes=None, **kwargs)
    student.featurizer = featurizer
    student.history_ = student.model.history_ = []
    return student
