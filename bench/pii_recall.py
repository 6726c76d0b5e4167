"""Recall of ``scifm redact`` (issue 12): synthetic clinical notes with planted PII.

Generates 300 clinical-style notes (seeded; names, dates, phones, e-mails, MRNs / account /
accession numbers, URLs, SSNs, IP addresses, street addresses, cities, facilities, planted at
known character spans among PII-free clinical filler: vitals, doses, lab values, codes), redacts
them with :class:`scifm.privacy.Redactor` (default settings: offline recognizers, no NER model)
and prints, per planted entity type, as markdown:

- **recall** — planted spans entirely covered by redacted spans (of any type: nothing leaks);
- **typed** — covered by spans of the planted type;
- **precision** — per redacted type, redacted spans that overlap a planted span;

and a second table for person names by the context they were planted in (a title, a label, a
credential, a repeat of a found name, or bare running text with no cue: with a first name that
the gazetteer's name lists hold, and with one they do not). Nothing is downloaded.

Run from the project root: ``OMP_NUM_THREADS=1 python bench/pii_recall.py`` (about 10 s).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict

from scifm.privacy import Redactor
from scifm.privacy.recognizers import name_lists_installed

FIRST = ["Maria", "James", "Aisha", "Wei", "Olga", "Kwame", "Priya", "Liam", "Sofia", "Hiroshi",
         "Fatima", "Noah", "Elena", "Mateo", "Grace", "Dmitri", "Amara", "Lucas", "Yuki", "Omar",
         "Hannah", "Tomás", "Ingrid", "Ravi", "Chloe", "Samuel", "Leila", "Bjorn", "Nadia", "Ethan"]
LAST = ["Gonzalez", "Okafor", "Chen", "Novak", "Mensah", "Patel", "O'Brien", "Rossi", "Tanaka",
        "Haddad", "Schmidt", "Kowalski", "Nguyen", "Fernandes", "Abara", "Lindqvist", "Ivanova",
        "McAllister", "Dubois", "Sato", "Khan", "Moreau", "Hughes", "Silva", "Weber", "Park",
        "Adeyemi", "Larsen", "Costa", "Brennan"]
# First names in none of the name lists scifm's gazetteer reads (Faker 40.63's person locales):
# a bare name with one of them measures what the lists miss
RARE_FIRST = ["Oluwaseun", "Xochitl", "Bongani", "Eilidh", "Chidi", "Temitope", "Ikaika", "Sipho",
              "Lwazi", "Zanele", "Mbali", "Takoda", "Ayelen", "Yupanqui"]
CITIES = [("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Columbus", "OH"),
          ("Boston", "MA"), ("Baltimore", "MD"), ("Denver", "CO"), ("Madison", "WI"),
          ("Raleigh", "NC"), ("Tucson", "AZ"), ("Fresno", "CA"), ("Albany", "NY")]
STREETS = ["Elm Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Lakeview Road",
           "Washington Blvd", "Hillcrest Court", "River Road", "Sunset Way", "Pine St"]
FACILITIES = ["Mercy General Hospital", "Saint Luke Medical Center", "Riverside Clinic",
              "Lakeshore Community Hospital", "Valley Health Center"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
FILLER = ["BP 128/82, HR 76, RR 16, T 37.1 C, SpO2 97% on room air.",
          "Metformin 500 mg PO BID; lisinopril 10 mg daily.", "HbA1c 7.4%, LDL 112 mg/dL.",
          "ICD-10 E11.9, I10.", "No acute distress. Lungs clear to auscultation bilaterally.",
          "Plan: follow up in 3 months, repeat labs in 6 weeks.", "Pain 4/10, improved.",
          "Wound 2.5 x 1.0 cm, no erythema.", "WBC 7.2, Hgb 13.1, Plt 250.",
          # harder PII-free sentences (eponyms, departments, lot numbers): false positives
          "Seen by Cardiology; Patient Education given.", "History of Parkinson disease.",
          "Hodgkin lymphoma in remission per Oncology.", "Vaccine lot 4471932, exp 2027.",
          "Dose given at 14:30 on day 3, 1/2 tab.", "Follow up in March with Neurology."]


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1940, 2024), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{MONTHS[m - 1]} {d}, {y}",
                       f"{d} {MONTHS[m - 1][:3]} {y}", f"{m}/{d}/{str(y)[2:]}",
                       f"{MONTHS[m - 1]} {y}"])


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}",
                       f"+1 {a} {b} {c:04d}", f"+44 20 {b}{c % 10} {c:04d}"])


def _record(rng: random.Random) -> tuple[str, str]:
    """``(label, number)``: only the number is PII."""
    n = rng.randint(10**6, 10**8)
    return rng.choice([("MRN: ", f"{n:08d}"), ("MRN ", f"{n}"), ("Acct #: ", f"{n}"),
                       ("Accession No. ", f"ACC-{n}"), ("Encounter ID: ", f"E-{n}"),
                       ("Medical Record Number ", f"{n}")])


def _pii(rng: random.Random, first: str, last: str) -> dict:
    city, state = rng.choice(CITIES)
    user = f"{first.lower()}.{last.lower().replace(chr(39), '')}{rng.randint(1, 99)}"
    return {
        "DATE_TIME": _date(rng), "PHONE_NUMBER": _phone(rng), "RECORD_ID": _record(rng),
        "EMAIL_ADDRESS": f"{user}@{rng.choice(['example.org', 'mail.example.com', 'uni.edu'])}",
        "URL": rng.choice([f"https://portal.example-health.org/patient/{rng.randint(1, 99999)}",
                           f"www.example-clinic.com/records?id={rng.randint(1, 99999)}"]),
        "US_SSN": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "IP_ADDRESS": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "street": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
        "city": f"{city}, {state} {rng.randint(10000, 99999)}", "town": city,
        "facility": rng.choice(FACILITIES)}


def _note(rng: random.Random) -> tuple[str, list[tuple[int, int, str, str]]]:
    """One note and its planted spans ``(start, end, entity_type, context)``."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    doc, rel = rng.choice(LAST), (rng.choice(FIRST), rng.choice(LAST))
    p = _pii(rng, first, last)
    # pieces: plain text or (value, entity_type, context)
    pieces: list = [
        "Patient: ", (f"{first} {last}", "PERSON", "label"), "  DOB: ", (p["DATE_TIME"],
        "DATE_TIME", "label"), "  ", p["RECORD_ID"][0],
        (p["RECORD_ID"][1], "RECORD_ID", "label"), "\n",
        rng.choice(["Mr. ", "Mrs. ", "Ms. "]), (last, "PERSON", "title"),
        " is seen today for follow-up. ", rng.choice(FILLER), " ",
        (first, "PERSON", "repeat"), " reports better sleep. ", rng.choice(FILLER), "\n",
        "Address: ", (p["street"], "LOCATION", "street"), ", ", (p["city"], "LOCATION", "city"),
        ". Phone ", (p["PHONE_NUMBER"], "PHONE_NUMBER", "label"), ", e-mail ",
        (p["EMAIL_ADDRESS"], "EMAIL_ADDRESS", "label"), ".\n",
        "Transferred from ", (p["facility"], "LOCATION", "facility"), ". ",
        rng.choice(["Her friend ", "Accompanied by ", "Collateral from "]),
        (f"{rel[0]} {rel[1]}", "PERSON", "bare"), ". ", rng.choice(FILLER), " Also present: ",
        (f"{rng.choice(RARE_FIRST)} {rng.choice(LAST)}", "PERSON", "bare, unlisted first name"),
        ".\n",
        "Lives in ", (p["town"], "LOCATION", "placed"), " with daughter ",
        (f"{rel[0]} {last}", "PERSON", "label"), ". SSN ", (p["US_SSN"], "US_SSN", "label"),
        ". Portal: ", (p["URL"], "URL", "label"), " (login from ",
        (p["IP_ADDRESS"], "IP_ADDRESS", "label"), ").\n",
        rng.choice(FILLER), " Signed by ", (f"{rng.choice(FIRST)} {doc}", "PERSON", "credential"),
        ", MD. cc: Dr. ", (rng.choice(LAST), "PERSON", "title"), "."]
    text, spans = "", []
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        value, entity, context = piece
        spans.append((len(text), len(text) + len(value), entity, context))
        text += value
    return text, spans


def _covered(mask: list[bool], start: int, end: int) -> bool:
    return all(mask[start:end])


def measure(n_notes: int, seed: int) -> tuple[dict, dict, dict, float]:
    """Redact ``n_notes`` generated notes; per-type recall/precision counters and the time."""
    rng, redactor = random.Random(seed), Redactor()
    recall: dict = defaultdict(Counter)    # planted type -> n, covered, typed
    person: dict = defaultdict(Counter)    # person context -> n, covered
    precision: dict = defaultdict(Counter)  # redacted type -> n, true
    t0 = time.perf_counter()
    for _ in range(n_notes):
        text, planted = _note(rng)
        found = redactor.spans(text)
        n = len(text)
        mask, typed = [False] * n, defaultdict(lambda n=n: [False] * n)
        for s, e, ent in found:
            mask[s:e] = [True] * (e - s)
            typed[ent][s:e] = [True] * (e - s)
        for s, e, ent, ctx in planted:
            recall[ent].update(n=1, covered=_covered(mask, s, e), typed=_covered(typed[ent], s, e))
            if ent == "PERSON":
                person[ctx].update(n=1, covered=_covered(mask, s, e))
        for s, e, ent in found:
            precision[ent].update(n=1, true=any(s < pe and ps < e for ps, pe, _, _ in planted))
    return recall, person, precision, time.perf_counter() - t0


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "–"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    recall, person, precision, secs = measure(args.notes, args.seed)
    lists = "Faker's name lists" if name_lists_installed() else "no name lists (Faker missing)"
    print(f"{args.notes} generated notes (seed {args.seed}), {secs:.1f} s; no NER model, "
          f"{lists}.\n")
    print("| entity type | planted | recall (redacted) | typed recall | precision |")
    print("|---|---:|---:|---:|---:|")
    for ent in sorted(set(recall) | set(precision)):
        r, p = recall[ent], precision[ent]
        print(f"| {ent} | {r['n']} | {_pct(r['covered'], r['n'])} | {_pct(r['typed'], r['n'])} "
              f"| {_pct(p['true'], p['n'])} |")
    print("\n| person name planted | n | recall (redacted) |\n|---|---:|---:|")
    for ctx in sorted(person):
        print(f"| {ctx} | {person[ctx]['n']} | {_pct(person[ctx]['covered'], person[ctx]['n'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
