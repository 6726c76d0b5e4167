"""Bare person names from Faker's name lists: found in running text, places and words left."""

from __future__ import annotations

import pytest

from scifm.privacy import NAME_LIST_NOTE, NO_NER_NOTE
from scifm.utils.extras import missing

pytestmark = pytest.mark.skipif(
    missing("presidio_analyzer") or missing("faker"),
    reason="the privacy extra is not installed: pip install -c constraints.txt -e '.[privacy]'")


@pytest.fixture(scope="module")
def recognizer():
    from scifm.privacy.gazetteer import NameListRecognizer

    return NameListRecognizer()


def found(recognizer, text: str) -> list[tuple[str, float]]:
    return [(text[r.start:r.end], r.score) for r in recognizer.analyze(text, ["PERSON"])]


def test_the_lists_hold_common_names_in_latin_script_only():
    from scifm.privacy.gazetteer import NOT_FIRST, name_lists

    first, last = name_lists()
    assert {"Olga", "Kwame", "Hiroshi", "Tomás"} <= first and {"Nguyen", "Okafor"} <= last
    assert len(first) > 5000 and len(last) > 5000
    assert not first & NOT_FIRST
    # every name, not a slice of the set: its order changes with the hash seed
    assert all(n.replace("'", "").replace("’", "").replace("-", "").isalpha()
               for n in first | last)


def test_a_bare_name_in_running_text_is_found_with_its_score(recognizer):
    from scifm.privacy.gazetteer import BOTH_LISTED, FIRST_LISTED

    text = "Collateral history was given by Olga Nguyen. Accompanied by Kwame McZorvath today."
    assert found(recognizer, text) == [("Olga Nguyen", BOTH_LISTED),
                                       ("Kwame McZorvath", FIRST_LISTED)]
    assert found(recognizer, "Seen with Maria J. O'Brien.") == [("Maria J. O'Brien", BOTH_LISTED)]


@pytest.mark.parametrize("text", [
    "Transferred from Mercy General Hospital.", "Lives on Grace Street.",
    "Will Follow up in 3 months.", "Seen in June Clinic notes.", "Oluwaseun Okafor arrived.",
    "olga nguyen in lower case", "Metformin Nguyen is no name"])
def test_places_words_and_unlisted_first_names_are_not_names(recognizer, text):
    assert found(recognizer, text) == []


def test_the_redactor_uses_the_lists_and_says_so():
    from scifm.privacy import Redactor

    redactor = Redactor()
    text = "Her friend Olga Nguyen drove her home. BP 128/82."
    assert redactor.redact(text)[0] == "Her friend <PERSON> drove her home. BP 128/82."
    assert redactor.ner_note == NAME_LIST_NOTE != NO_NER_NOTE
    only_dates = Redactor(entities=["DATE_TIME"])
    assert only_dates.redact(text)[0] == text
