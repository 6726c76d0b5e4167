"""The experiment spec: one pydantic model per stage, validated when loaded.

Precedence: these defaults, then the YAML file, then CLI flags, then dotted ``--set`` overrides
(see :mod:`scifm.config.load`). Unknown keys are errors, so a typo never goes unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from scifm.config.base import Strict as _Strict
from scifm.config.inputs import SequenceOptions, SmilesOptions, TextOptions
from scifm.config.privacy import PrivacyConfig
from scifm.config.split import SplitConfig
from scifm.config.training import PeftConfig, PeftMethod, PretrainConfig, TrainConfig
from scifm.config.trust import UncertaintyConfig
from scifm.errors import ConfigError

__all__ = ["DataConfig", "ExperimentConfig", "ModelConfig", "PeftConfig", "PeftMethod",
           "PretrainConfig", "SequenceOptions", "SmilesOptions", "SplitConfig", "TextOptions",
           "TrainConfig"]

TaskKind = Literal["auto", "regression", "binary", "multiclass", "token_classification"]


def comma_list(v: object) -> object:
    """A comma-separated string (``--model lightgbm,xgboost``) as the list of its non-blank,
    stripped items; any other value unchanged."""
    if isinstance(v, str):
        return [c.strip() for c in v.split(",") if c.strip()]
    return v


NameList = Annotated[list[str], BeforeValidator(comma_list)]
"""A list of names, also accepted as one comma-separated string."""



class DataConfig(_Strict):
    """Where the data is and what it means."""

    path: Path | None = None
    """Input file: CSV/TSV (optionally .gz), Parquet, JSONL, FASTA or SDF."""
    format: Literal["auto", "csv", "tsv", "parquet", "jsonl", "fasta", "sdf", "text", "rct",
                    "conll"] = "auto"
    """``auto`` detects from the suffix; ``text`` (one item per line, ``.txt``/``.smi``, optionally
    .gz) is for pretraining corpora only (``scifm pretrain``); ``rct`` reads PubMed-RCT style
    ``###id`` / ``label<TAB>sentence`` files as text rows; ``conll`` (``token ... tag`` lines) is
    for ``task: token_classification`` (the default there for text)."""
    modality: str = "smiles"
    """A registered modality (``scifm.config.registry.MODALITIES``): ``smiles``, ``protein``,
    ``dna``, ``text`` or one a plug-in adds (``scifm.modalities``)."""
    input_col: str | list[str] = ""
    """Column holding the SMILES / sequence / text, or a list of columns: the primary input
    first, then further input columns (numbers or strings, e.g. ``[smiles, temperature]``) that
    the modality's plug-in and featurizers read. Default by modality: ``smiles``, ``sequence``
    (protein, dna; also FASTA's column) or ``text``. SDF files give ``smiles``."""
    target_cols: list[str] = Field(default_factory=list)
    """One or more target columns (a YAML list; ``--target-col`` once per column); a blank cell
    is a missing label. A single string is one column, even when its name holds a comma."""
    id_col: str | None = None
    """Optional column of row identifiers (defaults to the row number)."""
    task: TaskKind = "auto"
    """``auto`` infers: two distinct values -> binary; few string/int values -> multiclass;
    otherwise regression. ``token_classification``: one label per word (NER, CoNLL files) or per
    residue (a label string as long as the sequence), fine-tuned by ``scifm finetune``
    (:mod:`scifm.recipes.finetune`)."""
    mask_col: str | None = None
    """Per-residue tasks: optional column of 0/1 strings as long as the sequence (e.g.
    ``resolved_mask``); residues marked 0 are neither trained on nor scored."""
    val_path: Path | None = None
    """Token classification: a separate validation file (e.g. CoNLL ``dev.txt``)."""
    test_path: Path | None = None
    """Token classification: a separate test file; with ``val_path``/``test_path`` the files
    define the split and ``split`` is not used for them."""
    duplicates: Literal["mean", "first", "majority", "drop", "keep"] = "mean"
    """Exact duplicates after canonicalisation: ``mean`` (regression; majority for classes),
    ``first``, ``majority``, ``drop`` (drop groups whose labels conflict) or ``keep`` (keep every
    row as it is, e.g. to reproduce a published benchmark split; the leakage audit still reports
    duplicates that straddle splits)."""
    duplicate_spread_warn: float | None = Field(default=None, ge=0)
    """Regression: warn about duplicate groups whose labels differ (max - min) by more than this,
    in target units; default: one standard deviation of the target column."""
    units: dict[str, str] = Field(default_factory=dict)
    """Units of the targets, ``{column: unit}`` (e.g. ``{expt: kcal/mol}``): shown on the
    report's axes and tables; unknown units are left out, never guessed."""
    decimal: Literal[".", ","] = "."
    """Decimal mark of label and further input columns (``,`` reads ``1,25`` as 1.25)."""
    smiles: SmilesOptions = Field(default_factory=SmilesOptions)
    sequence: SequenceOptions = Field(default_factory=SequenceOptions)
    text: TextOptions = Field(default_factory=TextOptions)

    def recorded(self) -> dict[str, Any]:
        """These settings as a model's ``scifm.json`` records them: JSON, with the data files'
        paths made absolute, so that ``scifm evaluate`` finds the training data from any
        working directory."""
        paths = {k: getattr(self, k).resolve() for k in ("path", "val_path", "test_path")
                 if getattr(self, k) is not None}
        return self.model_copy(update=paths).model_dump(mode="json")

    @field_validator("modality")
    @classmethod
    def _known_modality(cls, v: str) -> str:
        from scifm.config.registry import MODALITIES

        if v not in MODALITIES:
            raise ValueError(f"unknown modality {v!r}; known: {', '.join(MODALITIES.names())}")
        return v

    @field_validator("input_col")
    @classmethod
    def _one_or_more_columns(cls, v: str | list[str]) -> str | list[str]:
        """A list of one column is that column; an empty list means the modality's default."""
        if isinstance(v, list):
            if len(set(v)) != len(v) or not all(v):
                raise ValueError(f"input columns must be distinct names, got {v}")
            return v[0] if len(v) == 1 else (v or "")
        return v

    @model_validator(mode="after")
    def _default_input_col(self) -> DataConfig:
        if not self.input_col:
            from scifm.config.registry import MODALITIES

            cols = list(MODALITIES.get(self.modality).input_cols)
            object.__setattr__(self, "input_col", cols[0] if len(cols) == 1 else cols)
        return self

    @property
    def input_cols(self) -> list[str]:
        """Every input column, the primary one first (``input_col`` as a list)."""
        return [self.input_col] if isinstance(self.input_col, str) else list(self.input_col)

    @field_validator("target_cols", mode="before")
    @classmethod
    def _one_column(cls, v: object) -> object:
        """A string is one column name (commas included: ``"ADR, cardiac"`` is one column)."""
        return [v] if isinstance(v, str) else v


class ModelConfig(_Strict):
    """Which model families, their shared settings and, for transformers, the backbone."""

    families: NameList = Field(default_factory=lambda: ["lightgbm", "transformer"])
    """Families trained side by side on the same split and compared in the report; any
    registered family (``scifm.config.registry.FAMILIES``: ``lightgbm``, ``transformer``,
    ``xgboost``, ``rf``, ``extratrees``, ``linear``, ``knn``, ``svm``, ...). The one with the best
    validation metric is the run's model."""
    features: str = "auto"
    """Feature set of the feature-based families: ``auto`` (the modality's default) or atoms
    joined by '+' (``ecfp``, ``ecfp6+maccs``, ``ecfp+rdkit2d``, ``kmer3+protdesc``, ``tfidf``,
    ``embed:PATH``; see ``scifm.featurizers.sets``)."""
    n_jobs: int = 0
    """Threads of the feature-based families; 0 = all cores."""
    size: Literal["tiny", "small", "base"] = "small"
    """Size preset of a freshly initialised BERT encoder (ignored when ``init`` is set)."""
    init: Path | None = None
    """A local Hugging Face checkpoint folder, or another run's ``model/`` folder."""
    max_length: int = 256
    """Maximum number of tokens per input (longer inputs are truncated)."""
    dna_kmer: int = 1
    """DNA tokenisation: 1 = characters, k > 1 = overlapping k-mers."""
    text_vocab_size: int = 8000
    """WordPiece vocabulary size trained on the corpus (text, when no checkpoint)."""
    class_weight: Literal["auto", "none", "balanced"] = "auto"
    """Weight classes inversely to frequency in the loss (transformer) / objective (others):
    ``balanced`` always; ``auto`` (default): the transformer's loss is weighted when a class is
    rare in the training labels (below half an even share: < 25 % for binary targets), so a
    fine-tune does not collapse to the majority class; the feature-based families and token
    classification are not weighted under ``auto``; ``none``: never."""
    dropout: float = 0.1

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: str) -> str:
        """``auto`` or atoms that some modality accepts (no featurizer is imported here)."""
        from scifm.modalities.features import check_feature_name

        try:
            return check_feature_name(v)
        except ConfigError as err:  # -> the ValueError pydantic reports
            raise ValueError(str(err)) from None

    @field_validator("families")
    @classmethod
    def _known_families(cls, v: list[str]) -> list[str]:
        from scifm.models.registry import trainable_families

        known = trainable_families()
        unknown = [f for f in v if f not in known]
        if unknown or not v:
            raise ValueError(f"unknown model families {unknown or v}; expected some of "
                             f"{', '.join(known)}")
        if len(set(v)) != len(v):
            raise ValueError(f"families repeat: {v}")
        return v


def _check_tunable(names: list[str]) -> list[str]:
    from scifm.models.registry import tunable_families

    known = tunable_families()
    unknown = [f for f in names if f not in known]
    if unknown or not names:
        raise ValueError(f"cannot search {unknown or names}: expected some of {', '.join(known)} "
                         "(families with a search space)")
    return names


class TuneConfig(_Strict):
    """Hyper-parameter search of one family (``scifm tune``; Optuna TPE + pruning)."""

    family: str = "lightgbm"
    """Family to tune: any registered family with a search space (``lightgbm``, ``xgboost``,
    ``rf``, ...)."""
    n_trials: int | None = 20
    """Trials to run in this call (None: until ``time_budget``)."""
    time_budget: float | None = None
    """Stop starting new trials after this many seconds (None: no limit)."""
    folds: int = 5
    """Cross-validation folds on train+val (test never used); how they are made: ``cv``."""
    cv: Literal["auto", "grouped", "stratified", "random"] = "auto"
    """Folds of the search (``scifm.tuning.folds``): ``auto`` groups train+val by the modality's
    grouping key (SMILES: Bemis-Murcko scaffold; sequences: similarity) whatever the outer
    split, else stratified / random; ``grouped`` requires a grouping key; ``stratified`` and
    ``random`` do not group. With fewer groups than folds: stratified / random."""
    pruner: Literal["median", "halving", "none"] = "median"
    """Prune poor trials from intermediate fold scores: median or successive halving."""
    tune_features: bool = True
    """Search over the modality's feature sets as well (else keep the configured features)."""
    storage: str | None = None
    """Optuna storage URL (default: ``sqlite:///RUN/optuna.db``); resumable with study_name."""
    study_name: str | None = None
    """Study name (default: ``scifm-<family>``); the same storage + name resumes a study."""
    workers: int = 1
    """Processes on this machine sharing the study (``n_trials`` is split over them). SQLite and
    ``journal:///PATH`` storage are for one machine; with ``postgresql://...`` more machines can
    join by running the same command (see ``scifm.tuning.parallel``)."""

    @field_validator("family")
    @classmethod
    def _tunable(cls, v: str) -> str:
        return _check_tunable([v])[0]

    @model_validator(mode="after")
    def _budget(self) -> TuneConfig:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if self.n_trials is not None and self.n_trials < 1:
            raise ValueError("n_trials must be >= 1")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError("time_budget must be > 0 seconds")
        if self.n_trials is None and self.time_budget is None:
            raise ValueError("give n_trials and/or time_budget")
        return self


class AutoConfig(_Strict):
    """``scifm auto``: tune several families, refit each family's best, ensemble the top ones.

    The budget (``automl.tune.n_trials`` per family, ``automl.tune.time_budget`` seconds for the
    whole search), folds, pruner, storage and workers come from ``automl.tune``."""

    families: NameList | None = None
    """Families to search; None: every tunable family that reads the data's modality
    (``linear``, ``knn``, ``lightgbm``, ``xgboost``, ``rf``, ``extratrees``, ``svm``, and
    ``mpnn`` for SMILES when the ``mpnn`` extra is installed; at most ``auto_trials`` = 2 mpnn
    trials without a time budget). The transformer is not searched by ``auto``."""
    top_k: int = 5
    """Families (best by cross-validation) the ensemble may combine."""
    refit: Literal["needed", "all"] = "needed"
    """Refit and test ``needed`` families (the ensemble's members and the two best single
    families, for the paired comparisons) or ``all`` (a test metric for every family)."""
    ensemble: bool = True
    """Try a weighted-average ensemble (greedy selection on out-of-fold predictions); it is
    kept only when its cross-fitted out-of-fold score beats the best single family."""
    ensemble_rounds: int = 25
    """Greedy (Caruana) selection rounds; weights are selection counts / rounds."""
    stacking: bool = True
    """Also try a cross-fitted stacking ensemble (a regularised meta-model on the out-of-fold
    predictions of the top families, ``scifm.tuning.stacking``); it is kept only when its
    cross-fitted out-of-fold score beats both the weighted average and the best single family."""
    embed: str | None = None
    """A Hugging Face encoder folder (a ``scifm pretrain`` run's ``model/``, or a local
    checkpoint): its mean-pooled embeddings (``embed:PATH``, alone and joined with the modality's
    default features) join the feature sets that ``auto`` (and ``tune``) search; a relative path
    in a YAML spec is relative to the spec's folder."""

    @field_validator("families")
    @classmethod
    def _tunable(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_tunable(v)

    @model_validator(mode="after")
    def _positive(self) -> AutoConfig:
        if self.top_k < 1 or self.ensemble_rounds < 1:
            raise ValueError("top_k and ensemble_rounds must be >= 1")
        return self


class AutoMLConfig(_Strict):
    """Hyper-parameter search: ``scifm tune`` (one family) and ``scifm auto`` (several)."""

    tune: TuneConfig = Field(default_factory=TuneConfig)
    auto: AutoConfig = Field(default_factory=AutoConfig)


class EvalConfig(_Strict):
    """Test-set evaluation."""

    n_bootstrap: int = 1000
    """Bootstrap resamples of the test set for the confidence intervals."""
    ci: float = 0.95


class TrackingConfig(_Strict):
    """Experiment tracking (MLflow)."""

    enabled: bool = True
    uri: str | None = None
    """Tracking URI; default: ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<out parent>/mlflow.db``."""
    experiment: str = "scifm"


class ExperimentConfig(_Strict):
    """A whole experiment; written fully resolved to ``RUN_DIR/config.yaml``."""

    seed: int = 0
    out: Path = Path("runs/scifm")
    overwrite: bool = False
    """Replace an earlier scifm run in ``out`` once this run succeeded (``--overwrite``); without
    it a non-empty ``out`` is refused. Saved as ``false`` in ``config.yaml``."""
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    params: dict[str, Any] = Field(default_factory=dict)
    """Per-family hyper-parameters: ``params.<family>`` is that family's typed section
    (``scifm.models.params``; e.g. ``params.lightgbm.num_leaves``); unset values keep the
    family's defaults."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    peft: PeftConfig = Field(default_factory=PeftConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    automl: AutoMLConfig = Field(default_factory=AutoMLConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        """Keys of configs written before the family registry: one line saying the new key."""
        if not isinstance(data, dict):
            return data
        model, automl = data.get("model") or {}, data.get("automl") or {}
        renamed = {"lightgbm": "params.lightgbm (and model.features, model.n_jobs)",
                   "model.family": "model.families (a list: [lightgbm, transformer])",
                   "automl.params": "params.<family>", "automl.features": "model.features",
                   "automl.n_jobs": "model.n_jobs"}
        present = {"lightgbm": "lightgbm" in data,
                   "model.family": isinstance(model, dict) and "family" in model,
                   **{f"automl.{k}": isinstance(automl, dict) and k in automl
                      for k in ("params", "features", "n_jobs")}}
        for key, new in renamed.items():
            if present[key]:
                raise ConfigError(f"invalid config: {key} was renamed: use {new}")
        return data

    @field_validator("params")
    @classmethod
    def _typed_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Each ``params.<family>`` becomes that family's typed section (unknown keys refused)."""
        from scifm.models.registry import get_family

        out: dict[str, Any] = {}
        for name, section in v.items():
            try:
                spec = get_family(name)
            except Exception as err:  # ConfigError -> the ValueError pydantic reports
                raise ValueError(str(err)) from None
            out[name] = section if isinstance(section, spec.params) else \
                spec.params.model_validate(section or {})
        return out

    @model_validator(mode="after")
    def _split_default_for_modality(self) -> ExperimentConfig:
        """An unset ``split.method`` follows the modality's plug-in (``default_split``: scaffold
        for SMILES, similarity for sequences, stratified for text)."""
        if "method" not in self.split.model_fields_set:
            from scifm.config.registry import MODALITIES

            method = MODALITIES.get(self.data.modality).default_split
            object.__setattr__(self.split, "method", method)
        return self
