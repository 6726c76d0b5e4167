"""SDF (MDL mol file) records: ``smiles`` (RDKit canonical), ``_name`` and the SD properties.

A mol block RDKit cannot parse becomes a record with ``smiles == ""`` and the reason in
``_parse_error`` (quarantined by the cleaning step, never silently lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from scifm.data.files import text_lines


def _sdf_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(first_line_number, block_text)`` for each record terminated by ``$$$$``."""
    buf: list[str] = []
    first = 1
    for lineno, line in text_lines(path):
        if line.rstrip("\r\n").strip() == "$$$$":
            yield first, "".join(buf)
            buf, first = [], lineno + 1
        else:
            buf.append(line)
    if "".join(buf).strip():
        yield first, "".join(buf)


def _sdf_properties(data_part: str) -> dict[str, str]:
    props: dict[str, str] = {}
    name: str | None = None
    values: list[str] = []
    for line in data_part.splitlines():
        if line.startswith(">"):
            if name is not None:
                props[name] = "\n".join(values).strip()
            m = re.search(r"<([^>]*)>", line)
            name, values = (m.group(1) if m else line[1:].strip()), []
        elif name is not None:
            if line.strip() == "":
                props[name] = "\n".join(values).strip()
                name, values = None, []
            else:
                values.append(line)
    if name is not None:
        props[name] = "\n".join(values).strip()
    return props


def sdf_records(path: Path) -> Iterator[dict]:
    from rdkit import Chem, rdBase

    for k, (lineno, block) in enumerate(_sdf_blocks(path)):
        end = block.find("M  END")
        molblock = block[: end + len("M  END")] + "\n" if end >= 0 else block
        data_part = block[end + len("M  END"):] if end >= 0 else ""
        rec: dict[str, object] = {"smiles": "", "_name": block.split("\n", 1)[0].strip()}
        with rdBase.BlockLogs():
            mol = Chem.MolFromMolBlock(molblock) if end >= 0 else None
        if mol is None:
            rec["_parse_error"] = (f"unparseable mol block: RDKit could not read record {k + 1} "
                                   f"(line {lineno})")
        else:
            rec["smiles"] = Chem.MolToSmiles(mol)
            rec["_parse_error"] = None
        for key, val in _sdf_properties(data_part).items():
            rec.setdefault(key, val)
        yield rec


__all__ = ["sdf_records"]
