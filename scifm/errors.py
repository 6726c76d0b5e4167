"""Errors that reach the user as one clear line (the CLI prints ``str(err)`` and exits non-zero)."""

from __future__ import annotations


class ScifmError(Exception):
    """Base class for problems caused by the user's input or configuration, not by a bug."""


class DataError(ScifmError):
    """The input data cannot be read or does not have what the run needs (file, column, rows)."""


class ConfigError(ScifmError):
    """The experiment configuration is invalid; the message names the field and what is allowed."""


class RunDirError(ScifmError):
    """A run directory is missing files that a later stage (predict, evaluate) needs."""


class OutputError(ScifmError):
    """An output path that would destroy something: an input, files scifm did not write, or an
    earlier run that may only be replaced with ``--overwrite``."""
