"""``python -m scifm`` = the ``scifm`` command."""

from scifm.cli.main import app

app()
