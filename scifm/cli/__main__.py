"""``python -m scifm.cli`` = the ``scifm`` command."""

from scifm.cli.main import app

app()
