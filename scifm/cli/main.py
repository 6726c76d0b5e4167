"""The ``scifm`` command (entry point ``scifm.cli.main:app``): the list of subcommands.

The application, its global ``-v/-q`` flags and the one-line error handling live in
:mod:`scifm.cli.app`. Each subcommand lives in its own module, registers itself on that app
with ``@app.command()`` and does three things: parse, load the config, call a recipe
(:mod:`scifm.recipes`). A new subcommand is one module plus one line in the import below.
"""

from __future__ import annotations

from scifm.cli import (  # noqa: F401 - importing a subcommand module registers it on `app`
    audit,
    auto,
    card,
    compress,
    demo,
    explain,
    finetune,
    predict,
    pretrain,
    redact,
    register,
    screen,
    serve,
    train,
    tune,
)
from scifm.cli.app import app

__all__ = ["app"]
