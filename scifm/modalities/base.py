"""What an input modality is: one :class:`ModalitySpec`, registered once by name.

Everything scifm does differently per modality is asked of its spec, never decided by comparing
the modality's name: validation and canonicalisation, the default input column(s) and split,
the split groups (shared by splitting and, through the same similarity, by the leakage audit),
the default features of single models and of ``scifm auto``, which feature atoms apply, the
tokenizer, pretraining corpus lines and the masking span. A new modality (a table, SMILES +
numeric conditions, ...) is one ``MODALITIES.register(ModalitySpec(...))`` plus its featurizers;
see ``tests/integration/test_modality_plugin.py`` for a plug-in written in a test file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import InvalidInput, Value
from scifm.errors import ConfigError

if TYPE_CHECKING:  # annotations only
    from tokenizers import Tokenizer

    from scifm.config.schema import DataConfig, ModelConfig

__all__ = ["MODALITIES", "GroupFn", "ModalitySpec", "NNSimilarity", "NativeCode", "get_modality",
           "over_limit", "parse_number_or_text"]

GroupFn = Callable[[Sequence[str], int, float], np.ndarray]
"""``groups(primary_inputs, seed, similarity_threshold) -> group id per input``: inputs with
equal ids are kept on the same side of a group-aware split."""


@dataclass(frozen=True)
class NNSimilarity:
    """How the leakage audit measures the similarity of a test input to its nearest train one."""

    fn: Callable[[Sequence[str], Sequence[str]], np.ndarray]
    """``fn(query, reference) -> similarity in [0, 1]`` of each query to its nearest reference
    (primary input strings)."""
    metric: str
    """Description written to ``leakage.json`` (``"ECFP4 ... Tanimoto, test -> nearest train"``)."""
    name: str
    """Short name used in warnings (``"Tanimoto"``, ``"3-mer Jaccard"``)."""
    items: str
    """What the inputs are, plural (``"molecules"``, ``"sequences"``)."""


@dataclass(frozen=True)
class NativeCode:
    """A native library a validator calls that may crash the process on a hostile input.

    A modality that names one is validated in worker processes
    (:mod:`scifm.data.contained`): a crash rejects only the input that caused it, with the
    reason ``crashed the parser (<name>): ...``.
    """

    name: str
    """The library in messages (``"RDKit"``)."""
    modules: tuple[str, ...] = ()
    """Modules the worker processes import once, up front (``"rdkit.Chem"``), so starting one
    costs milliseconds."""


def over_limit(size: int, limit: int | None, unit: str, key: str) -> None:
    """Reject an input whose ``size`` exceeds the configured ``limit`` (``None``: no limit).

    Raises
    ------
    InvalidInput
        ``too long: 20,000 characters > data.smiles.max_chars=2,000`` (the reason's category is
        ``too long``; ``unit`` is plural, ``key`` the config key).
    """
    if limit is not None and size > limit:
        raise InvalidInput(f"too long: {size:,} {unit} > {key}={limit:,}")


def parse_number_or_text(column: str, value: object) -> Value:
    """Default parser of a further input column: a number when it reads as one, else the
    stripped text; a blank or missing cell is an :class:`InvalidInput`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise InvalidInput(f"missing input: column {column!r} is empty")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text or text.lower() in ("nan", "na", "n/a", "null", "none"):
        raise InvalidInput(f"missing input: column {column!r} is empty")
    try:
        return float(text)
    except ValueError:
        return text


def _keep_line(line: str) -> str:
    return line


def _unsupported_tokenizer(corpus: Sequence[str], model_cfg: ModelConfig) -> Tokenizer:
    raise ConfigError("this modality has no tokenizer: choose a feature-based model family")


@dataclass(frozen=True)
class ModalitySpec:
    """An input modality: how its inputs are checked, split, featurized and tokenized.

    Only ``name``, ``validator`` and ``input_cols`` are required; every other field has a
    default that suits a modality without group-aware splits, similarity audit or tokenizer.
    """

    name: str
    """Short name: ``data.modality`` and ``model/scifm.json`` ``modality``."""
    validator: Callable[[DataConfig], Callable[[str], str]]
    """``validator(data_cfg)`` builds the check of the primary input: raw string -> canonical
    string, raising :class:`~scifm.data.datapoints.InvalidInput` with a one-line reason. Its
    first step rejects an input over the modality's size limits (:func:`over_limit`), so no
    parser or tokenizer ever sees an unbounded input. Must be picklable (a module-level
    function) when ``native`` is set."""
    input_cols: tuple[str, ...]
    """Default ``data.input_col``: the primary input column first, then any further ones."""
    label: str = ""
    """Human name in messages (``"SMILES"``, ``"DNA"``); default: ``name``."""
    parse_extra: Callable[[str, object], Value] = parse_number_or_text
    """``parse_extra(column, raw_cell) -> value`` of a further input column (raises
    :class:`~scifm.data.datapoints.InvalidInput`)."""
    check_record: Callable[[str, tuple[tuple[str, Value], ...]], None] | None = None
    """Optional check of a whole record (primary + further columns); raises
    :class:`~scifm.data.datapoints.InvalidInput` to reject it."""
    native: NativeCode | None = None
    """The native library the validator calls, when a hostile input could crash it (SMILES:
    RDKit): validation then runs in worker processes. None: validated in the calling process."""
    default_split: str = "random"
    """``split.method`` when the config does not set one."""
    groups: Mapping[str, GroupFn] = field(default_factory=dict)
    """Group-aware split methods this modality supports (``scaffold``, ``similarity``) and the
    group ids each uses (also for k-fold)."""
    fold_groups: Mapping[str, GroupFn] = field(default_factory=dict)
    """Group ids of a search's k-fold CV where they differ from the split's :attr:`groups`
    (SMILES: an acyclic molecule is a group of its own; see :meth:`split_groups`)."""
    nn_similarity: NNSimilarity | None = None
    """Nearest-neighbour similarity of the leakage audit (None: exact duplicates only)."""
    domain_similarity: NNSimilarity | None = None
    """Similarity of the applicability domain (:mod:`scifm.trust.domain`), when it differs from
    :attr:`nn_similarity` (text: TF-IDF cosine); see :meth:`similarity_to_train`."""
    default_features: str = "tfidf"
    """What ``model.features: auto`` means for single models."""
    family_features: Mapping[str, str] = field(default_factory=dict)
    """``family -> feature set`` where ``auto`` differs for that family (kNN on fingerprints)."""
    tune_features: tuple[str, ...] = ()
    """Feature sets searched by ``scifm tune`` / ``scifm auto`` (empty: not searched)."""
    tune_default_features: str | None = None
    """Feature set of the first (default) trial of a search; one of ``tune_features``."""
    tune_task_features: Mapping[str, str] = field(default_factory=dict)
    """``task type -> feature set`` of the first trial where it differs from
    :attr:`tune_default_features` (SMILES regression: ``rdkit2d``)."""
    feature_atoms: tuple[str, ...] = ()
    """Feature atoms (:mod:`scifm.featurizers.sets`) that apply to these inputs; ``embed:P``
    applies to every modality."""
    kmer_alphabet: tuple[str, int] | None = None
    """``(alphabet, k_max)`` of the ``kmer`` / ``kmerK`` features (None: no k-mer features)."""
    tokenizer: Callable[[Sequence[str], ModelConfig], Tokenizer] = _unsupported_tokenizer
    """``tokenizer(corpus, model_cfg)`` -> a Hugging Face ``tokenizers.Tokenizer`` (special
    tokens and post-processor are added by :func:`scifm.featurizers.tokenizers.build_tokenizer`);
    the corpus has been through :meth:`prepare`."""
    kmer_tokens: bool = False
    """``model.dna_kmer > 1`` splits inputs into overlapping k-mers before tokenization (and
    masks k-mer spans when pretraining)."""
    corpus_item: Callable[[str], str] = _keep_line
    """The item of one non-blank line of a plain-text pretraining corpus."""
    token_kind: str = "residue"
    """Token classification: ``ner`` (one tag per word) or ``residue`` (per character)."""
    options_section: str | None = None
    """The ``data`` sub-section holding this modality's input options (``data.smiles``,
    ``data.sequence``, ``data.text``): the report shows it and hides the other modalities'."""
    draws_molecules: bool = False
    """The primary inputs are molecules RDKit can parse: the report draws them and finds their
    nearest training molecules by Morgan-fingerprint Tanimoto similarity."""
    description: str = ""
    """One line for the docs and ``--help``."""

    def __post_init__(self) -> None:
        if not self.input_cols:
            raise ValueError(f"modality {self.name!r} needs at least one input column")
        if self.default_split not in (*self.groups, "random", "stratified"):
            raise ValueError(f"modality {self.name!r}: default_split {self.default_split!r} "
                             f"is not random, stratified or one of its groups")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def similarity_to_train(self) -> NNSimilarity | None:
        """The similarity of the applicability domain: :attr:`domain_similarity`, else
        :attr:`nn_similarity` (None: the modality has none)."""
        return self.domain_similarity or self.nn_similarity

    def features_for(self, family: str | None = None) -> str:
        """The feature set ``auto`` stands for (for ``family``, when it has its own)."""
        return self.family_features.get(family or "", self.default_features)

    def split_groups(self, method: str, inputs: Sequence[str], seed: int = 0,
                     threshold: float = 0.9, folds: bool = False) -> np.ndarray:
        """Group ids of ``inputs`` (primary strings) for the group-aware split ``method``
        (``folds``: for a search's k-fold CV, from :attr:`fold_groups` where it has ``method``).

        Raises
        ------
        ConfigError
            This modality does not support ``method``.
        """
        fn = self.groups.get(method)
        if fn is None:
            fits = [s.label for s in MODALITIES if method in s.groups]
            own = [*self.groups, "random"]
            raise ConfigError(f"split.method {method!r} needs {' or '.join(fits) or 'other'} "
                              f"inputs, not {self.name}; use {' or '.join(map(repr, own))}")
        return (self.fold_groups.get(method, fn) if folds else fn)(inputs, seed, threshold)

    def prepare(self, texts: Sequence[Any], dna_kmer: int = 1) -> list[str]:
        """Strings as the tokenizer expects them (overlapping k-mers where that applies)."""
        from scifm.featurizers.tokenizers import kmerize

        strings = [str(t) for t in texts]
        if self.kmer_tokens and dna_kmer > 1:
            return [kmerize(s, dna_kmer) for s in strings]
        return strings

    def mask_span(self, dna_kmer: int = 1) -> int:
        """Default masking span of pretraining (whole k-mers for k-mer tokens, else 1)."""
        return dna_kmer if self.kmer_tokens and dna_kmer > 1 else 1


def get_modality(name: str) -> ModalitySpec:
    """The registered spec of ``name`` (a one-line ConfigError listing the known ones)."""
    return MODALITIES.get(name)
