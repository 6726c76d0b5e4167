"""``scifm redact``: replace the PII of a text file or table's text columns (``privacy`` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console


@app.command()
@friendly_errors
def redact(
    data: Path = typer.Argument(..., help="A .txt file (one text per line) or a table (CSV, "
                                "TSV, JSONL, Parquet)."),
    out: Path = typer.Option(..., "--out", "-o", help="The redacted file, in the input's format "
                             "(never the input); the counts go to OUT.summary.json."),
    input_col: list[str] | None = typer.Option(None, "--input-col", help="Text column of a "
                                               "table to redact (repeat for several)."),
    fmt: str = typer.Option("auto", "--format", help="auto (from the suffix), text, csv, tsv, "
                            "jsonl or parquet."),
    entity: list[str] | None = typer.Option(None, "--entity", help="Entity type to redact "
                                            "(repeat; default all: EMAIL_ADDRESS, PHONE_NUMBER, "
                                            "URL, DATE_TIME, IP_ADDRESS, CREDIT_CARD, US_SSN, "
                                            "RECORD_ID, PERSON, LOCATION)."),
    ner_model: str | None = typer.Option(None, "--ner-model", help="An installed spaCy "
                                         "pipeline (name or folder) whose person / place "
                                         "entities are redacted too; default: context patterns "
                                         "only, nothing downloaded."),
) -> None:
    """Replace emails, phones, dates, URLs, record numbers, SSNs, names and places by their type
    (<PERSON>, <DATE_TIME>, ...); print the counts per type, never the text."""
    from scifm.recipes.redact import redact as run_redact

    summary = run_redact(data, out, input_cols=input_col, fmt=fmt, entities=entity,
                         ner_model=ner_model)
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items()) or "nothing found"
    console.print(f"redacted {sum(summary.counts.values())} spans in {summary.n_rows} rows "
                  f"({counts}) to {summary.out}; summary {summary.summary}", highlight=False)
    console.print(summary.names, highlight=False)
