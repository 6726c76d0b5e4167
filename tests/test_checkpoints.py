"""tests/checkpoints.py: the offline checkpoint is used only when every file matches its table."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.checkpoints import MINILM_FILES, minilm_problems, verified_minilm_path


def _folder(tmp_path: Path) -> tuple[Path, dict[str, tuple[int, str]]]:
    files = {"config.json": b"{}", "sub/vocab.txt": b"a\nb\n", "model.safetensors": b"weights"}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path, {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items()}


def test_an_intact_folder_has_no_problems(tmp_path: Path) -> None:
    folder, pinned = _folder(tmp_path)
    assert minilm_problems(folder, pinned) == []


def test_missing_changed_extra_and_pickle_files_are_each_named(tmp_path: Path) -> None:
    folder, pinned = _folder(tmp_path)
    (folder / "config.json").unlink()
    (folder / "model.safetensors").write_bytes(b"weightz")  # same size, other bytes
    (folder / "notes.txt").write_text("x")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04")
    problems = minilm_problems(folder, pinned)
    assert problems[0] == "missing: config.json"
    assert problems[1].startswith("changed: model.safetensors (SHA-256 ")
    assert problems[2:] == ["unexpected file: notes.txt", "pickle-based file: pytorch_model.bin"]


def test_the_table_pins_safetensors_weights_only() -> None:
    assert "model.safetensors" in MINILM_FILES
    assert not [n for n in MINILM_FILES if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert all(len(digest) == 64 for _, digest in MINILM_FILES.values())


def test_the_installed_checkpoint_matches_the_table() -> None:
    folder = verified_minilm_path()  # skipped without the dev extra
    assert (folder / "model.safetensors").stat().st_size == MINILM_FILES["model.safetensors"][0]
