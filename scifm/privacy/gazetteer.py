"""Bare person names in running text, found with name lists (a gazetteer), not a model.

No NER model can be installed offline here (spaCy's, Flair's and Stanza's pipelines all download
their weights), so a name with no cue around it (``accompanied by Olga Kowalski``) escapes the
context patterns of :mod:`scifm.privacy.recognizers`. :class:`NameListRecognizer` finds such
names from the first- and last-name lists that Faker ships for its ~80 locales (about 21,000
first and 18,000 last names in Latin script; Faker is part of the ``privacy`` extra, MIT):

* a capitalised first name from the list, an optional middle initial, then a capitalised
  surname-shaped word (``McAllister``, ``O'Brien``, ``Lopez-Garcia``);
* score :data:`BOTH_LISTED` when the surname is in the last-name list too, :data:`FIRST_LISTED`
  when only the first name is (a rarer surname), so both pass the redactor's default threshold;
* a pair is refused when the second word is an institution, street or date word
  (``Mercy General Hospital``, ``Grace Street``: places, found by the ``LOCATION`` patterns),
  or a place word that the lists do not hold as a surname (``Grace Park`` is kept: Park is
  one), or when the first word is a clinical term that happens to be a name (:data:`NOT_FIRST`).

The lists make recall depend on coverage: a first name that is in no list is still missed, and a
name that is also a common word (``Grace``, ``Faith``) followed by a capitalised word is
redacted. ``bench/pii_recall.py`` measures both on its generated notes.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult

__all__ = ["BOTH_LISTED", "FIRST_LISTED", "NOT_FIRST", "NameListRecognizer", "name_lists"]

BOTH_LISTED = 0.85
"""Score of a pair whose first and last names are both listed."""
FIRST_LISTED = 0.5
"""Score of a pair whose first name is listed and whose surname only has the shape of one."""
NOT_FIRST: frozenset[str] = frozenset({
    "Doctor", "General", "Saint", "Mercy", "Normal", "Patient", "Clear", "Major", "Chief", "Will",
    "May", "June", "April", "August", "Hope", "Page", "Ward", "Bill", "Mark", "Art"})
"""Listed first names that are far more often a word in clinical notes (``Will Follow``)."""
_PLACE_WORDS: frozenset[str] = frozenset({
    "Hospital", "Medical", "Center", "Centre", "Clinic", "Health", "Healthcare", "Community",
    "General", "Memorial", "Regional", "University", "College", "School", "Institute",
    "Foundation", "Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "County",
    "City", "Syndrome", "Disease", "Sign", "Test", "Scale", "Score", "Criteria", "Unit",
    "Department", "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday"})
"""Second words that make a pair a place, a term or a date, even where a list has them as a
surname (Faker's lists hold ``Street`` and ``General``)."""
_PLACE_SURNAMES: frozenset[str] = frozenset({
    "Lane", "Drive", "Court", "Way", "Place", "Valley", "Lake", "Park", "Hill"})
"""Place words that are also common surnames: a pair ends in one only when the list has it."""
_PAIR = regex.compile(
    r"(?<![\p{L}\p{N}'’-])(\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?)"  # first name
    r"(?:\s\p{Lu}\.)?\s"  # middle initial
    r"(\p{Lu}(?:\p{Ll}*['’]?\p{Lu})?\p{Ll}+(?:-\p{Lu}\p{Ll}+)?)(?![\p{L}\p{N}'’-])")
_LATIN_NAME = regex.compile(r"[\p{Latin}'’-]+")


def _listed(provider: Any, attrs: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for attr in attrs:
        value = getattr(provider, attr, None)
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            names.update(str(v) for v in value)
    return {n for n in names if _LATIN_NAME.fullmatch(n)}


@functools.cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """``(first names, last names)`` in Latin script from every Faker person locale (cached).

    Raises
    ------
    ImportError
        Faker is not installed.
    """
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"),
                           "Provider", None)
        if provider is None:
            continue
        first |= _listed(provider, ("first_names", "first_names_male", "first_names_female",
                                    "first_names_nonbinary", "first_romanized_names"))
        last |= _listed(provider, ("last_names", "last_romanized_names"))
    return frozenset(first - NOT_FIRST), frozenset(last)


class NameListRecognizer(EntityRecognizer):
    """Presidio recognizer of ``PERSON`` names from :func:`name_lists` (module docstring)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="scifm name lists",
                         supported_language="en")

    def load(self) -> None:
        self.first, self.last = name_lists()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list:
        found = []
        for match in _PAIR.finditer(text, overlapped=True):
            first, last = match.group(1), match.group(2)
            if (first not in self.first or last in _PLACE_WORDS
                    or (last in _PLACE_SURNAMES and last not in self.last)):
                continue
            score = BOTH_LISTED if last in self.last else FIRST_LISTED
            found.append(RecognizerResult("PERSON", match.start(), match.end(), score))
        return found
