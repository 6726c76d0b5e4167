"""The ``scifm`` Typer application: global flags, logging set-up and one-line errors.

Subcommand modules import :data:`app` and :func:`friendly_errors` from here and register
themselves with ``@app.command()``; :mod:`scifm.cli.main` imports them (the entry point). Nothing
here imports a subcommand, so the CLI has no import cycle.

``-q`` shows only warnings and errors: the terminal handler's own level is WARNING (the run's
``log.txt`` still records INFO), third-party loggers are held at ERROR (Optuna and MLflow, which
set up their own loggers when first imported, included) and no progress bar is drawn (scifm's
own, :mod:`scifm.utils.progress`; tqdm's, ``datasets``). What a command prints on stdout at the
end (its summary table) is its result and stays.

``--help`` shows on/off options as flags (``--resume``, not ``--resume <bool>``) and
``--version`` prints ``scifm X.Y.Z``.

Ctrl-C ends any command with exit code 130 and one line, ``interrupted: `` followed by what the
run directory says the stopped run left (:func:`scifm.rundir.stopped_note`: e.g. ``runs/x was not
created; the checkpoints are kept in runs/x.partial: run the same command with --resume to
continue from them``), or just ``interrupted`` when no run directory was open.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import click
import typer
from rich.logging import RichHandler
from rich.markup import escape
from typer.core import TyperGroup

from scifm.cli import mark_start
from scifm.errors import ScifmError
from scifm.utils import progress

__all__ = ["RESUME_HINT", "app", "err_console", "friendly_errors", "interrupted_line"]


def _flags_as_flags(params: Iterable[click.Parameter]) -> None:
    """On/off options show no value type in the rich help (Typer writes ``<bool>`` there)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _Group(TyperGroup):
    """The ``scifm`` group: its own and every subcommand's flags shown as flags."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        _flags_as_flags(params)
        return params

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _flags_as_flags(command.get_params(ctx))
        return command


app = typer.Typer(
    name="scifm",
    cls=_Group,
    help="From a scientist's data file to an honestly evaluated, tracked model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = progress.console
"""stderr: log lines, one-line errors and the progress bars (one console for all three)."""
_STATE = {"verbose": False}
F = TypeVar("F", bound=Callable[..., Any])
_NOISY = ("transformers", "mlflow", "alembic", "urllib3", "matplotlib", "optuna", "datasets",
          "huggingface_hub", "httpx", "filelock", "lightgbm", "torch")
"""Third-party loggers shown only from ERROR (WARNING with ``-v``)."""
_NO_PROGRESS_BARS = ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS")
"""Environment switches that turn progress bars off (read when tqdm is first imported)."""
RESUME_HINT = "interrupted: rerun the same command with --resume to continue from the last " \
    "checkpoint"
"""The line after Ctrl-C of a command that takes ``--resume`` when the run directory cannot say
what the run left (:func:`interrupted_line`)."""


def scifm_version() -> str:
    """The installed package's version (``0+unknown`` when run from an uninstalled tree)."""
    try:
        return version("scifm")
    except PackageNotFoundError:
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"scifm {scifm_version()}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging and tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors on "
                               "stderr, no progress bars (the run's log.txt keeps everything)."),
    show_version: bool = typer.Option(False, "--version", callback=_print_version,
                                      is_eager=True, help="Print the version and exit."),
) -> None:
    """scifm: data -> clean -> split -> train -> evaluate -> report, with tracking."""
    mark_start()
    _STATE["verbose"] = verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=err_console, show_path=verbose, markup=False,
                          rich_tracebacks=False)
    handler.setLevel(level)  # the run log (log.txt) lowers the logger to INFO; not the terminal
    root = logging.getLogger("scifm")
    root.handlers = [h for h in root.handlers if not isinstance(h, RichHandler)] + [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
    progress.configure(quiet=quiet)
    if quiet:
        for var in _NO_PROGRESS_BARS:
            os.environ[var] = "1"


def interrupted_line(func: Callable[..., Any], exc: BaseException) -> str:
    """The one line Ctrl-C prints (see the module docstring)."""
    try:
        from scifm.rundir import stopped_note

        note = stopped_note(exc)
    except Exception:  # noqa: BLE001 - the line must be printed whatever happens
        return RESUME_HINT if "resume" in inspect.signature(func).parameters else "interrupted"
    return f"interrupted: {note}" if note else "interrupted"


def friendly_errors(func: F) -> F:
    """Turn exceptions into one line on stderr and a non-zero exit (traceback with ``-v``)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as e:
            if _STATE["verbose"]:
                raise
            err_console.print(escape(interrupted_line(func, e)), highlight=False,
                              soft_wrap=True)
            sys.exit(130)
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
        finally:
            progress.close_all()  # a bar still open (a failed step) leaves the screen

    return wrapper  # type: ignore[return-value]
