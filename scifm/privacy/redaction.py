"""Redact PII from text before anything is trained, logged, tracked or reported.

:class:`Redactor` finds PII with Presidio's analyzer (offline recognizers only:
:mod:`scifm.privacy.recognizers`) and replaces every span by its type in angle brackets::

    >>> Redactor().redact_texts(["Seen by Dr. Okafor on 03/14/2021, call 617-555-0199."]).texts
    ... # doctest: +SKIP
    ['Seen by Dr. <PERSON> on <DATE_TIME>, call <PHONE_NUMBER>.']

No NLP model is needed: without one, person and place names are found only from their context
(a title, a label, a credential, an address); ``ner_model`` adds an installed spaCy pipeline's
entities on top. Nothing is downloaded, and nothing here logs a piece of the text: log lines and
summaries carry counts per entity type only. The result is deterministic.

:func:`redact_frame` is the step a training recipe runs right after reading its table when the
config says ``privacy.redact: true``. Presidio is the ``privacy`` extra (:func:`require_privacy`).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import regex

from scifm.data.io import require_columns
from scifm.errors import ConfigError
from scifm.privacy.recognizers import (
    ENTITIES,
    NER_ENTITIES,
    build_recognizers,
    name_lists_installed,
)
from scifm.utils.extras import require_extra

__all__ = ["NAME_LIST_NOTE", "NO_NER_NOTE", "RedactionResult", "Redactor", "format_counts",
           "redact_columns", "redact_frame", "require_privacy"]

logger = logging.getLogger(__name__)

NO_NER_NOTE = ("names: no offline NER model; person and place names are found from context "
               "only (titles, labels, credentials, addresses), bare names in running text are not")
"""What a summary says about names when no ``ner_model`` is given and Faker is not installed."""
NAME_LIST_NOTE = ("names: no offline NER model; person names are found from context (titles, "
                  "labels, credentials) and, in running text, from Faker's first/last-name "
                  "lists (a name in no list is missed); places from context only")
"""What a summary says about names when no ``ner_model`` is given and Faker's lists are used."""
_PRESIDIO_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")


def require_privacy(feature: str) -> None:
    """Refuse ``feature`` in one line unless the ``privacy`` extra (Presidio) is installed.

    Raises
    ------
    ConfigError
        ``<feature> needs ... which is not installed: pip install -c constraints.txt -e
        ".[privacy]" ...``.
    """
    require_extra("presidio_analyzer", "privacy", feature)
    require_extra("presidio_anonymizer", "privacy", feature)


@dataclass
class RedactionResult:
    """Redacted texts and what was redacted."""

    texts: list[str]
    """The input texts, each PII span replaced by ``<ENTITY_TYPE>``; in input order."""
    counts: Counter = field(default_factory=Counter)
    """Entity type -> number of spans replaced, over all texts."""


class Redactor:
    """Find and replace PII in texts (Presidio analyzer + anonymizer, offline).

    Parameters
    ----------
    entities
        Entity types to redact, out of :data:`scifm.privacy.recognizers.ENTITIES` (default all).
    score_threshold
        Spans Presidio scores below this are kept (its scores run from 0 to 1; the default keeps
        recall high: a wrongly redacted word costs less than a leaked name).
    ner_model
        Name or folder of an installed spaCy pipeline whose ``PERSON`` / ``LOCATION`` (``GPE``,
        ``LOC``, ``FAC``) entities are redacted as well; ``None``: context patterns only.
    """

    def __init__(self, entities: Sequence[str] | None = None, score_threshold: float = 0.3,
                 ner_model: str | None = None) -> None:
        self.entities = entities
        self.score_threshold = score_threshold
        self.ner_model = ner_model
        self._engines: tuple[Any, Any] | None = None

    @property
    def entities_(self) -> tuple[str, ...]:
        """The validated entity types (all of them when ``entities`` is ``None``)."""
        chosen = tuple(ENTITIES if self.entities is None else self.entities)
        unknown = [e for e in chosen if e not in ENTITIES]
        if unknown or not chosen:
            raise ConfigError(f"unknown PII entity type(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(ENTITIES)}" if unknown else
                              "no PII entity type to redact: name at least one")
        return chosen

    @property
    def ner_note(self) -> str:
        """How names are found: the NER model, or :data:`NO_NER_NOTE`."""
        if self.ner_model:
            return f"names: spaCy model {self.ner_model} + context"
        return NAME_LIST_NOTE if name_lists_installed() else NO_NER_NOTE

    def load(self) -> Redactor:
        """Build the engines now (a missing extra, an unknown entity type or a missing
        ``ner_model`` is refused here, before any data are read); returns ``self``."""
        self._build()
        return self

    def _build(self) -> tuple[Any, Any]:
        """Presidio's analyzer (our recognizers, no-op or spaCy NLP engine) and anonymizer."""
        if self._engines is not None:
            return self._engines
        require_privacy("PII redaction")
        for name in _PRESIDIO_LOGGERS:  # their INFO lines are noise ("Loaded recognizer ...")
            logging.getLogger(name).setLevel(logging.WARNING)
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine

        entities = self.entities_
        registry = RecognizerRegistry(recognizers=build_recognizers(entities),
                                      supported_languages=["en"])
        nlp_engine = _nlp_engine(self.ner_model)
        if self.ner_model and any(e in entities for e in NER_ENTITIES):
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            registry.add_recognizer(SpacyRecognizer(
                supported_entities=[e for e in NER_ENTITIES if e in entities]))
        analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine,
                                  supported_languages=["en"],
                                  default_score_threshold=self.score_threshold)
        self._engines = (analyzer, AnonymizerEngine())
        return self._engines

    def _analyze(self, text: str) -> list:
        """Presidio ``RecognizerResult`` s of ``text``: repeats of found names added, a span
        that is a more confident one of another type + a credential dropped."""
        analyzer, _ = self._build()
        found = analyzer.analyze(text=text, language="en", entities=list(self.entities_))
        return _prefer_confident(text, found + _repeated_names(text, found))

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, entity_type)`` of every PII span found in ``text`` (may overlap)."""
        if not text or not text.strip():
            return []
        return sorted((r.start, r.end, r.entity_type) for r in self._analyze(text))

    def redact(self, text: str) -> tuple[str, Counter]:
        """One text with its PII replaced, and the number of spans replaced per entity type."""
        if not text or not text.strip():
            return text, Counter()
        found = self._analyze(text)
        if not found:
            return text, Counter()
        from presidio_anonymizer.entities import OperatorConfig

        operators = {e: OperatorConfig("replace", {"new_value": f"<{e}>"})
                     for e in self.entities_}
        out = self._build()[1].anonymize(text=text, analyzer_results=found, operators=operators)
        return out.text, Counter(item.entity_type for item in out.items)

    def redact_texts(self, texts: Iterable[str]) -> RedactionResult:
        """Every text redacted (:meth:`redact`), in order, with the counts summed."""
        result = RedactionResult(texts=[])
        for text in texts:
            redacted, counts = self.redact(text)
            result.texts.append(redacted)
            result.counts.update(counts)
        return result


def _nlp_engine(ner_model: str | None) -> Any:
    """Presidio's no-op engine (no model at all), or a spaCy engine for an installed model."""
    if not ner_model:
        from presidio_analyzer.nlp_engine import NoOpNlpEngine

        return NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    import spacy.util

    if not (spacy.util.is_package(ner_model) or Path(ner_model).is_dir()):
        raise ConfigError(f"privacy ner_model {ner_model!r} is not an installed spaCy pipeline "
                          "or a folder holding one (scifm never downloads a model)")
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": ner_model}])
    engine.load()
    return engine


def _prefer_confident(text: str, found: list) -> list:
    """Drop a span that is a more confident span of another type plus a few letters (``Chen,
    MD`` is a name with a credential, not a city in Maryland); Presidio would keep the longer one
    whatever its score. Only a rest of at most 6 characters without a digit is given up."""
    def outranked(r: Any) -> bool:
        for o in found:
            rest = text[r.start:o.start] + text[o.end:r.end]
            if (o.entity_type != r.entity_type and o.score > r.score and r.contains(o)
                    and len(rest) <= 6 and not regex.search(r"\d", rest)):
                return True
        return False

    return [r for r in found if not outranked(r)]


def _repeated_names(text: str, found: list) -> list:
    """Every other whole-word occurrence of a found name's parts (``Mr. Lee ... Lee said``)."""
    from presidio_analyzer import RecognizerResult

    parts = {part for r in found if r.entity_type == "PERSON"
             for part in regex.findall(r"\p{Lu}[\w'-]{2,}", text[r.start:r.end])}
    taken = {(r.start, r.end) for r in found}
    extra = []
    for part in sorted(parts):
        for match in regex.finditer(rf"(?<![\w-]){regex.escape(part)}(?![\w-])", text):
            if match.span() not in taken:
                extra.append(RecognizerResult("PERSON", match.start(), match.end(), 0.5))
    return extra


def _section(cfg: Any) -> tuple[bool, list[str] | None, str | None]:
    """``(redact, entities, ner_model)`` of a config, its ``privacy`` section or a mapping."""
    section = getattr(cfg, "privacy", cfg)
    if isinstance(section, Mapping):
        get = section.get
    else:
        def get(key: str, default: Any = None) -> Any:
            return getattr(section, key, default)
    return bool(get("redact", False)), get("entities", None) or None, get("ner_model", None)


def redact_frame(frame: pd.DataFrame, columns: Sequence[str],
                 cfg: Any) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """Redact the text columns of a freshly read table when the config asks for it.

    Parameters
    ----------
    frame
        The table as read (:func:`scifm.data.io.read_table`); not modified.
    columns
        The text columns to redact (the data's input columns).
    cfg
        The experiment config (its ``privacy`` section is read), the section itself, or a mapping
        ``{"redact": bool, "entities": [...] | None, "ner_model": str | None}``.

    Returns
    -------
    frame
        A copy with every PII span of ``columns`` replaced by ``<ENTITY_TYPE>`` (missing cells
        stay missing, other columns untouched); ``frame`` itself when redaction is off.
    counts
        Entity type -> spans replaced (for ``data_report.json``); ``None`` when redaction is off.

    Raises
    ------
    ConfigError
        The ``privacy`` extra is not installed, or an unknown entity type.
    DataError
        A column is missing.
    """
    redact, entities, ner_model = _section(cfg)
    if not redact:
        return frame, None
    require_privacy("privacy.redact: true")
    require_columns(frame, columns)
    redactor = _loaded(tuple(entities) if entities else None, ner_model)
    out, counts = redact_columns(frame, columns, redactor)
    logger.info("privacy: redacted %d PII spans in %s (%s); %s", sum(counts.values()),
                ", ".join(columns), format_counts(counts), redactor.ner_note)
    return out, counts


@functools.lru_cache(maxsize=4)
def _loaded(entities: tuple[str, ...] | None, ner_model: str | None) -> Redactor:
    """One loaded redactor per setting and process (``predict`` redacts chunk by chunk)."""
    return Redactor(entities=entities, ner_model=ner_model).load()


def model_redaction(cfg: Any) -> dict[str, Any] | None:
    """What a model's ``scifm.json`` records of a run's redaction (``{"redact": true,
    "entities", "ner_model"}``), so that ``predict`` / ``evaluate`` / ``serve`` / ``screen``
    redact new inputs the same way; None when the run did not redact."""
    redact, entities, ner_model = _section(cfg)
    return {"redact": True, "entities": entities, "ner_model": ner_model} if redact else None


def redact_inputs(frame: pd.DataFrame, columns: Sequence[str],
                  meta: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with the text ``columns`` redacted as the model's run redacted its training
    data (``meta``: the model's ``scifm.json``); ``frame`` itself for a run that did not."""
    settings = meta.get("redaction")
    return redact_frame(frame, columns, settings)[0] if settings else frame


def redact_columns(frame: pd.DataFrame, columns: Sequence[str],
                   redactor: Redactor) -> tuple[pd.DataFrame, dict[str, int]]:
    """A copy of ``frame`` with the text cells of ``columns`` redacted, and the counts per
    entity type (sorted by type). Cells that are not strings (missing, numbers) are kept."""
    out, counts = frame.copy(), Counter()
    for col in columns:
        cells = out[col].map(lambda v: isinstance(v, str)).astype(bool)
        result = redactor.redact_texts(out.loc[cells, col].tolist())
        out.loc[cells, col] = result.texts
        counts.update(result.counts)
    return out, dict(sorted(counts.items()))


def format_counts(counts: Mapping[str, int]) -> str:
    """``DATE_TIME 3, PERSON 2`` (sorted by type), or ``none``: safe to log, counts only."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
