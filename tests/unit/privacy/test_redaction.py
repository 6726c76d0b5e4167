"""PII redaction: every planted PII string is gone, counts per type are right, clean text stays."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scifm.errors import ConfigError
from scifm.privacy import ENTITIES, Redactor, redact_frame, require_privacy
from scifm.utils.extras import missing

needs_presidio = pytest.mark.skipif(
    missing("presidio_analyzer") or missing("presidio_anonymizer"),
    reason="the privacy extra is not installed: pip install -c constraints.txt -e '.[privacy]'")

FIRST = ["Maria", "James", "Aisha", "Wei", "Olga", "Kwame", "Priya", "Liam", "Tomás", "Hannah"]
LAST = ["Gonzalez", "Okafor", "Novak", "Mensah", "Patel", "O'Brien", "Rossi", "McAllister",
        "Haddad", "Lindqvist"]
CARDS = ["4111 1111 1111 1111", "5500 0000 0000 0004", "3400 0000 0000 009"]
CLEAN = ["BP 128/82, HR 76, RR 16, T 37.1 C, SpO2 97% on room air.",
         "Metformin 500 mg PO BID; HbA1c 7.4%, LDL 112 mg/dL.",
         "No acute distress. Lungs clear to auscultation bilaterally. Pain 4/10."]


def planted_note(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A clinical-style note and its planted ``(value, entity_type)`` (one span each)."""
    patient, doctor = rng.sample(range(len(LAST)), 2)
    n = rng.randint(10**6, 10**7)
    pii = [
        (f"{FIRST[patient]} {LAST[patient]}", "PERSON"), (LAST[doctor], "PERSON"),
        (f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1940, 2010)}",
         "DATE_TIME"),
        (f"{n:08d}", "RECORD_ID"),
        (f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
         "PHONE_NUMBER"),
        (f"pt{n}@example.org", "EMAIL_ADDRESS"),
        (f"https://portal.example-health.org/chart/{n}", "URL"),
        (f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", "US_SSN"),
        (f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", "IP_ADDRESS"),
        (rng.choice(CARDS), "CREDIT_CARD"),
        (f"{rng.randint(1, 999)} Elm Street", "LOCATION"),
        (f"Boston, MA {rng.randint(10000, 99999)}", "LOCATION"),
    ]
    template = ("Patient: {} seen with Dr. {} today. DOB: {}. MRN: {}.\n" + CLEAN[0] +
                "\nCall {} or write to {} (portal {}). SSN {}. Login from {}. Card {} on file."
                "\n" + CLEAN[1] + " Lives at {}. Mail to {}.\n" + CLEAN[2])
    return template.format(*(v for v, _ in pii)), pii


@needs_presidio
def test_every_planted_pii_string_is_removed_and_counted():
    rng = random.Random(0)
    notes = [planted_note(rng) for _ in range(25)]
    result = Redactor().redact_texts(text for text, _ in notes)
    expected = Counter()
    for (_, pii), redacted in zip(notes, result.texts, strict=True):
        for value, entity in pii:
            assert value not in redacted, (entity, redacted)
            assert f"<{entity}>" in redacted
        expected.update(entity for _, entity in pii)
        assert all(clean in redacted for clean in CLEAN)  # nothing else touched
    assert result.counts == expected


@needs_presidio
def test_text_without_pii_is_unchanged_and_redaction_is_deterministic():
    redactor = Redactor()
    texts = CLEAN + ["", "   ", "Follow up in 3 months with repeat labs."]
    result = redactor.redact_texts(texts)
    assert result.texts == texts and not result.counts
    note, _ = planted_note(random.Random(1))
    assert redactor.redact(note) == Redactor().redact(note)


@needs_presidio
def test_repeated_name_and_credentialed_name_are_found():
    text = "Signed by Robert Chen, MD. Mr. Okafor was seen. Okafor reports less pain."
    redacted, counts = Redactor().redact(text)
    assert "Chen" not in redacted and "Okafor" not in redacted
    assert redacted.startswith("Signed by <PERSON>, MD.") and counts == {"PERSON": 3}


@needs_presidio
def test_only_the_chosen_entities_are_redacted():
    text = "Email jane@example.org or call 617-555-0199."
    redacted, counts = Redactor(entities=["EMAIL_ADDRESS"]).redact(text)
    assert redacted == "Email <EMAIL_ADDRESS> or call 617-555-0199."
    assert counts == {"EMAIL_ADDRESS": 1}
    with pytest.raises(ConfigError, match="unknown PII entity type.*NAME"):
        Redactor(entities=["NAME"]).load()
    with pytest.raises(ConfigError, match="not an installed spaCy pipeline"):
        Redactor(ner_model="no_such_spacy_model").load()


@needs_presidio
def test_redact_frame_redacts_only_the_text_columns_when_switched_on():
    note, pii = planted_note(random.Random(2))
    frame = pd.DataFrame({"note": [note, np.nan, "BP 120/80."], "y": ["1", "0", "1"],
                          "other": [pii[0][0], "x", "y"]})
    same, counts = redact_frame(frame, ["note"], SimpleNamespace(privacy=SimpleNamespace(
        redact=False, entities=None)))
    assert same is frame and counts is None
    out, counts = redact_frame(frame, ["note"], {"redact": True, "entities": None})
    assert all(value not in out.loc[0, "note"] for value, _ in pii)
    assert pd.isna(out.loc[1, "note"]) and out.loc[2, "note"] == "BP 120/80."
    assert out["other"].tolist() == frame["other"].tolist()  # not a text column: untouched
    assert frame.loc[0, "note"] == note  # the input frame is not modified
    assert counts == dict(sorted(Counter(e for _, e in pii).items()))
    _, some = redact_frame(frame, ["note"], SimpleNamespace(redact=True, entities=["US_SSN"]))
    assert some == {"US_SSN": 1}


def test_missing_extra_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setattr("scifm.utils.extras.missing", lambda module: module.startswith("presidio"))
    with pytest.raises(ConfigError) as err:
        require_privacy("scifm redact")
    msg = str(err.value)
    assert "\n" not in msg and "scifm redact" in msg
    assert "pip install -c constraints.txt -e \".[privacy]\"" in msg
    frame = pd.DataFrame({"note": ["x"]})
    with pytest.raises(ConfigError, match=r"privacy\.redact.*\[privacy\]"):
        redact_frame(frame, ["note"], {"redact": True})
    assert redact_frame(frame, ["note"], {"redact": False}) == (frame, None)
    assert "PERSON" in ENTITIES and "RECORD_ID" in ENTITIES


@needs_presidio
def test_an_installed_spacy_pipeline_folder_loads_offline(tmp_path):
    import spacy

    spacy.blank("en").to_disk(tmp_path / "blank_en")  # no NER component: patterns still work
    redactor = Redactor(ner_model=str(tmp_path / "blank_en"))
    redacted, counts = redactor.redact("Seen by Dr. Okafor, call 617-555-0199.")
    assert redacted == "Seen by <PERSON>, call <PHONE_NUMBER>."
    assert counts == {"PERSON": 1, "PHONE_NUMBER": 1} and "blank_en" in redactor.ner_note
