"""The ``scifm`` Typer application: global flags, logging set-up and one-line errors.

Subcommand modules import :data:`app` and :func:`friendly_errors` from here and register
themselves with ``@app.command()``; :mod:`scifm.cli.main` imports them (the entry point). Nothing
here imports a subcommand, so the CLI has no import cycle.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from scifm.errors import ScifmError

__all__ = ["app", "err_console", "friendly_errors"]

app = typer.Typer(
    name="scifm",
    help="From a scientist's data file to an honestly evaluated, tracked model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
_STATE = {"verbose": False}
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging and tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
) -> None:
    """scifm: data -> clean -> split -> train -> evaluate -> report, with tracking."""
    _STATE["verbose"] = verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=err_console, show_path=verbose, markup=False,
                          rich_tracebacks=False)
    root = logging.getLogger("scifm")
    root.handlers = [h for h in root.handlers if not isinstance(h, RichHandler)] + [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("transformers", "mlflow", "alembic", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def friendly_errors(func: F) -> F:
    """Turn exceptions into one line on stderr and a non-zero exit (traceback with ``-v``)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ScifmError as e:
            if _STATE["verbose"]:
                raise
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False,
                              soft_wrap=True)
            sys.exit(2)
        except Exception as e:  # noqa: BLE001 - last line of defence for the user
            if _STATE["verbose"]:
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            err_console.print(f"[bold red]error:[/] {type(e).__name__}: {escape(msg)} "
                              "(run with -v for the traceback)", highlight=False,
                              soft_wrap=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
