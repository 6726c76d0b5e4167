"""Typed parameter sections of the built-in families: ``params.<family>`` in the config.

Each class is the family's :attr:`~scifm.models.registry.FamilySpec.params`; its defaults are the
family's defaults (``scifm train``'s, and trial 0 of every ``tune`` / ``auto`` study). Unknown
keys are errors, so ``--set params.rf.n_estimator=100`` (a typo) never goes unnoticed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import field_validator

from scifm.config.base import Strict

if TYPE_CHECKING:
    from scifm.config.schema import ModelConfig
    from scifm.config.training import PeftConfig, TrainConfig


class BoostingParams(Strict):
    """What LightGBM and XGBoost share: rounds, shrinkage, subsampling, L2, early stopping."""

    n_estimators: int = 500
    """Boosting rounds at most (early stopping usually ends sooner)."""
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    """Rounds without improvement on val before stopping."""


class LightGBMParams(BoostingParams):
    """LightGBM boosters (one per task), early-stopped on the validation rows."""

    n_estimators: int = 2000
    num_leaves: int = 31
    min_child_samples: int = 10
    early_stopping_rounds: int = 100


class XGBoostParams(BoostingParams):
    """XGBoost (``hist``), early-stopped on the validation rows."""

    max_depth: int = 6
    min_child_weight: float = 1.0
    reg_alpha: float = 0.0


class ForestParams(Strict):
    """Random forest / extremely randomised trees (scikit-learn)."""

    n_estimators: int = 300
    max_features: Literal["sqrt", "log2"] | float | None = "sqrt"
    """``sqrt``, ``log2``, a fraction of the features, or None (all)."""
    min_samples_leaf: int = 1
    max_depth: int | None = None


class LinearParams(Strict):
    """Logistic regression (classification) or ridge (regression) on standardised features."""

    C: float = 1.0
    """Inverse regularisation strength of the logistic regression."""
    alpha: float = 1.0
    """Ridge penalty."""


class KNNParams(Strict):
    """k nearest neighbours: Tanimoto on fingerprints, euclidean on standardised features."""

    n_neighbors: int = 5
    weights: Literal["uniform", "distance"] = "distance"
    metric: Literal["auto", "tanimoto", "euclidean"] = "auto"
    """``auto``: Tanimoto when every feature is a fingerprint, else euclidean."""


class SVMParams(Strict):
    """SVC with sigmoid calibration (classification) / SVR (regression), RBF kernel."""

    C: float = 1.0
    gamma: Literal["scale", "auto"] | float = "scale"
    epsilon: float = 0.1
    """SVR only: width of the insensitive tube."""

    @field_validator("C", "epsilon")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class MPNNParams(Strict):
    """Chemprop's D-MPNN (``mpnn``, extra ``mpnn``): bond message passing, aggregation, FFN head.

    Defaults are Chemprop's (depth 3, hidden 300, one FFN layer of 300, no dropout, Noam-like
    learning-rate schedule with 2 warm-up epochs), with at most 50 epochs early-stopped on val.
    """

    epochs: int = 50
    """Epochs at most (early stopping on the validation rows usually ends sooner)."""
    patience: int = 10
    """Epochs without a better validation loss before stopping (the best epoch is kept)."""
    depth: int = 3
    """Message-passing steps."""
    hidden: int = 300
    """Width of the bond messages (and of the learned molecule fingerprint)."""
    ffn_layers: int = 1
    """Hidden layers of the feed-forward head."""
    ffn_hidden: int = 300
    dropout: float = 0.0
    """Dropout in message passing and in the head."""
    batch_size: int = 50
    lr: float = 1e-3
    """Peak learning rate (Chemprop's ``max_lr``; it warms up from and decays to ``lr / 10``)."""
    warmup_epochs: int = 2
    aggregation: Literal["norm", "mean", "sum"] = "norm"
    """How atom vectors make the molecule vector (``norm``: sum / 100, Chemprop's default)."""
    batch_norm: bool = False
    """Batch normalisation of the aggregated fingerprint."""
    n_models: int = 1
    """Members of the ensemble (seeds ``seed``, ``seed + 1``, ...); predictions are averaged."""
    threads: int = 0
    """Torch threads while training and predicting (0: torch's default). Chemprop's small
    graph batches often run faster on 1-2 threads than on many busy cores."""
    extra_descriptors: bool | str = False
    """Molecule-level descriptors appended to the learned fingerprint (Chemprop's ``x_d``):
    a feature set (:mod:`scifm.featurizers.sets`, e.g. ``rdkit2d``), True (= ``rdkit2d``) or
    False (none); standardised with the training rows' statistics."""

    @field_validator("epochs", "depth", "hidden", "ffn_layers", "ffn_hidden", "batch_size",
                     "n_models")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("dropout")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError("must be in [0, 1)")
        return v

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v

    @field_validator("extra_descriptors", mode="before")
    @classmethod
    def _flag_words(cls, v: object) -> object:
        words = {"true": True, "yes": True, "false": False, "no": False, "none": False, "": False}
        return words.get(v.strip().lower(), v) if isinstance(v, str) else v

    def descriptor_set(self) -> str | None:
        """The feature set of ``extra_descriptors`` (None: no extra descriptors)."""
        if self.extra_descriptors is True:
            return "rdkit2d"
        return self.extra_descriptors or None


class DPLinearParams(Strict):
    """``dplinear``: a torch linear model (logistic / softmax / least squares) on a feature set,
    trained by DP-SGD (Opacus) when ``privacy.dp.epsilon`` is set, plainly otherwise."""

    epochs: int = 20
    """Passes over the training rows (fixed: the privacy accountant needs it in advance)."""
    batch_size: int = 256
    """Rows per step (under DP: the expected size of a Poisson-sampled batch)."""
    lr: float = 0.05
    """Learning rate of the optimizer."""
    optimizer: Literal["sgd", "adam"] = "adam"
    weight_decay: float = 0.0
    """L2 penalty on the weights (not the bias)."""
    normalize: Literal["l2", "standard", "none"] = "l2"
    """``l2``: each row scaled to unit norm (data-independent, so the DP guarantee covers it);
    ``standard``: training means and deviations (not covered by the DP guarantee)."""

    @field_validator("epochs", "batch_size")
    @classmethod
    def _at_least_one_dp(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("lr")
    @classmethod
    def _positive_dp(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class TransformerParams(Strict):
    """``transformer`` settings searched by ``scifm auto`` (a local checkpoint in ``model.init``).

    Each field left ``None`` keeps the section it overrides (``train``, ``peft``, ``model``), so
    ``scifm train --model transformer`` is unchanged unless ``params.transformer`` is given; a
    search's trial 0 takes the ``default`` of the family's search space (fine-tuning values:
    lr 1e-4, at most 6 epochs (early-stopped on val; a time budget fits them to its share),
    full fine-tune, class weights when a class is rare)."""

    lr: float | None = None
    """Peak learning rate (``train.lr``)."""
    epochs: float | None = None
    """Epochs at most (``train.epochs``; early stopping on val and a time budget may end sooner)."""
    lora_r: int | None = None
    """LoRA rank: 0 fine-tunes every weight (``peft.method: none``), else a LoRA adapter of this
    rank (``peft.method: lora``, ``peft.r``, ``peft.alpha`` = 2 x rank)."""
    class_weight: Literal["auto", "none", "balanced"] | None = None
    """``model.class_weight``."""

    @field_validator("lr", "epochs")
    @classmethod
    def _positive_tf(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be > 0")
        return v

    @field_validator("lora_r")
    @classmethod
    def _rank(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be >= 0 (0: full fine-tuning)")
        return v

    def sections(self, train: TrainConfig, peft: PeftConfig, model: ModelConfig,
                 ) -> tuple[TrainConfig, PeftConfig, ModelConfig]:
        """``train``, ``peft`` and ``model`` with the fields set here applied (copies)."""
        train = train.model_copy(update={k: v for k, v in (("lr", self.lr),
                                                          ("epochs", self.epochs))
                                         if v is not None})
        if self.lora_r is not None:
            peft = (peft.model_copy(update={"method": "none"}) if self.lora_r == 0 else
                    peft.model_copy(update={"method": "lora", "r": self.lora_r,
                                            "alpha": 2 * self.lora_r}))
        if self.class_weight is not None:
            model = model.model_copy(update={"class_weight": self.class_weight})
        return train, peft, model
