"""The built-in model families, each registered once in :data:`scifm.config.registry.FAMILIES`.

Imported by the registry the first time it is read. Family modules (LightGBM, scikit-learn,
XGBoost, torch) are imported only when a family is built or loaded, so reading the registry (for
config validation or ``--help``) stays light. Search spaces are data, in the format of
:mod:`scifm.tuning.search_spaces`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from scifm.config.registry import FAMILIES
from scifm.errors import ConfigError
from scifm.models.mpnn_budget import mpnn_min_seconds
from scifm.models.params import (
    DPLinearParams,
    ForestParams,
    KNNParams,
    LightGBMParams,
    LinearParams,
    MPNNParams,
    SVMParams,
    TransformerParams,
    XGBoostParams,
)
from scifm.models.registry import FamilySpec, family_params

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.models.base import Predictor
    from scifm.tasks import TaskSpec

_LOG = {"log": True}

TRANSFORMER_KEYS = ("model.size", "model.init", "model.max_length", "model.dna_kmer",
                    "model.text_vocab_size", "model.dropout", "train", "peft", "privacy.dp")
"""Config keys read by the transformer families (and by no feature-based family)."""
FEATURE_KEYS = ("model.features", "model.n_jobs")
"""Config keys read by the feature-based families."""


def _class_weight(cfg: ExperimentConfig) -> str | None:
    return "balanced" if cfg.model.class_weight == "balanced" else None


# ------------------------------------------- feature-based (lightgbm, sklearn, xgboost)
def _predictor_class(name: str) -> type:
    """:class:`~scifm.models.feature.FeaturePredictor`, or its named ``lightgbm`` subclass."""
    if name == "lightgbm":
        from scifm.models.lightgbm import LightGBMPredictor

        return LightGBMPredictor
    from scifm.models.feature import FeaturePredictor

    return FeaturePredictor


def _feature_family(name: str) -> tuple[Any, Any, Any]:
    def build(task: TaskSpec, modality: str, cfg: ExperimentConfig, work_dir: Path) -> Predictor:
        return _predictor_class(name)(
            family=name, task=task, modality=modality, features=cfg.model.features,
            params=family_params(cfg, name), seed=cfg.seed, class_weight=_class_weight(cfg),
            n_jobs=cfg.model.n_jobs)

    def load(path: Path) -> Predictor:
        return _predictor_class(name).load(path)

    def estimator(task: TaskSpec, cfg: ExperimentConfig) -> Any:
        return build(task, cfg.data.modality, cfg, Path(".")).estimator()

    return build, load, estimator


# ---------------------------------------------------------------- transformers
def _build_transformer(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                       work_dir: Path) -> Predictor:
    from scifm.training.finetune import build_transformer

    return build_transformer(task, modality, cfg, work_dir)


def transformer_min_seconds(n_rows: int) -> float:
    """A low estimate of the seconds one fine-tuning on ``n_rows`` inputs (train + val) needs to
    give a useful model: loading the checkpoint (MiniLM: 2 s), and half an epoch at 20 ms an
    input (MiniLM, 22.7M parameters, full fine-tuning on 2 cores: about 50 ms an input and
    epoch on SciCite); ``auto`` does not start it in less."""
    return 5.0 + 0.02 * n_rows


def _has_checkpoint(cfg: ExperimentConfig) -> bool:
    """``auto`` searches the transformer when ``model.init`` names a local checkpoint."""
    return cfg.model.init is not None


def _load_transformer(path: Path) -> Predictor:
    from scifm.models.transformer import load_transformer

    return load_transformer(path)


def _build_token(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                 work_dir: Path) -> Predictor:
    raise ConfigError("token classification is fine-tuned by `scifm finetune` "
                      "(data.task: token_classification), not by `scifm train`")


def _load_token(path: Path) -> Predictor:
    from scifm.models.transformer import load_token_model

    return load_token_model(path)


# ---------------------------------------------------------------- ensemble
def _build_ensemble(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                    work_dir: Path) -> Predictor:
    raise ConfigError("the ensemble is built by `scifm auto` from its searched families")


def _load_ensemble(path: Path) -> Predictor:
    from scifm.models.ensemble import EnsemblePredictor

    return EnsemblePredictor.load(path)


# ---------------------------------------------------------------- stacking
def _build_stacking(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                    work_dir: Path) -> Predictor:
    raise ConfigError("the stacking model is built by `scifm auto` from its searched families")


def _load_stacking(path: Path) -> Predictor:
    from scifm.models.stacked import StackedPredictor

    return StackedPredictor.load(path)


# ---------------------------------------------------------------- mpnn (extra: chemprop)
def _build_mpnn(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                work_dir: Path) -> Predictor:
    from scifm.models.mpnn import MPNNPredictor

    return MPNNPredictor(task, modality, family_params(cfg, "mpnn"), seed=cfg.seed)


def _load_mpnn(path: Path) -> Predictor:
    from scifm.models.mpnn import load_mpnn

    return load_mpnn(path)


SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "lightgbm": {
        "n_estimators": ("int", 50, 1000, _LOG),
        "learning_rate": ("float", 0.01, 0.3, _LOG),
        "num_leaves": ("int", 8, 256, _LOG),
        "min_child_samples": ("int", 2, 50, _LOG),
        "colsample_bytree": ("float", 0.1, 1.0),
        "subsample": ("float", 0.5, 1.0),
        "reg_lambda": ("float", 1e-3, 10.0, _LOG),
    },
    "xgboost": {
        "n_estimators": ("int", 50, 1000, _LOG),
        "learning_rate": ("float", 0.01, 0.3, _LOG),
        "max_depth": ("int", 2, 10),
        "min_child_weight": ("float", 0.5, 10.0, _LOG),
        "subsample": ("float", 0.5, 1.0),
        "colsample_bytree": ("float", 0.1, 1.0),
        "reg_lambda": ("float", 1e-3, 10.0, _LOG),
        "reg_alpha": ("float", 1e-4, 1.0, _LOG),
    },
    "forest": {
        "n_estimators": ("int", 100, 500, _LOG),
        "max_features": ("categorical", ["sqrt", "log2", 0.2, 0.5]),
        "min_samples_leaf": ("int", 1, 10, _LOG),
    },
    "linear": {
        "C": ("float", 1e-3, 1e2, {"log": True, "task": "classification"}),
        "alpha": ("float", 1e-3, 1e3, {"log": True, "task": "regression"}),
    },
    "knn": {
        "n_neighbors": ("int", 1, 30, _LOG),
        "weights": ("categorical", ["uniform", "distance"]),
    },
    "svm": {
        "C": ("float", 1e-2, 1e3, _LOG),
        "gamma": ("float", 1e-5, 1.0, _LOG),
        "epsilon": ("float", 1e-3, 1.0, {"log": True, "task": "regression"}),
    },
    "transformer": {  # trial 0: the "default" of each (TransformerParams inherits None);
        # MiniLM on ChemProt: 0.633 micro-F1 at 5e-5 x 3 epochs, 0.759 at 1e-4 x 6 (val agreed)
        "lr": ("float", 1e-5, 2e-4, {"log": True, "default": 1e-4}),
        "epochs": ("int", 1, 6, {"default": 6}),
        "lora_r": ("categorical", [0, 8, 16], {"default": 0}),
        "class_weight": ("categorical", ["auto", "balanced", "none"],
                         {"default": "auto", "task": "classification"}),
    },
    "mpnn": {
        "depth": ("int", 2, 6),
        "hidden": ("categorical", [300, 600, 900, 1200]),
        "dropout": ("float", 0.0, 0.4),
        "ffn_layers": ("int", 1, 3),
        "lr": ("float", 1e-4, 1e-2, _LOG),
    },
}
"""The search space of each built-in family (format: :mod:`scifm.tuning.search_spaces`)."""

FEATURE_FAMILIES: list[tuple[str, Any, str, int, str]] = [
    # name, typed parameters, search space, auto order (cheapest first), description
    ("lightgbm", LightGBMParams, "lightgbm", 30,
     "LightGBM gradient-boosted trees on a feature set (early stopping on val)"),
    ("xgboost", XGBoostParams, "xgboost", 40, "XGBoost gradient-boosted trees (hist)"),
    ("rf", ForestParams, "forest", 50, "random forest (scikit-learn)"),
    ("extratrees", ForestParams, "forest", 60, "extremely randomised trees (scikit-learn)"),
    ("linear", LinearParams, "linear", 10, "logistic / ridge regression, standardised features"),
    ("knn", KNNParams, "knn", 20, "k nearest neighbours (Tanimoto on fingerprints)"),
    ("svm", SVMParams, "svm", 70, "support vector machine (RBF kernel)"),
]
"""The feature-based families built by :class:`scifm.models.feature.FeaturePredictor`."""
EARLY_STOPPING = frozenset({"lightgbm", "xgboost"})
"""Those whose estimators early-stop on validation rows (``FamilySpec.early_stopping``)."""


def _register_builtins() -> None:
    for name, params, space, cost, text in FEATURE_FAMILIES:
        build, load, estimator = _feature_family(name)
        FAMILIES.register(FamilySpec(name, build, load, params=params, estimator=estimator,
                                     search_space=SEARCH_SPACES[space], auto_cost=cost,
                                     description=text, config_keys=FEATURE_KEYS,
                                     early_stopping=name in EARLY_STOPPING))
    FAMILIES.register(FamilySpec(
        "transformer", _build_transformer, _load_transformer, params=TransformerParams,
        search_space=SEARCH_SPACES["transformer"], uses_features=False, distributed=True,
        uses_n_jobs=False, in_auto=False, auto_if=_has_checkpoint, auto_cost=100, auto_trials=2,
        auto_holdout=True, auto_min_seconds=transformer_min_seconds,
        config_keys=TRANSFORMER_KEYS,
        description="BERT-style encoder fine-tuned by transformers.Trainer (fresh or model.init)"))
    FAMILIES.register(FamilySpec(
        "token", _build_token, _load_token, tasks=("token_classification",),
        uses_features=False, distributed=True, uses_n_jobs=False, in_auto=False,
        trainable=False, config_keys=TRANSFORMER_KEYS,
        description="token classification (NER, per-residue labels): scifm finetune"))
    FAMILIES.register(FamilySpec(
        "mpnn", _build_mpnn, _load_mpnn, params=MPNNParams, modalities=("smiles",),
        search_space=SEARCH_SPACES["mpnn"], requires=("chemprop", "mpnn"),
        uses_features=False, uses_n_jobs=False, in_auto=True, auto_cost=90, auto_trials=2,
        auto_holdout=True, auto_min_seconds=mpnn_min_seconds,
        description="Chemprop D-MPNN on molecular graphs (optional extra: "
                    "pip install -c constraints.txt -e \".[mpnn]\")"))
    FAMILIES.register(FamilySpec(
        "ensemble", _build_ensemble, _load_ensemble, in_auto=False, trainable=False,
        description="weighted average of other families (built by scifm auto)"))
    FAMILIES.register(FamilySpec(
        "stacking", _build_stacking, _load_stacking, in_auto=False, trainable=False,
        description="linear meta-model on other families' predictions (built by scifm auto)"))


_register_builtins()


# ---------------------------------------------------------------- thresholded (scifm audit)
def _build_thresholded(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                       work_dir: Path) -> Predictor:
    raise ConfigError("a thresholded model is made by `scifm audit --mitigate` from a trained run")


def _load_thresholded(path: Path) -> Predictor:
    from scifm.trust.thresholded import ThresholdedPredictor

    return ThresholdedPredictor.load(path)


FAMILIES.register(FamilySpec(
    "thresholded", _build_thresholded, _load_thresholded, tasks=("binary",), in_auto=False,
    trainable=False, description="a binary model with per-group decision thresholds "
                                 "(made by scifm audit --mitigate)"))


# ---------------------------------------------------------------- dplinear (privacy.dp)
def _build_dplinear(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                    work_dir: Path) -> Predictor:
    from scifm.models.dplinear import DPLinearPredictor

    return DPLinearPredictor(task, modality, features=cfg.model.features,
                             params=family_params(cfg, "dplinear"), seed=cfg.seed,
                             dp=cfg.privacy.dp)


def _load_dplinear(path: Path) -> Predictor:
    from scifm.models.dplinear import DPLinearPredictor

    return DPLinearPredictor.load(path)


FAMILIES.register(FamilySpec(
    # no search space: each tuning trial would spend privacy budget the accountant never sees
    "dplinear", _build_dplinear, _load_dplinear, params=DPLinearParams, in_auto=False,
    uses_n_jobs=False, config_keys=("privacy.dp", "model.features"),
    description="torch linear model on a feature set; Opacus DP-SGD when privacy.dp.epsilon "
                "is set (metrics.json records the spent epsilon)"))


import scifm.models.compressed  # noqa: E402, F401 - registers the compressed families
