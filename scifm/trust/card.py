"""The model card: ``RUN_DIR/model/README.md``, a Hugging Face model card built from the run files.

The YAML front matter (``library_name: scifm``, tags, ``model-index`` with the test metrics) is
rendered by :class:`huggingface_hub.ModelCardData`; each ``model-index`` metric carries its
bootstrap interval in ``args`` (``ci95``, ``ci_level``, ``ci_method``, ``n``), the one free-form
field of the Hub's schema. The Markdown sections (:mod:`scifm.trust.card_sections`) are: model,
data provenance, split and leakage audit, metrics with intervals, uncertainty, fairness, privacy,
intended use, limitations and how to use it. Every number is read from the run directory
(``model/scifm.json``, ``metrics.json``, ``data_report.json``, ``splits.json``, ``leakage.json``,
``audit/audit.json``); what a run did not measure is said in words.

The card is written at the end of every training run (:meth:`scifm.rundir.RunContext.track`)
and again by ``scifm card RUN_DIR`` (after ``scifm audit``, for example). It is a file of the
model folder like any other: written atomically and hashed into its manifest
(:func:`scifm.models.manifest.update_manifest`), so the folder still loads.

This module does not import :mod:`scifm.rundir` (which calls it): it takes any object with the
paths of :class:`scifm.rundir.RunDir` (:class:`RunFiles`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from scifm.errors import RunDirError
from scifm.evaluation.metrics import higher_is_better, primary_metric
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.manifest import update_manifest
from scifm.tasks import TaskSpec
from scifm.trust.card_sections import (
    CardInputs,
    compression_section,
    data_section,
    fairness_section,
    fmt,
    intended_use_section,
    limitations_section,
    metric_cells,
    metrics_section,
    model_section,
    privacy_section,
    split_section,
    uncertainty_section,
    usage_section,
)
from scifm.utils.io import atomic_write_text

__all__ = ["CARD", "AUDIT", "RunFiles", "card_metadata", "read_card_inputs", "render_card",
           "write_card"]

CARD = "README.md"
"""The card's file name inside ``model/`` (what the Hugging Face Hub shows)."""
AUDIT = Path("audit") / "audit.json"
"""Where ``scifm audit`` leaves its results, relative to the run directory."""

HF_TASKS = {"binary": "text-classification", "multiclass": "text-classification",
            "regression": "tabular-regression", "token_classification": "token-classification"}
"""The Hub's task id of each scifm task (inputs are strings: SMILES, sequences, text)."""


class RunFiles(Protocol):
    """The paths of a run directory the card reads (:class:`scifm.rundir.RunDir` has them)."""

    @property
    def root(self) -> Path: ...
    @property
    def model(self) -> Path: ...
    @property
    def metrics(self) -> Path: ...
    @property
    def data_report(self) -> Path: ...
    @property
    def splits(self) -> Path: ...
    @property
    def leakage(self) -> Path: ...


def _json(file: Path) -> dict[str, Any] | None:
    """The JSON object in ``file``; None when the file is absent."""
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"cannot read {file}: {err}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{file} does not hold a JSON object")
    return data


def read_card_inputs(run: RunFiles, name: str | None = None) -> CardInputs:
    """Read the files of ``run`` that the card shows (``name``: the model's name, default the
    run directory's).

    Raises
    ------
    RunDirError
        ``model/scifm.json`` is missing, or a file is not readable JSON.
    """
    splits = _json(run.splits) or {}
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in splits.items()}
    return CardInputs(
        run_name=name or Path(run.root).name.removesuffix(".partial"),
        meta=read_model_json(run.model / MODEL_META),
        metrics=_json(run.metrics) or {}, data_report=_json(run.data_report) or {},
        splits=counts, leakage=_json(run.leakage) or {}, audit=_json(Path(run.root) / AUDIT),
    )


def _primary(c: CardInputs) -> tuple[str | None, bool]:
    """The task's ranking metric and whether higher is better (None for an unknown task)."""
    try:
        name, _ = primary_metric(TaskSpec.from_dict(c.task))
    except (KeyError, TypeError, ValueError):
        return None, True
    return name, higher_is_better(name)


def card_metadata(c: CardInputs) -> ModelCardData:
    """The YAML front matter: library, tags, and a ``model-index`` entry per test metric with
    a finite value (its interval in ``args``)."""
    task_type = str(c.task.get("task_type", "unknown"))
    test = c.metrics.get("test") or {}
    results = []
    for metric, cell in metric_cells(test).items():
        value = cell["value"]
        if not isinstance(value, (int, float)) or value != value:
            continue
        args = {"ci95": cell["ci95"], "ci_level": test.get("ci_level"),
                "ci_method": cell["ci_method"], "n": test.get("n")}
        results.append(EvalResult(
            task_type=HF_TASKS.get(task_type, task_type),
            task_name=f"{task_type} ({', '.join(c.targets)})",
            dataset_type=Path(c.source).stem, dataset_name=c.source, dataset_split="test",
            dataset_revision=c.splits.get("data_hash"), metric_type=metric, metric_name=metric,
            metric_value=value, metric_args={k: v for k, v in args.items() if v is not None}))
    tags = ["scifm", *(str(c.meta[k]) for k in ("modality", "family") if c.meta.get(k)),
            task_type, *c.targets]
    return ModelCardData(library_name="scifm", tags=list(dict.fromkeys(tags)),
                         model_name=c.run_name, eval_results=results or None,
                         metrics=list(metric_cells(test)) or None)


def render_card(run: RunFiles, name: str | None = None) -> str:
    """The card's text (front matter + Markdown) for ``run``.

    Raises
    ------
    RunDirError
        As :func:`read_card_inputs`; or the run has no task (a pretraining run, whose
        checkpoint keeps the card ``scifm pretrain`` wrote).
    """
    c = read_card_inputs(run, name)
    if not c.task:
        raise RunDirError(f"{run.root} is not a supervised run (model/scifm.json has no task): "
                          "a pretrained checkpoint keeps the card `scifm pretrain` wrote")
    primary, higher = _primary(c)
    test = metric_cells(c.metrics.get("test"))
    headline = (f" Test {primary}: {_value(test, primary)}." if primary in test else "")
    body = [f"# {c.run_name}", "",
            f"A `{c.meta.get('family', 'unknown')}` model trained with scifm on "
            f"`{c.source}`.{headline} Generated from the run directory by `scifm card`; "
            "every number below is read from its files.", "",
            *model_section(c), *data_section(c), *split_section(c), *metrics_section(c),
            *compression_section(c), *uncertainty_section(c), *fairness_section(c),
            *privacy_section(c), *intended_use_section(c), *limitations_section(c, primary, higher),
            *usage_section(c)]
    text = f"---\n{card_metadata(c).to_yaml()}\n---\n\n" + "\n".join(body).rstrip() + "\n"
    return str(ModelCard(text, ignore_metadata_errors=False))


def _value(cells: dict[str, dict[str, Any]], name: str | None) -> str:
    cell = cells.get(name or "") or {}
    ci = cell.get("ci95")
    return fmt(cell.get("value")) + (f" (95% CI [{fmt(ci[0])}, {fmt(ci[1])}])" if ci else "")


def write_card(run: RunFiles, name: str | None = None) -> Path:
    """Write the card to ``model/README.md`` atomically and hash it into the model's manifest.

    Returns
    -------
    Path
        The card's path.
    """
    text = render_card(run, name)
    path = Path(run.model) / CARD
    atomic_write_text(path, text)
    update_manifest(run.model, CARD)
    return path
