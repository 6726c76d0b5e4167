"""Optional parts of scifm (pip "extras"): checked before any work starts, refused in one line.

Everything that defines scifm (``auto``, ``tune``, every family ``--model`` lists, PEFT) is a core
dependency. What stays optional is heavy or only needed in one setting, e.g. the PostgreSQL driver
for ``--storage postgresql://...`` (extra ``postgres``). A command that needs such a part calls
:func:`require_extra` (or :func:`require_storage_driver`) right after its config is loaded, so a
missing part is one error line naming the install command, not a traceback after the data were
read and featurised::

    error: --storage postgresql://... needs the PostgreSQL driver (psycopg), which is not
    installed: pip install -c constraints.txt -e ".[postgres]" (or pip install "scifm[postgres]")
"""

from __future__ import annotations

import importlib.util

from scifm.errors import ConfigError

__all__ = ["EXTRAS", "install_hint", "missing", "require_extra", "require_storage_driver"]

EXTRAS: dict[str, str] = {
    "postgres": "the PostgreSQL driver (psycopg)",
    "mpnn": "Chemprop (chemprop)",
    "privacy": "Presidio (presidio-analyzer, presidio-anonymizer)",
}
"""Extras of ``pyproject.toml`` that scifm checks for, with what they provide."""


def missing(module: str) -> bool:
    """Whether ``module`` cannot be imported (looked up without importing it)."""
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package missing, or a broken module spec
        return True


def install_hint(extra: str) -> str:
    """``pip install -c constraints.txt -e ".[EXTRA]" (or pip install "scifm[EXTRA]")``."""
    return (f'pip install -c constraints.txt -e ".[{extra}]" (or pip install '
            f'"scifm[{extra}]")')


def require_extra(module: str | tuple[str, ...], extra: str, feature: str) -> None:
    """Refuse ``feature`` unless ``module`` (or one of several alternatives) can be imported.

    Parameters
    ----------
    module
        The module the feature imports, or alternatives any one of which is enough.
    extra
        The pip extra that installs it (``postgres``).
    feature
        What the user asked for, as they wrote it (``--storage postgresql://...``).

    Raises
    ------
    ConfigError
        One line: the feature, what is missing and the install command.
    """
    modules = (module,) if isinstance(module, str) else module
    if all(missing(name) for name in modules):
        what = EXTRAS.get(extra, f"the {extra!r} extra ({', '.join(modules)})")
        raise ConfigError(f"{feature} needs {what}, which is not installed: "
                          f"{install_hint(extra)}")


def require_storage_driver(storage: str | None) -> None:
    """Refuse an Optuna storage URL whose database driver is not installed.

    ``postgresql://...`` needs ``psycopg`` (SQLAlchemy's default; extra ``postgres``) or
    ``psycopg2`` (:func:`scifm.tuning.parallel.resolve_storage` uses it when only it is
    installed); ``postgresql+DRIVER://...`` needs that driver's module. ``sqlite://`` and
    ``journal://`` need nothing beyond the core dependencies. Call it with
    ``cfg.automl.tune.storage`` before any data are read.

    Raises
    ------
    ConfigError
        ``postgresql`` storage and its driver not installed.
    """
    scheme = (storage or "").split(":", 1)[0]
    dialect, _, driver = scheme.partition("+")
    if dialect == "postgresql":
        modules = (driver,) if driver else ("psycopg", "psycopg2")
        require_extra(modules, "postgres", f"--storage {scheme}://...")
