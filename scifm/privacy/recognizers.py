"""The recognizers scifm redacts with: Presidio's offline pattern recognizers + scifm's own.

Everything here runs offline and needs no NLP model. Presidio's own recognizers cover phone
numbers (``phonenumbers``, :data:`PHONE_REGIONS`), numeric dates, IP addresses, credit cards
(Luhn) and US SSNs; scifm adds what clinical text needs and Presidio leaves to an NER model or
does not have:

- ``EMAIL_ADDRESS``: Presidio's pattern without its ``tldextract`` check (that check downloads the
  public suffix list: a network call per process);
- ``URL``: ``http(s)://``, ``www.`` and bare domains with a common top-level domain (Presidio's
  pattern, which knows every top-level domain, takes most of the redaction time);
- ``PHONE_NUMBER``: North-American-style numbers whatever their area code (``phonenumbers`` keeps
  only numbers valid in a region);
- ``DATE_TIME``: dates with a month name (``March 3, 2021``, ``3 Mar 2021``, ``Mar 2021``);
- ``RECORD_ID``: medical record / account / accession / encounter numbers after their label, codes
  such as ``ACC-2023004512`` and runs of 7+ digits;
- ``US_SSN``: ``ddd-dd-dddd`` (Presidio's own refuses well-known made-up numbers);
- ``PERSON``: names after a title (``Dr.``, ``Mrs.``), after a label (``Patient:``, ``Signed
  by``, ``daughter``) or before a credential (``, MD``). These are context patterns, not a model:
  a bare name in running text is found by the name lists of :mod:`scifm.privacy.gazetteer`
  when Faker is installed (``bench/pii_recall.py`` measures how many are);
- ``LOCATION``: street addresses, ``City, ST 12345``, facility names (``... Hospital``) and places
  after ``lives in`` / ``born in``.

Name patterns are case-sensitive (a capital letter starts a name); the others ignore case.
"""

from __future__ import annotations

import regex

__all__ = ["ENTITIES", "NER_ENTITIES", "PHONE_REGIONS", "build_recognizers", "name_lists_installed"]

ENTITIES: tuple[str, ...] = ("EMAIL_ADDRESS", "PHONE_NUMBER", "URL", "DATE_TIME", "IP_ADDRESS",
                             "CREDIT_CARD", "US_SSN", "RECORD_ID", "PERSON", "LOCATION")
"""Every entity type :class:`scifm.privacy.Redactor` can redact (its default)."""
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION")
"""Entity types an NER model (when one is installed) adds to the context patterns."""

PHONE_REGIONS: tuple[str, ...] = ("US", "GB")
"""Regions ``phonenumbers`` checks local formats for (each one is a full pass over the text: it
takes most of the redaction time); ``+CC ...`` and North-American numbers are found anyway."""

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_NAME = r"\p{Lu}(?:\p{Ll}+|\p{Ll}*(?:['-]?\p{Lu}\p{Ll}+)+)(?:-\p{Lu}\p{Ll}+)?\b"  # McAllister
_FULL_NAME = rf"{_NAME}(?:\s[A-Z]\.)?(?:\s{_NAME}){{0,2}}"
_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
           "NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY")
_STREET = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|"
           r"Place|Pl|Terrace|Circle|Parkway|Pkwy|Highway|Hwy)\b\.?")
_PERSON_LABELS = ("Patient", "Pt", "Name", "Patient name", "Attending", "Physician", "Provider",
                  "Surgeon", "Nurse", "Seen by", "Signed by", "Referred by", "Dictated by",
                  "Electronically signed by", "Contact", "Emergency contact", "Guardian",
                  "Spouse", "Wife", "Husband", "Daughter", "Son", "Mother", "Father", "Sister",
                  "Brother", "Partner", "PCP", "cc")
_TITLES = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Sr|Fr)\.?"
_CREDENTIALS = r"(?:MD|M\.D\.|DO|RN|NP|PA-C|PA|PhD|MBBS|FACS|DDS|PharmD|LPN|CNA)\b"
_RECORD_LABELS = (r"(?:MRN|MR\s?#|Medical\s+Record(?:\s+(?:Number|No\.?))?|"
                  r"Record\s+(?:Number|No\.?|#)|Acct|Account(?:\s+(?:Number|No\.?))?|Accession(?:\s+(?:Number|No\.?))?|"
                  r"Encounter(?:\s+(?:ID|Number|No\.?))?|Patient\s+ID|Member\s+ID|Policy"
                  r"(?:\s+(?:Number|No\.?))?|Case\s+(?:Number|No\.?|ID)|Specimen\s+ID|"
                  r"Health\s+Plan(?:\s+ID)?|License(?:\s+(?:Number|No\.?))?)")

_TLDS = ("com|org|net|edu|gov|mil|int|info|biz|io|co|us|uk|ca|au|de|fr|nl|eu|health|med|"
         "care|clinic|hospital|app|dev|ai|me|tv")
_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE
_IGNORE_CASE = _CASE_SENSITIVE | regex.IGNORECASE

# entity -> (flags, [(name, regex, score)]): data, not code
_PATTERNS: dict[str, tuple[int, list[tuple[str, str, float]]]] = {
    "PHONE_NUMBER": (_IGNORE_CASE, [
        ("nanp phone", r"(?<![\w-])(?:\+?1[\s.-])?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?![\w-])",
         0.6),
        ("international phone", r"(?<![\w+])\+\d{1,3}(?:[\s.-]\(?\d{1,5}\)?){2,5}(?![\w-])",
         0.5),
        ("phone extension", r"(?<=\b(?:ext|extension|x)\.?\s?)\d{2,6}\b", 0.4),
    ]),
    "URL": (_IGNORE_CASE, [
        ("scheme or www", r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", 0.6),
        ("bare domain", rf"(?<![@\w.-])(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*"
         r"[^\s<>\"'.,;:!?)\]])?", 0.5),
    ]),
    "DATE_TIME": (_IGNORE_CASE, [
        ("month d, yyyy", rf"\b{_MONTH}\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}}\b", 0.7),
        ("d month yyyy", rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH},?\s\d{{4}}\b", 0.7),
        ("month yyyy", rf"\b{_MONTH}\s\d{{4}}\b", 0.5),
        ("dd-mon-yyyy", rf"\b\d{{1,2}}[-/]{_MONTH}[-/]\d{{2,4}}\b", 0.6),
        ("yyyymmdd", r"(?<=\b(?:DOB|D\.O\.B\.|born|date|admitted|discharged)\W{0,3})"
         r"(?:19|20)\d{6}\b", 0.6),
    ]),
    "US_SSN": (_IGNORE_CASE, [  # Presidio's own refuses well-known fake ones (123-45-6789)
        ("ssn", r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])", 0.5),
    ]),
    "RECORD_ID": (_IGNORE_CASE, [
        ("labelled record number", rf"(?<=\b{_RECORD_LABELS}\s?(?:#|:|no\.?|number)?\s?[:#]?"
         r"\s?)[A-Z]{0,4}[-/]?\d[\d-]{3,}[A-Z]?\b", 0.85),
        ("prefixed code", r"\b[A-Z]{2,5}-?\d{6,}\b", 0.5),
        ("long digit run", r"\b\d{7,}\b", 0.4),
    ]),
    "PERSON": (_CASE_SENSITIVE, [
        ("titled name", rf"(?<=\b{_TITLES}\s){_NAME}(?:\s{_NAME})?", 0.85),
        ("labelled name", rf"(?<=\b(?i:{'|'.join(_PERSON_LABELS)})\s?(?::|-|is|was)?\s)"
         rf"(?:{_TITLES}\s)?{_FULL_NAME}", 0.6),
        ("credentialed name", rf"\b{_FULL_NAME}(?=,?\s{_CREDENTIALS}(?!\s?\d))", 0.85),
        ("named", rf"(?<=\b(?:named|called|name\sis|signed:?)\s){_FULL_NAME}", 0.7),
    ]),
    "LOCATION": (_CASE_SENSITIVE, [
        ("street address", rf"\b\d{{1,5}}\s(?:[A-Z][a-z]+\.?\s){{1,3}}{_STREET}"
         rf"(?:,?\s(?:Apt|Suite|Unit|#)\.?\s?\w+)?", 0.8),
        ("city, state zip", rf"\b(?:[A-Z][a-z]+\s){{0,2}}[A-Z][a-z]+,\s(?:{_STATES})"
         r"\s\d{5}(?:-\d{4})?\b", 0.7),
        ("city, state", rf"\b(?:[A-Z][a-z]+\s){{0,2}}[A-Z][a-z]+,\s(?:{_STATES})\b(?!-)", 0.45),
        ("zip code", rf"(?<=\b(?:{_STATES})\s)\d{{5}}(?:-\d{{4}})?\b", 0.6),
        ("facility", r"\b(?:St\.?\s)?(?:[A-Z][a-z']+\s){1,3}(?:Hospital|Medical\sCenter|Clinic|"
         r"Health\sCenter|Nursing\sHome|Rehabilitation\sCenter|Hospice)\b", 0.6),
        ("placed", r"(?<=\b(?i:lives|living|resides|residing|born|moved|relocated|raised)\s(?:in|"
         rf"to|at|from)\s){_NAME}(?:\s{_NAME})?", 0.6),
    ]),
}


def _pattern_recognizer(entity: str, flags: int, patterns: list[tuple[str, str, float]]):
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(
        supported_entity=entity, name=f"scifm {entity.lower()}",
        patterns=[Pattern(name, rx, score) for name, rx, score in patterns],
        global_regex_flags=flags)


def _email_recognizer():
    """Presidio's e-mail pattern, without the ``tldextract`` check (no network)."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    return PatternRecognizer(supported_entity="EMAIL_ADDRESS", name="scifm email_address",
                             patterns=EmailRecognizer.PATTERNS, global_regex_flags=_IGNORE_CASE)


def build_recognizers(entities: tuple[str, ...] | list[str]) -> list:
    """The recognizers for ``entities`` (Presidio ``EntityRecognizer`` objects), all offline.

    Parameters
    ----------
    entities
        Entity types out of :data:`ENTITIES`.

    Returns
    -------
    list
        Presidio's pattern recognizers for the types it covers + scifm's own (module docstring).
    """
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    presidio = {"PHONE_NUMBER": lambda: PhoneRecognizer(supported_regions=PHONE_REGIONS),
                "DATE_TIME": DateRecognizer, "IP_ADDRESS": IpRecognizer,
                "CREDIT_CARD": CreditCardRecognizer, "US_SSN": UsSsnRecognizer}
    recognizers = [presidio[e]() for e in entities if e in presidio]
    if "EMAIL_ADDRESS" in entities:
        recognizers.append(_email_recognizer())
    recognizers += [_pattern_recognizer(e, *_PATTERNS[e]) for e in entities if e in _PATTERNS]
    if "PERSON" in entities and name_lists_installed():
        from scifm.privacy.gazetteer import NameListRecognizer

        recognizers.append(NameListRecognizer())
    return recognizers


def name_lists_installed() -> bool:
    """Whether Faker (its name lists: :mod:`scifm.privacy.gazetteer`) can be imported."""
    import importlib.util

    return importlib.util.find_spec("faker") is not None
