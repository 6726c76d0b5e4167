"""The README's shell commands, as data: extracted, classified (run here / skipped, with the
reason) and given the fast settings the README test appends.

Every ``bash`` block of README.md is read; backslash continuations are joined, comments dropped
and each line split on ``&&`` into *parts*. A part that starts with ``scifm`` is run by
``test_readme_commands.py``; any other part must be in :data:`SKIPPED` with the reason it cannot
run inside a test, or the test fails. So a new README example is either run or explicitly
skipped, never silently untested.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

_INSTALL = "the install itself: .ci/run runs exactly this in a fresh venv before the tests"
_DDP = ("several processes: tests/integration/test_ddp.py trains and pretrains with DDP on 2 CPU "
        "processes; here only the scifm part is parsed")
_GPU = "FSDP / DeepSpeed need GPUs (and DeepSpeed itself); here only the scifm part is parsed"
_SERVER = ("a server runs until it is stopped: tests/unit/serving/test_app.py drives the same app "
           "(TestClient) and tests/cli/test_serve_cli.py the command's checks; here the scifm "
           "part is parsed")

SKIPPED: dict[str, str] = {
    "python3 -m venv .venv": _INSTALL,
    ". .venv/bin/activate": _INSTALL,
    "pip install -c constraints.txt -e .": _INSTALL,
    "pip install -c constraints.txt -e '.[dev]'": _INSTALL,
    "pytest -n 2 -m 'not serial'": "the test suite itself (this test is part of it)",
    "pytest -m serial": "the test suite's timed tests, run alone after the others",
    "scifm tune --data scifm/data/bundled/freesolv.csv --target-col expt --family lightgbm "
    "--n-trials 100 --workers 4 --storage postgresql://user@dbhost/optuna --study-name "
    "freesolv-lgbm --out runs/tuned-a":
        "needs a PostgreSQL server: tests/integration/test_postgres_workers.py starts one when "
        "Debian's postgresql is installed; here the command is parsed and the storage URL's "
        "driver checked",
    "torchrun --nproc_per_node 2 -m scifm train --data scifm/data/bundled/freesolv.csv "
    "--target-col expt --model transformer --out runs/ddp": _DDP,
    "torchrun --nproc_per_node 2 -m scifm pretrain --data scifm/data/bundled/freesolv.csv "
    "--input-col smiles --modality smiles --out runs/mlm-ddp": _DDP,
    "accelerate launch --num_processes 2 -m scifm train --data scifm/data/bundled/freesolv.csv "
    "--target-col expt --model transformer --out runs/ddp-accelerate": _DDP,
    "torchrun --nproc_per_node 8 -m scifm train --data scifm/data/bundled/freesolv.csv "
    "--target-col expt --model transformer --set 'train.fsdp=full_shard auto_wrap' "
    "--set train.fsdp_config=fsdp.json --out runs/fsdp": _GPU,
    "torchrun --nproc_per_node 8 -m scifm train --data scifm/data/bundled/freesolv.csv "
    "--target-col expt --model transformer --set train.deepspeed=ds_zero2.json --out runs/ds":
        _GPU,
    "scifm serve runs/freesolv": _SERVER,
    "curl -s -X POST http://127.0.0.1:8000/v1/models/freesolv/predict -H 'Content-Type: "
    "application/json' -d '{\"inputs\": [\"CCO\", \"c1ccccc1\", \"not_a_smiles\"]}'": _SERVER,
    "python -c 'import scifm; print(scifm.load(\"runs/freesolv\").predict([\"CCO\", "
    "\"c1ccccc1\"]))'":
        "tests/unit/serving/test_app.py checks that scifm.load(run).predict equals the endpoint",
}
"""README command parts not run by the test (normalised text: :func:`normalise`) -> why."""

_BOOSTING = ["--set", "params.lightgbm.n_estimators=20", "--set", "params.xgboost.n_estimators=20",
             "--set", "eval.n_bootstrap=50"]
_MPNN = ["--set", "params.mpnn.epochs=2", "--set", "params.mpnn.hidden=32",
         "--set", "params.mpnn.ffn_hidden=32"]
_TRAINER = ["--set", "model.size=tiny", "--set", "train.max_steps=2", *_BOOSTING, *_MPNN]
_NO_TRACK = ["--set", "tracking.enabled=false"]
FAST: dict[str, list[str]] = {
    "demo": _TRAINER,  # the demo keeps MLflow tracking on: the default path is run once
    "train": [*_TRAINER, *_NO_TRACK],
    "finetune": [*_TRAINER, *_NO_TRACK],
    "pretrain": ["--max-steps", "2", "--set", "model.size=tiny", *_NO_TRACK],
    "tune": ["--n-trials", "2", "--folds", "2", *_BOOSTING, *_NO_TRACK],
    "auto": ["--time-budget", "25", "--n-trials", "1", "--folds", "2", "--families",
             "linear,lightgbm,mpnn", "--set", "params.mpnn.epochs=2", *_BOOSTING, *_NO_TRACK],
    "predict": [],
    "screen": [],
    "evaluate": [],
    "audit": [],
    "card": [],
    "register": [],
    "explain": [],
    "redact": [],
    "compress": ["--recovery-steps", "2", "--distill-epochs", "0.2", "--n-bootstrap", "50"],
}
"""Appended to a README command of each subcommand (the last value of a flag wins): tiny models,
2 steps, 20 boosting rounds (trial 0 of a search starts from the configured parameters), a few
trials, fewer bootstrap resamples. A key no chosen family reads is only warned about."""

BY_TEXT: dict[str, list[str]] = {
    "scifm compress runs/cite/families/transformer": ["--variants", "bf16,prune"],
    "scifm auto --data scifm/data/bundled/freesolv.csv --target-col expt --families "
    "linear,transformer": ["--families", "linear,transformer"],
}
"""Appended after :data:`FAST` to a README command whose text starts with the key. Every maker
of a transformer's compression (ONNX export, int8, distillation, chaining) is run by
``tests/integration/test_compress.py`` and ``tests/unit/compression``; the README test runs two
of them here so that it does not take 45 s on 2 cores for the same coverage. ``auto`` with a
checkpoint keeps its two families (FAST names others)."""


@dataclass(frozen=True)
class Part:
    """One ``&&``-separated part of a README command line."""

    text: str
    """Normalised: tokens re-quoted with :func:`shlex.join`."""
    tokens: tuple[str, ...]
    line: int
    """README line where the command starts."""

    @property
    def scifm_argv(self) -> list[str] | None:
        """The arguments after ``scifm`` (``scifm train ...``, ``... -m scifm train ...``)."""
        toks = list(self.tokens)
        if toks and toks[0] == "scifm":
            return toks[1:]
        for i in range(len(toks) - 1):
            if toks[i] in ("-m", "--module") and toks[i + 1] == "scifm":
                return toks[i + 2:]
        return None

    @property
    def runs_here(self) -> bool:
        """A ``scifm`` command that is not in :data:`SKIPPED`."""
        return self.text not in SKIPPED and bool(self.tokens) and self.tokens[0] == "scifm"


def normalise(tokens: list[str] | tuple[str, ...]) -> str:
    """One canonical text for a command's tokens (quotes and spacing as :func:`shlex.join`)."""
    return shlex.join(tokens)


def bash_blocks(text: str) -> list[tuple[int, list[str]]]:
    """``(first line number, lines)`` of every ```` ```bash ```` block."""
    blocks, current, start = [], None, 0
    for n, line in enumerate(text.splitlines(), start=1):
        if current is None and re.match(r"^```bash\s*$", line):
            current, start = [], n + 1
        elif current is not None and line.startswith("```"):
            blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def logical_lines(start: int, lines: list[str]) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined; blank lines and comment lines dropped."""
    out: list[tuple[int, str]] = []
    buf, first = "", start
    for n, line in enumerate(lines, start=start):
        if not buf:
            first = n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        joined = (buf + line).strip()
        buf = ""
        if joined and not joined.startswith("#"):
            out.append((first, joined))
    return out


def readme_parts(text: str | None = None) -> list[Part]:
    """Every command part of the README, in order."""
    parts: list[Part] = []
    for start, lines in bash_blocks(README.read_text(encoding="utf-8") if text is None else text):
        for n, line in logical_lines(start, lines):
            tokens = shlex.split(line, comments=True)
            chunk: list[str] = []
            for tok in [*tokens, "&&"]:
                if tok == "&&":
                    if chunk:
                        parts.append(Part(normalise(chunk), tuple(chunk), n))
                    chunk = []
                else:
                    chunk.append(tok)
    return parts


def fast_argv(part: Part) -> list[str]:
    """The part's ``scifm`` arguments with the fast settings of its subcommand appended."""
    argv = part.scifm_argv
    if argv is None or not argv:
        raise ValueError(f"not a scifm command: {part.text}")
    if argv[0] not in FAST:
        raise KeyError(f"README line {part.line}: no fast settings for `scifm {argv[0]}`; add "
                       "them to FAST in tests/readme/readme_commands.py")
    extra = [a for text, args in BY_TEXT.items() if part.text.startswith(text) for a in args]
    return [*argv, *FAST[argv[0]], *extra]


def option_value(argv: list[str], flag: str) -> str | None:
    """The last value given to ``flag`` (``--out X``) in ``argv``, or None."""
    values = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == flag]
    return values[-1] if values else None
