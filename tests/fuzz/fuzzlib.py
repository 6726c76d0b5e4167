"""Property-based (Hypothesis) fuzzing of readers, validators and ``predict``: the shared
strategies, the Hypothesis profile and the bounded-call helper.

Deterministic by default (``derandomize``), so a failure reproduces on every machine; set
``SCIFM_FUZZ_RANDOM=1`` to explore new examples and ``SCIFM_FUZZ_EXAMPLES=N`` to scale the number
of examples per test (default 30; the whole suite stays well under a minute on 2 cores). Failing
examples are not shrunk unless ``SCIFM_FUZZ_SHRINK=1`` (shrinking a hang costs its time limit per
attempt); the failing example is printed as found.

Every property is the same three promises of issue 9: **no crash** (a result, or one of scifm's
one-line :class:`~scifm.errors.ScifmError` subclasses; a validator may also reject with
:class:`~scifm.data.datapoints.InvalidInput`), **no hang** (each case runs in a separate process
with a hard time limit, which also contains a native crash such as a segfault and reports it as a
failure instead of killing the test run) and **exact row accounting**.
"""

from __future__ import annotations

import multiprocessing
import os
import string
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from scifm.errors import ScifmError

N_EXAMPLES = int(os.environ.get("SCIFM_FUZZ_EXAMPLES", "30"))
settings.register_profile(
    "scifm-fuzz", max_examples=N_EXAMPLES, deadline=None, database=None,
    derandomize=os.environ.get("SCIFM_FUZZ_RANDOM", "") != "1", print_blob=True,
    phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("SCIFM_FUZZ_SHRINK")],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.large_base_example])
settings.load_profile("scifm-fuzz")

CASE_SECONDS = 10.0
"""Hard limit of one fuzz case (a hang is a failure, not a stuck test run)."""


# ---------------------------------------------------------------- strategies
SMILES_TOKENS = [
    "C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "B", "c", "n", "o", "s", "p", "*",
    "[nH]", "[NH4+]", "[O-]", "[N+](=O)[O-]", "[13C@@H]", "[C@H]", "[Fe+2]", "[2H]", "[Na+]",
    "[Si]", "[se]", "[H]", "[", "]", "(", ")", "(", ")", "=", "#", "$", ":", "/", "\\", ".",
    "-", "+", "@", "@@", "1", "2", "3", "9", "0", "%10", "%99", "%1", "%",
]
"""Atoms, bonds, branches, brackets, ring closures (digits and %nn), charges, stereo - and the
unbalanced halves of each, so the strings are SMILES-like rather than valid."""

PROTEIN = "ACDEFGHIKLMNPQRSTVWY"
SEQ_ALPHABET = PROTEIN + "BZXJUO" + "acgtun" + "ACGTN" + "*-. \t0123456789>;"

smiles_like = st.lists(st.sampled_from(SMILES_TOKENS), min_size=0, max_size=60).map("".join)
"""Random SMILES-like strings (mostly invalid, some valid)."""

sequences = st.text(alphabet=SEQ_ALPHABET, max_size=300)
"""Random protein / DNA sequences with junk letters, gaps, stops, digits and whitespace."""

any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200)
"""Any Unicode text: control characters (NUL included), combining marks, RTL, emoji."""

line_text = st.text(alphabet=st.characters(exclude_categories=("Cs",),
                                           exclude_characters="\x00\n\r\x0b\x0c\x1c\x1d\x1e"
                                                              "\x85\u2028\u2029"),
                    max_size=120)
"""Text that stays on one line and holds no NUL (a cell a CSV round-trips), control chars kept."""

junk_bytes = st.binary(max_size=3000)
"""Random byte strings: invalid UTF-8, NULs, magic numbers by chance."""

long_repeats = st.tuples(st.sampled_from(["C", "CC(", "c1ccccc1", "[nH]", "A", "ACGT", "x ",
                                          "C1CC1", "CCCCCCCCCC"]),
                         st.sampled_from([2_000, 20_000, 200_000, 1_000_000])).map(
    lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]])
"""Long inputs (2 kB .. 1 MB) of the shapes that used to crash or hang (long chains)."""

all_inputs = st.one_of(smiles_like, sequences, any_text)


def write_gz(path: Path, data: bytes) -> None:
    import gzip

    with gzip.open(path, "wb") as fh:
        fh.write(data)


# ---------------------------------------------------------------- bounded calls
@dataclass
class Outcome:
    """What one bounded call did: ``ok`` (with ``value``), ``scifm`` (a one-line ScifmError),
    ``invalid`` (InvalidInput, validators only) or ``bug`` (anything else)."""

    kind: str
    value: Any = None
    message: str = ""


def _classify(fn: Callable[..., Any], args: tuple) -> Outcome:
    from scifm.data.datapoints import InvalidInput

    try:
        return Outcome("ok", fn(*args))
    except ScifmError as err:
        return Outcome("scifm", message=str(err))
    except InvalidInput as err:
        return Outcome("invalid", message=err.reason)
    except Exception:  # noqa: BLE001 - what the fuzzer is looking for
        return Outcome("bug", message=traceback.format_exc(limit=-6))


def _serve(conn: Connection) -> None:
    """The worker's loop: ``(fn, args)`` in, :class:`Outcome` out, until the pipe closes."""
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        out = _classify(fn, args)
        try:
            conn.send(out)
        except Exception:  # noqa: BLE001 - an unpicklable result
            conn.send(Outcome(out.kind, repr(out.value)[:2000], out.message))


class _Worker:
    """One process that runs the cases one after another (a process per case would cost more
    than most cases); replaced after a hang or a native crash. ``fork`` starts it at once;
    ``spawn`` gives a fresh interpreter, for code that must not run in a fork of a process that
    has used OpenMP (LightGBM)."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context(self.method)
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    def _stop(self) -> int | None:
        assert self.proc is not None
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        code = self.proc.exitcode
        self.proc = self.conn = None
        return code

    def call(self, fn: Callable[..., Any], args: tuple, seconds: float) -> Outcome:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        assert self.conn is not None
        self.conn.send((fn, args))
        if not self.conn.poll(seconds):
            self._stop()
            pytest.fail(f"hang: {fn.__name__} gave no result after {seconds:.0f} s",
                        pytrace=False)
        try:
            return self.conn.recv()
        except (EOFError, ConnectionError):
            code = self._stop()
            pytest.fail(f"native crash: {fn.__name__} killed its process (exit code {code})",
                        pytrace=False)


_WORKERS = {"fork": _Worker("fork"), "spawn": _Worker("spawn")}


def bounded(fn: Callable[..., Any], *args: Any, seconds: float = CASE_SECONDS,
            spawn: bool = False) -> Outcome:
    """``fn(*args)`` in a separate process with a hard time limit.

    A hang (over ``seconds``) or a native crash (a signal such as SIGSEGV) fails the test with
    what happened instead of stopping the test run; the result or exception comes back as an
    :class:`Outcome`. ``fn`` is a module-level function; ``args`` and its result are pickled.
    ``spawn``: run it in a fresh interpreter (started once, ~5 s) instead of a fork of pytest.
    """
    return _WORKERS["spawn" if spawn else "fork"].call(fn, args, seconds)


def check_clean(out: Outcome, *, allow_invalid: bool = False) -> Outcome:
    """No crash: a result or a one-line ScifmError (or InvalidInput where allowed)."""
    allowed = {"ok", "scifm"} | ({"invalid"} if allow_invalid else set())
    assert out.kind in allowed, f"unexpected exception:\n{out.message}"
    if out.kind in ("scifm", "invalid"):
        assert out.message.strip(), "an error without a message"
        assert "\n" not in out.message.strip(), f"error is not one line: {out.message!r}"
    return out


def root_conftest() -> Any:
    """``tests/conftest.py`` as a module (its molecule maker), whatever pytest named it."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_scifm_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def valid_smiles() -> list[str]:
    """The training molecules' SMILES (valid inputs to mix into the fuzzed rows)."""
    return root_conftest().make_molecules(60)["smiles"].tolist()


ALPHANUM = string.ascii_letters + string.digits
