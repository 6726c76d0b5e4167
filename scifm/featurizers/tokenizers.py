"""Tokenizers for the transformer family, built with Hugging Face ``tokenizers``.

Every tokenizer is a :class:`~transformers.PreTrainedTokenizerFast` with the BERT special tokens
``[PAD] [UNK] [CLS] [SEP] [MASK]`` and a post-processor that wraps each input as
``[CLS] ... [SEP]``. It is saved next to the model (``tokenizer.json``), so a ``model/`` folder
alone reproduces the tokenisation.

Per modality
------------
Each modality's plug-in (:mod:`scifm.modalities`) picks one of the builders below in its
``tokenizer`` hook.

``smiles``
    Atom-level regex pre-tokenizer (Schwaller et al. 2019), word-level vocabulary trained on the
    corpus.
``protein``
    One token per residue, fixed vocabulary (20 amino acids + ``B Z X J U O``); no training.
``dna``
    ``dna_kmer == 1``: one token per nucleotide (``A C G T N`` + IUPAC letters), fixed vocabulary.
    ``dna_kmer = k > 1``: overlapping k-mers. Custom Python pre-tokenizers cannot be serialised
    into ``tokenizer.json``, so the k-mer split is done *before* the tokenizer by
    :func:`prepare_inputs` (``"ACGTA"`` -> ``"ACG CGT GTA"`` for k=3) and the tokenizer itself only
    splits on whitespace. ``dna_kmer`` is recorded in ``scifm.json`` so that prediction applies the
    same preparation; always pass inputs through :func:`prepare_inputs` first.
``text``
    BERT normaliser + BERT pre-tokenizer + WordPiece trained on the corpus.

When ``model_cfg.init`` points to a checkpoint, that checkpoint's own tokenizer is used instead
(:func:`build_tokenizer`).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from scifm.config.registry import MODALITIES
from scifm.config.schema import ModelConfig
from scifm.data.datapoints import Inputs, primary_strings
from scifm.errors import ConfigError, RunDirError
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.safeload import check_model_folder, load_tokenizer

logger = logging.getLogger(__name__)

SMILES_REGEX = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$"
    r"|\%[0-9]{2}|[0-9])"
)
"""Atom-level SMILES regex of Schwaller et al., *ACS Cent. Sci.* 2019 (Molecular Transformer)."""

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS: list[str] = [PAD, UNK, CLS, SEP, MASK]
"""BERT special tokens; their ids are 0..4 in every tokenizer built here."""

PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY" + "BZXJUO"
DNA_ALPHABET = "ACGTN" + "RYKMSWBDHV"
_MAX_ENUMERATED_KMER = 6
"""For k <= 6 every ACGT k-mer is in the vocabulary (4**6 = 4096), seen in the corpus or not."""


def kmerize(seq: str, k: int) -> str:
    """Space-joined overlapping k-mers of ``seq`` (a sequence shorter than k is kept whole).

    Examples
    --------
    >>> kmerize("ACGTA", 3)
    'ACG CGT GTA'
    """
    if k <= 1:
        return " ".join(seq)
    if len(seq) <= k:
        return seq
    return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))


def prepare_inputs(modality: str, texts: Inputs, dna_kmer: int = 1) -> list[str]:
    """Turn inputs into the strings the tokenizer expects.

    Only modalities with k-mer tokens (DNA) and ``dna_kmer > 1`` are changed (split into
    space-joined overlapping k-mers, see the module docstring); every other input is returned as
    is (datapoints as their primary input).

    Parameters
    ----------
    modality
        A registered modality (``smiles``, ``protein``, ``dna``, ``text``, ...).
    texts
        Inputs (datapoints or strings), length ``n``.
    dna_kmer
        k-mer size for DNA (1 = characters).

    Returns
    -------
    list[str]
        ``n`` strings ready for the tokenizer.
    """
    return MODALITIES.get(modality).prepare(primary_strings(texts), dna_kmer)


def _post_processor(vocab: dict[str, int]) -> TemplateProcessing:
    return TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])],
    )


def _fixed_vocab(tokens: Sequence[str]) -> dict[str, int]:
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for tok in tokens:
        vocab.setdefault(tok, len(vocab))
    return vocab


def _by_count(counts: Counter) -> list[str]:
    """Items by descending count, ties broken alphabetically (deterministic in every process;
    the Rust trainers of ``tokenizers`` break ties in hash order, which differs per process)."""
    return [item for item, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def smiles_tokenizer(corpus: Sequence[str]) -> Tokenizer:
    """Atom-level regex pre-tokenizer + word-level vocabulary of the corpus's atoms."""
    pre = pre_tokenizers.Split(Regex(SMILES_REGEX), behavior="isolated")
    counts = Counter(piece for smi in corpus for piece, _ in pre.pre_tokenize_str(smi))
    tok = Tokenizer(models.WordLevel(vocab=_fixed_vocab(_by_count(counts)), unk_token=UNK))
    tok.pre_tokenizer = pre
    return tok


def char_tokenizer(alphabet: str) -> Tokenizer:
    """One token per letter of a fixed alphabet (no training)."""
    tok = Tokenizer(models.WordLevel(vocab=_fixed_vocab(list(alphabet)), unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return tok


def kmer_tokenizer(corpus: Sequence[str], k: int) -> Tokenizer:
    """Whitespace-split k-mers: every ACGT k-mer (k <= 6) plus the corpus's other k-mers."""
    tokens: list[str] = []
    if k <= _MAX_ENUMERATED_KMER:
        tokens = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    # k-mers seen in the (already k-merised) corpus, e.g. those holding N, most frequent first
    counts = Counter(km for line in corpus for km in line.split())
    tokens += [km for km, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    tok = Tokenizer(models.WordLevel(vocab=_fixed_vocab(tokens), unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def text_tokenizer(corpus: Sequence[str], vocab_size: int) -> Tokenizer:
    """BERT normaliser + pre-tokenizer + a WordPiece vocabulary built deterministically.

    The vocabulary is every character (as a word start and as a ``##`` continuation), then the
    most frequent ``##`` suffixes of 2-4 characters (a tenth of the budget) and the most frequent
    whole words; unseen words split greedily into the longest known prefix plus pieces. Unlike
    ``trainers.WordPieceTrainer`` (ties broken in per-process hash order) this gives the same ids
    in every process, which reproducible runs and multi-process training need.
    """
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter = Counter()
    for text in corpus:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(str(text))))
    chars: Counter = Counter()
    suffixes: Counter = Counter()
    for word, n in words.items():
        for ch in word:
            chars[ch] += n
        for k in (2, 3, 4):
            if len(word) > k:
                suffixes["##" + word[-k:]] += n
    pieces = _by_count(chars)
    pieces += ["##" + ch for ch in pieces]
    budget = max(0, vocab_size - len(SPECIAL_TOKENS) - len(pieces))
    pieces += [s for s in _by_count(suffixes) if suffixes[s] > 1][: budget // 10]
    pieces += [w for w in _by_count(words) if len(w) > 1][: max(0, budget - budget // 10)]
    tok = Tokenizer(models.WordPiece(vocab=_fixed_vocab(pieces), unk_token=UNK))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    return tok


def build_tokenizer(
    modality: str, corpus: Sequence[str], model_cfg: ModelConfig
) -> PreTrainedTokenizerBase:
    """Build (and, where needed, train) the tokenizer for ``modality``.

    Parameters
    ----------
    modality
        A registered modality; its plug-in's ``tokenizer`` hook builds the vocabulary.
    corpus
        Training inputs, already passed through :func:`prepare_inputs`; used to learn the SMILES
        vocabulary, the text WordPiece vocabulary and DNA k-mers outside ``ACGT``.
    model_cfg
        ``init`` (use that checkpoint's tokenizer), ``max_length``, ``dna_kmer``,
        ``text_vocab_size``.

    Returns
    -------
    PreTrainedTokenizerBase
        A :class:`~transformers.PreTrainedTokenizerFast` (or, with ``init``, whatever tokenizer the
        checkpoint ships) whose ``model_max_length`` is ``model_cfg.max_length``.
    """
    if model_cfg.init is not None:
        return load_checkpoint_tokenizer(Path(model_cfg.init), model_cfg.max_length)
    tok = MODALITIES.get(modality).tokenizer(corpus, model_cfg)
    tok.post_processor = _post_processor(tok.get_vocab())
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK,
        pad_token=PAD,
        cls_token=CLS,
        sep_token=SEP,
        mask_token=MASK,
        model_max_length=model_cfg.max_length,
        model_input_names=["input_ids", "attention_mask"],
    )
    logger.info("built %s tokenizer with %d tokens", modality, len(wrapped))
    return wrapped


def load_checkpoint_tokenizer(path: Path, max_length: int) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a local Hugging Face checkpoint (or a scifm ``model/`` folder),
    once the folder passed :func:`~scifm.models.safeload.check_model_folder` (no pickle-based
    file, manifest intact).

    ``model_max_length`` is capped at ``max_length``. Raises :class:`~scifm.errors.ConfigError`
    when the folder holds no loadable tokenizer (one line naming the file).
    """
    path = Path(path).expanduser()
    check_model_folder(path)
    try:
        tok = load_tokenizer(path)
    except RunDirError as err:
        raise ConfigError(f"model.init: {err}") from None
    current = tok.model_max_length if tok.model_max_length < 10**6 else max_length
    tok.model_max_length = min(max_length, current)
    if tok.pad_token is None:
        raise ConfigError(f"model.init: the tokenizer in {path} has no padding token")
    return tok


def checkpoint_dna_kmer(path: Path) -> int | None:
    """``dna_kmer`` recorded in a scifm ``model/`` folder's ``scifm.json`` (None if absent).

    Raises
    ------
    RunDirError
        One line when the folder is damaged (:func:`~scifm.models.safeload.check_model_folder`).
    """
    path = Path(path).expanduser()
    check_model_folder(path)
    if not (path / MODEL_META).is_file():
        return None
    value = read_model_json(path / MODEL_META).get("dna_kmer")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        raise RunDirError(f"{path / MODEL_META}: dna_kmer {value!r} is not an integer") from None
