"""A validator that crashes like a native library, for the crash-containment tests.

``crashing_validator`` validates SMILES as usual, but kills its own process with ``SIGSEGV`` on
inputs starting with ``CRASH`` (as RDKit does on a 20,000-atom chain), sleeps on ``HANG`` and
raises on ``BUG``. Worker processes import it from here (it is pickled by reference).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable

from scifm.config.schema import DataConfig
from scifm.modalities.smiles import smiles_validator

CRASHED = "crashed the parser (TestLib): killed by SIGSEGV"
"""The rejection reason of an input that killed its worker."""


def crash(value: str) -> None:
    """Segfault, in a worker process; in the test process, fail the test instead."""
    if multiprocessing.parent_process() is None:
        raise AssertionError(f"{value!r} reached the validator in the test process")
    os.kill(os.getpid(), signal.SIGSEGV)


def crashing_validator(data_cfg: DataConfig) -> Callable[[str], str]:
    """SMILES validation that segfaults on ``CRASH...``, hangs on ``HANG``, raises on ``BUG``."""
    smiles = smiles_validator(data_cfg)

    def validate_one(value: str) -> str:
        if value.startswith("CRASH"):
            crash(value)
        if value == "HANG":
            time.sleep(60)
        if value == "BUG":
            raise ValueError("a bug in the validator")
        return smiles(value)

    return validate_one
