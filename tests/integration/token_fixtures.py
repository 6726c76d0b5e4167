"""Tiny generated token-classification data (no files checked in, no network)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

DISEASES = [["lung", "cancer"], ["diabetes"], ["cystic", "fibrosis"], ["asthma"],
            ["breast", "tumour"], ["ataxia"]]
FILLER = ["the", "patient", "with", "was", "treated", "for", "and", "a", "study", "of",
          "mutations", "in", "gene", "risk", "family", "showed"]
RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def ner_sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Sentences where disease words (a fixed list) are tagged B-/I-Disease, the rest O."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(5, 10)):
            if rng.random() < 0.25:
                ent = rng.choice(DISEASES)
                words += ent
                tags += ["B-Disease"] + ["I-Disease"] * (len(ent) - 1)
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        out.append((words, tags))
    return out


def write_conll(path: Path, sentences: list[tuple[list[str], list[str]]],
                docstart: bool = True) -> Path:
    """CoNLL-2003 style (token POS chunk tag), gzipped when the name ends in .gz."""
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for words, tags in sentences:
        lines += [f"{w}\tNN\tO\t{t}" for w, t in zip(words, tags, strict=True)] + [""]
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def ss_label(residue: str) -> str:
    """A learnable per-residue rule: hydrophobic -> H, charged -> E, else C."""
    return "H" if residue in "AILMFVW" else "E" if residue in "DEKR" else "C"


def residue_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Proteins with an ``ss3`` string from :func:`ss_label` and a ``resolved_mask`` whose first
    two residues are unresolved (0); masked residues carry a wrong label on purpose."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        seq = "".join(rng.choice(RESIDUES) for _ in range(rng.randint(12, 30)))
        labels = [ss_label(r) for r in seq]
        labels[0] = labels[1] = "X"  # garbage under the mask: never trained on nor scored
        mask = "00" + "1" * (len(seq) - 2)
        split = "test" if i % 5 == 0 else "train"
        rows.append({"id": f"p{i}", "sequence": seq, "ss3": "".join(labels),
                     "resolved_mask": mask, "set": split})
    return rows
