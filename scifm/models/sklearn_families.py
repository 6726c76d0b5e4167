"""The inner scikit-learn / XGBoost estimator of each feature-based family.

:func:`make_estimator` builds the single-output estimator of a family for one task from
hyper-parameters (the family's typed section, :mod:`scifm.models.params`, gives the names and
defaults);
:class:`~scifm.models.estimators.TaskwiseEstimator` wraps it with scifm's label conventions.

Families: ``xgboost`` (native NaN handling), ``rf`` / ``extratrees`` (scikit-learn forests, native
NaN handling), ``linear`` (LogisticRegression / Ridge), ``svm`` (SVC with sigmoid calibration /
SVR), ``knn`` (:mod:`scifm.models.knn`). ``linear``, ``svm`` and euclidean ``knn`` are pipelines
``SimpleImputer(median) -> StandardScaler(with_mean=False) -> model``: scaling lives in the
model, fitted on training rows only (no centering, so sparse TF-IDF stays sparse; the models are
translation-invariant or have an unpenalised intercept, so centering would not change them).

With several regression / binary tasks, ``rf``, ``extratrees`` and ``knn`` fit one native
multi-output model of all tasks (:mod:`scifm.models.joint`). ``xgboost`` stays one model per
task: its multi-output trees (``multi_strategy="multi_output_tree"``, "work in progress" in
XGBoost 3.2) refuse NaN labels ("Label contains NaN") and weigh whole rows only, so a missing
label could only be imputed, never left out.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from scifm.errors import ConfigError
from scifm.models.registry import get_family
from scifm.tasks import TaskType

__all__ = ["default_params", "make_estimator", "scaled_pipeline"]


def default_params(family: str) -> dict[str, Any]:
    """The defaults of ``family``'s typed parameter section (:mod:`scifm.models.params`)."""
    return get_family(family).params().model_dump()


def scaled_pipeline(model: BaseEstimator) -> Pipeline:
    """``SimpleImputer(median) -> StandardScaler(with_mean=False) -> Clip(±10) -> model``
    (:mod:`scifm.models.clipping`: an outlying descriptor of a new molecule does not
    extrapolate)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    from scifm.models.clipping import Clip

    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler(with_mean=False)),
        ("clip", Clip()),
        ("model", model),
    ])


def make_estimator(
    family: str,
    task_type: TaskType,
    params: dict[str, Any] | None = None,
    random_state: int = 0,
    n_jobs: int = 1,
) -> BaseEstimator:
    """The single-output scikit-learn estimator of ``family`` for one task.

    Parameters
    ----------
    family
        ``xgboost``, ``rf``, ``extratrees``, ``linear``, ``knn`` or ``svm``.
    task_type
        ``regression`` gives a regressor, ``binary`` / ``multiclass`` a classifier.
    params
        Hyper-parameters overriding the family's defaults (knn ``metric="auto"`` means
        Tanimoto; :class:`~scifm.models.feature.FeaturePredictor` resolves it per feature set).
    random_state, n_jobs
        Seed and threads (``n_jobs <= 0``: all cores).

    Raises
    ------
    ValueError
        Unknown family or parameter names.
    """
    try:
        spec = get_family(family)
        p = spec.params.model_validate(dict(params or {})).model_dump()
    except (ConfigError, ValidationError) as err:
        raise ValueError(f"{family}: {err}") from None
    if family not in _BUILDERS:
        raise ValueError(f"{family!r} is not a scikit-learn family of scifm")
    jobs = -1 if n_jobs <= 0 else int(n_jobs)
    return _BUILDERS[family](p, task_type == "regression", jobs, random_state, family)


def _xgboost(p: dict[str, Any], reg: bool, jobs: int, seed: int, family: str) -> BaseEstimator:
    import xgboost as xgb

    cls = xgb.XGBRegressor if reg else xgb.XGBClassifier
    return cls(**p, tree_method="hist", n_jobs=jobs, random_state=seed, verbosity=0)


def _forest(p: dict[str, Any], reg: bool, jobs: int, seed: int, family: str) -> BaseEstimator:
    from sklearn import ensemble

    name = ("RandomForest" if family == "rf" else "ExtraTrees") + (
        "Regressor" if reg else "Classifier")
    return getattr(ensemble, name)(**p, n_jobs=jobs, random_state=seed)


def _linear(p: dict[str, Any], reg: bool, jobs: int, seed: int, family: str) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression, Ridge

    return scaled_pipeline(Ridge(alpha=p["alpha"]) if reg else
                           LogisticRegression(C=p["C"], max_iter=2000))


def _svm(p: dict[str, Any], reg: bool, jobs: int, seed: int, family: str) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    if reg:
        return scaled_pipeline(SVR(C=p["C"], gamma=p["gamma"], epsilon=p["epsilon"]))
    return CalibratedClassifierCV(scaled_pipeline(SVC(C=p["C"], gamma=p["gamma"],
                                                      random_state=seed)),
                                  method="sigmoid", cv=3, ensemble=False)


def _knn(p: dict[str, Any], reg: bool, jobs: int, seed: int, family: str) -> BaseEstimator:
    from scifm.models.knn import KNNClassifier, KNNRegressor

    metric = "tanimoto" if p["metric"] == "auto" else p["metric"]
    knn = (KNNRegressor if reg else KNNClassifier)(n_neighbors=p["n_neighbors"],
                                                    weights=p["weights"], metric=metric)
    return knn if metric == "tanimoto" else scaled_pipeline(knn)


_BUILDERS = {"xgboost": _xgboost, "rf": _forest, "extratrees": _forest, "linear": _linear,
             "svm": _svm, "knn": _knn}
"""How each scikit-learn / XGBoost family builds its single-output estimator."""
