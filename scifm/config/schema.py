"""The experiment spec: one pydantic model per stage, validated when loaded.

Precedence: these defaults, then the YAML file, then CLI flags, then dotted ``--set`` overrides
(see :mod:`scifm.config.load`). Unknown keys are errors, so a typo never goes unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from scifm.config.base import Strict as _Strict
from scifm.config.training import PeftConfig, PeftMethod, PretrainConfig, TrainConfig

__all__ = ["DataConfig", "ExperimentConfig", "ModelConfig", "PeftConfig", "PeftMethod",
           "PretrainConfig", "SplitConfig", "TrainConfig"]

Modality = Literal["smiles", "protein", "dna", "text"]
TaskKind = Literal["auto", "regression", "binary", "multiclass", "token_classification"]
SplitMethod = Literal["random", "stratified", "scaffold", "similarity", "predefined"]
Family = Literal["transformer", "lightgbm", "both", "xgboost", "rf", "extratrees", "linear", "knn",
                 "svm"]



class SmilesOptions(_Strict):
    """How SMILES are validated and canonicalised (RDKit)."""

    largest_fragment: bool = True
    """Keep only the largest organic fragment (strips salts and solvents)."""
    neutralize: bool = False
    """Neutralise charges with RDKit's Uncharger."""
    isomeric: bool = True
    """Keep stereochemistry in the canonical SMILES."""


class SequenceOptions(_Strict):
    """How protein and DNA sequences are validated."""

    uppercase: bool = True
    """Upper-case sequences before checking the alphabet (lower case is an error if False)."""
    allow_ambiguous: bool = True
    """Accept IUPAC ambiguity letters (protein: B Z X J U O; DNA: N R Y K M S W B D H V)."""
    strip_gaps: bool = True
    """Remove alignment gaps ('-', '.') and whitespace before checking."""
    max_length: int | None = None
    """Reject sequences longer than this (None: no limit)."""


class TextOptions(_Strict):
    """How texts are normalised."""

    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFKC"
    collapse_whitespace: bool = True
    lowercase: bool = False


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
    modality: Modality = "smiles"
    input_col: str = ""
    """Column holding the SMILES / sequence / text; default by modality: ``smiles``,
    ``sequence`` (protein, dna; also FASTA's column) or ``text``. SDF files give ``smiles``."""
    target_cols: list[str] = Field(default_factory=list)
    """One or more target columns; a blank cell is a missing label."""
    id_col: str | None = None
    """Optional column of row identifiers (defaults to the row number)."""
    task: TaskKind = "auto"
    """``auto`` infers: two distinct values -> binary; few string/int values -> multiclass;
    otherwise regression. ``token_classification``: one label per word (NER, CoNLL files) or per
    residue (a label string as long as the sequence); ``scifm train`` then runs
    :mod:`scifm.recipes.token_train`."""
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
    smiles: SmilesOptions = Field(default_factory=SmilesOptions)
    sequence: SequenceOptions = Field(default_factory=SequenceOptions)
    text: TextOptions = Field(default_factory=TextOptions)

    @model_validator(mode="after")
    def _default_input_col(self) -> DataConfig:
        if not self.input_col:
            default = {"smiles": "smiles", "protein": "sequence", "dna": "sequence",
                       "text": "text"}[self.modality]
            object.__setattr__(self, "input_col", default)
        return self

    @field_validator("target_cols", mode="before")
    @classmethod
    def _split_commas(cls, v: object) -> object:
        if isinstance(v, str):
            return [c.strip() for c in v.split(",") if c.strip()]
        return v


class SplitConfig(_Strict):
    """How rows are split into train / val / test."""

    method: SplitMethod = "scaffold"
    """``random``, ``stratified`` (classification), ``scaffold`` (balanced Bemis-Murcko, smiles),
    ``similarity`` (sequence clusters never straddle splits), ``predefined`` (a column). When not
    given, the field's default for the modality: ``scaffold`` for SMILES, ``similarity`` for
    protein / DNA, ``stratified`` for text (random for regression targets)."""
    column: str = "split"
    """For ``predefined``: column whose values are train / val (or valid, dev) / test."""
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    n_folds: int | None = None
    """k-fold variant: test = fold ``fold`` of ``n_folds``; val is carved from the rest."""
    fold: int = 0
    similarity_threshold: float = 0.9
    """For ``similarity``: sequences whose k-mer Jaccard similarity reaches this are grouped."""

    @field_validator("sizes")
    @classmethod
    def _sizes_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s < 0 for s in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] <= 0:
            raise ValueError("sizes must be three non-negative fractions (train>0) summing to 1")
        return v

    @model_validator(mode="after")
    def _fold_in_range(self) -> SplitConfig:
        if self.n_folds is not None:
            if self.n_folds < 2:
                raise ValueError("n_folds must be at least 2")
            if not 0 <= self.fold < self.n_folds:
                raise ValueError(f"fold must be in 0..{self.n_folds - 1}")
        return self


class ModelConfig(_Strict):
    """Which model family and, for the transformer, which backbone."""

    family: Family = "both"
    """``transformer``, ``lightgbm``, ``both`` (lightgbm + transformer), or one feature-based
    family: ``xgboost``, ``rf``, ``extratrees``, ``linear``, ``knn``, ``svm`` (see ``automl``)."""
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
    class_weight: Literal["none", "balanced"] = "none"
    """Weight classes inversely to frequency in the loss (transformer) / objective (LightGBM)."""
    dropout: float = 0.1


def _check_features(name: str) -> str:
    """A feature-set name: ``auto`` or atoms joined by '+' (``scifm.featurizers.sets``)."""
    from scifm.featurizers.sets import check_feature_name

    try:
        return check_feature_name(name)
    except Exception as err:  # ConfigError -> the ValueError pydantic reports
        raise ValueError(str(err)) from None


class LightGBMConfig(_Strict):
    """The LightGBM baseline and its features."""

    features: str = "auto"
    """``auto``: ecfp+rdkit2d for smiles, k-mer spectra for sequences, TF-IDF for text; or any
    feature set of ``scifm.featurizers.sets`` (``ecfp``, ``ecfp6+maccs``, ``kmer3+protdesc``...)."""
    n_estimators: int = 2000
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 10
    colsample_bytree: float = 0.5
    subsample: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 100
    n_jobs: int = 0
    """Threads; 0 = all cores."""

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: str) -> str:
        return _check_features(v)


class TuneConfig(_Strict):
    """Hyper-parameter search of one family (``scifm tune``; Optuna TPE + pruning)."""

    family: str = "lightgbm"
    """Family to tune: ``lightgbm`` or a feature-based family (``xgboost``, ``rf``, ...)."""
    n_trials: int | None = 20
    """Trials to run in this call (None: until ``time_budget``)."""
    time_budget: float | None = None
    """Stop starting new trials after this many seconds (None: no limit)."""
    folds: int = 5
    """Cross-validation folds on train+val (split strategy of the run; test never used)."""
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

    families: list[str] | None = None
    """Families to search; None: every tunable family (``lightgbm``, ``xgboost``, ``rf``,
    ``extratrees``, ``linear``, ``knn``, ``svm``). The transformer is not searched by ``auto``."""
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

    @field_validator("families", mode="before")
    @classmethod
    def _split_commas(cls, v: object) -> object:
        if isinstance(v, str):
            return [c.strip() for c in v.split(",") if c.strip()]
        return v

    @model_validator(mode="after")
    def _positive(self) -> AutoConfig:
        if self.top_k < 1 or self.ensemble_rounds < 1:
            raise ValueError("top_k and ensemble_rounds must be >= 1")
        return self


class AutoMLConfig(_Strict):
    """Feature-based families (``xgboost``, ``rf``, ``extratrees``, ``linear``, ``knn``, ``svm``)
    and hyper-parameter tuning."""

    features: str = "auto"
    """Feature set: ``auto`` or atoms joined by '+' (``ecfp6``, ``ecfp+maccs``, ``maccs+rdkit2d``,
    ``kmer3+protdesc``, ``tfidf``; see ``scifm.featurizers.sets``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameters of the family, overriding its defaults
    (``scifm.models.estimators.DEFAULT_PARAMS``)."""
    n_jobs: int = 0
    """Threads; 0 = all cores."""
    tune: TuneConfig = Field(default_factory=TuneConfig)
    auto: AutoConfig = Field(default_factory=AutoConfig)

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: str) -> str:
        return _check_features(v)


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
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    lightgbm: LightGBMConfig = Field(default_factory=LightGBMConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    peft: PeftConfig = Field(default_factory=PeftConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    automl: AutoMLConfig = Field(default_factory=AutoMLConfig)

    @model_validator(mode="after")
    def _split_default_for_modality(self) -> ExperimentConfig:
        """An unset ``split.method`` follows the modality (scaffold only makes sense for SMILES)."""
        if "method" not in self.split.model_fields_set and self.data.modality != "smiles":
            method = "stratified" if self.data.modality == "text" else "similarity"
            object.__setattr__(self.split, "method", method)
        return self
