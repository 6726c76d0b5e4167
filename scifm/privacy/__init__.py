"""PII redaction for text (the ``privacy`` extra: Presidio, offline recognizers only).

:class:`Redactor` replaces each PII span by ``<ENTITY_TYPE>``; :func:`redact_frame` is the step a
training recipe runs on its freshly read table under ``privacy.redact: true``; ``scifm redact``
(:mod:`scifm.recipes.redact`) redacts a file. Presidio is imported only when text is redacted.
"""

from scifm.privacy.recognizers import ENTITIES
from scifm.privacy.redaction import (
    NAME_LIST_NOTE,
    NO_NER_NOTE,
    RedactionResult,
    Redactor,
    format_counts,
    redact_columns,
    redact_frame,
    require_privacy,
)

__all__ = ["ENTITIES", "NAME_LIST_NOTE", "NO_NER_NOTE", "RedactionResult", "Redactor",
           "format_counts", "redact_columns", "redact_frame", "require_privacy"]
