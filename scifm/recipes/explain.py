"""Recipe: explain — a trained run directory + a data file -> attributions, their faithfulness
and a page.

Story: read the run's model and task → read the data, validate and canonicalise the inputs as the
model was trained (invalid rows are counted with their reasons, never dropped silently) →
attributions of every unit (atoms / residues / words) through the model's ``predict``: occlusion,
or sampled occlusion with ``method="sampling"`` (:mod:`scifm.trust.occlusion`: every model
family, transformers included), or Integrated Gradients for transformers with
``method="gradients"`` (Captum) → the deletion test
(:mod:`scifm.trust.faithfulness`) → the global view → write ``OUT/explain.json``,
``OUT/attributions.csv`` and ``OUT/explain.html``, staged in ``OUT.partial/`` and moved into
place when done (:mod:`scifm.staging`; an earlier explanation in ``OUT`` is replaced).

At most ``max_rows`` rows of the file (the first ones) are explained, bounding the time: each
input costs one prediction per unit plus ``1 + n_random`` for the deletion test.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.datapoints import Datapoint, reason_category
from scifm.data.io import read_table, require_columns
from scifm.data.validate import make_validator, validate_records
from scifm.errors import ConfigError, DataError
from scifm.evaluation.report import add_to_report
from scifm.modalities import get_modality
from scifm.models import load_predictor
from scifm.rundir import RunDir
from scifm.staging import staged
from scifm.tasks import TaskSpec
from scifm.trust.explain import (
    METHODS,
    Explanation,
    explain_records,
    global_view,
    integrated_gradients,
    target_index,
)
from scifm.trust.explain_page import explain_html
from scifm.trust.report_sections import explain_section, relative_link
from scifm.trust.tree_shap import tree_shap
from scifm.utils.io import atomic_write_json, atomic_write_text, refuse_overwriting_inputs

logger = logging.getLogger(__name__)

MASKING = ("atoms -> dummy atom '*' (RDKit RWMol), residues -> a neutral letter (N / X) or "
           "deleted, words -> deleted; every masked input is re-predicted by the model")
"""How units are masked, as ``explain.json`` says it."""


def explain(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path,
    input_col: str | None = None,
    target: str | None = None,
    max_rows: int = 500,
    max_examples: int = 50,
    fraction: float = 0.2,
    n_random: int = 5,
    seed: int = 0,
    n_bootstrap: int = 1000,
    method: str = "occlusion",
    n_samples: int = 128,
) -> dict[str, Any]:
    """Explain the run's predictions on ``data``; returns what ``OUT/explain.json`` holds.

    Keys: run, data, ``explained`` output, ``method``, ``unit``, row counts, ``invalid_reasons``
    / ``invalid_rows`` (first 20), ``faithfulness`` (:func:`scifm.trust.faithfulness.
    deletion_test`), ``global`` (:func:`scifm.trust.explain.global_view`), ``warnings``.

    Raises
    ------
    RunDirError
        ``run_dir`` is not a trained run directory.
    DataError
        The input column is missing or no row is valid.
    ConfigError
        A token-classification run, a bad ``--target`` or ``fraction``.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"--fraction must be between 0 and 1, got {fraction}")
    run = RunDir(Path(run_dir))
    meta = run.model_meta()
    if not isinstance(meta.get("task"), dict):  # token classification: one tag per token
        raise ConfigError("scifm explain explains one prediction per input; this run tags "
                          "tokens (token classification)")
    refuse_overwriting_inputs(out, {"the --data file": data, "the run's model": run.model})
    task = TaskSpec.from_dict(meta["task"])
    t = target_index(task, target)
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    rows = _read_rows(Path(data), data_cfg, input_col, max_rows)
    predictor = load_predictor(run.model)
    attribute = {"gradients": integrated_gradients, "shap": tree_shap}.get(method)
    expl = explain_records(predictor.predict, task, _units(meta["modality"], data_cfg),
                           rows.records, target=t, fraction=fraction, n_random=n_random,
                           seed=seed, n_bootstrap=n_bootstrap, method=method,
                           n_samples=n_samples, attribute=attribute and attribute(predictor))
    view = global_view(expl)
    summary = _summary(run, meta, task, str(data), rows, expl, view)
    row_ids = rows.row_ids
    with staged(out, kind="explanation", command="scifm explain") as tmp:
        atomic_write_json(tmp / "explain.json", summary)
        _attributions_frame(expl, row_ids).to_csv(tmp / "attributions.csv", index=False)
        atomic_write_text(tmp / "explain.html", explain_html(expl, view, summary, row_ids,
                                                             max_examples=max_examples))
    logger.info("explanation written to %s", out)
    add_to_report(run.report, explain_section(
        summary, relative_link(Path(out) / "explain.html", run.report)))
    return summary


@dataclass
class _Rows:
    """The rows read for an explanation."""

    records: list[Datapoint]
    """The valid inputs, validated and canonicalised."""
    row_ids: list[int]
    """0-based row of each valid input in the file."""
    invalid: list[dict[str, Any]]
    """``{"row", "reason"}`` of each invalid input."""
    n_rows: int
    """Rows in the file."""
    n_read: int
    """Rows read (at most ``max_rows``)."""


def _read_rows(data: Path, data_cfg: DataConfig, input_col: str | None,
               max_rows: int) -> _Rows:
    """Validate the first ``max_rows`` rows of ``data`` as the model was trained.

    Raises
    ------
    DataError
        A missing input column, or no valid row.
    """
    cols = [input_col or data_cfg.input_cols[0], *data_cfg.input_cols[1:]]
    frame = read_table(data, data_cfg.format)
    require_columns(frame, cols, data)
    n_rows = len(frame)
    frame = frame.iloc[:max_rows]
    records, reasons = validate_records(frame, data_cfg, cols)
    keep = [i for i, r in enumerate(reasons) if r is None]
    bad = [{"row": int(frame.index[i]), "reason": r} for i, r in enumerate(reasons) if r]
    if not keep:
        raise DataError(f"no valid input in the first {len(frame)} rows of {data} (column "
                        f"{cols[0]!r}); e.g. row {bad[0]['row']}: {bad[0]['reason']}"
                        if bad else f"{data} holds no rows")
    return _Rows(records=[records[i] for i in keep], row_ids=[int(frame.index[i]) for i in keep],
                 invalid=bad, n_rows=n_rows, n_read=len(frame))


def _summary(run: RunDir, meta: dict[str, Any], task: TaskSpec, data: str, rows: _Rows,
             expl: Explanation, view: dict[str, Any]) -> dict[str, Any]:
    """What ``explain.json`` holds (the deletion test without its per-input values)."""
    faith = {k: v for k, v in expl.faithfulness.items() if k != "per_input"}
    target = task.target_cols[expl.target]
    return {
        "run_dir": str(run.root), "data": data, "family": meta["family"],
        "modality": meta["modality"], "task": task.task_type, "target": target,
        "explained": expl.explained, "method": expl.method,
        "method_description": METHODS[expl.method], "masking": MASKING, "unit": expl.unit,
        "n_rows": rows.n_rows, "n_read": rows.n_read, "n_explained": len(rows.records),
        "n_invalid": len(rows.invalid),
        "invalid_reasons": dict(Counter(reason_category(b["reason"]) for b in rows.invalid)),
        "invalid_rows": rows.invalid[:20], "faithfulness": faith, "global": view,
        "warnings": _warnings(rows.n_rows, rows.n_read, len(rows.invalid), faith),
    }


def _units(modality: str, data_cfg: DataConfig):  # noqa: ANN202 - scifm.trust.occlusion.Units
    """The units of the run's modality (atoms, residues or words)."""
    from scifm.trust.occlusion import units_for

    return units_for(get_modality(modality), make_validator(modality, data_cfg))


def _attributions_frame(expl: Any, row_ids: list[int]) -> pd.DataFrame:
    """One row per explained input: row, input, explained output, units and attributions (JSON)."""
    return pd.DataFrame({
        "row_id": row_ids, "input": [str(r) for r in expl.records],
        "output": expl.base.tolist(),
        "units": [json.dumps(u) for u in expl.labels],
        "attributions": [json.dumps([round(float(a), 6) for a in attr])
                         for attr in expl.attributions],
    })


def _warnings(n_rows: int, n_read: int, n_bad: int, faith: dict[str, Any]) -> list[str]:
    """What a reader of the explanation should know first."""
    out = []
    if n_read < n_rows:
        out.append(f"only the first {n_read:,} of {n_rows:,} rows were explained (--max-rows)")
    if n_bad:
        out.append(f"{n_bad:,} invalid inputs were not explained (see invalid_rows)")
    top = (faith.get("top") or {}).get("value")
    if top is not None and top < 1e-3:
        out.append(f"masking the top-attributed units changes the output by {top:.2g} on "
                   "average: the model hardly reacts to its inputs, the attributions say little")
    ratio = (faith.get("ratio") or {}).get("value")
    if ratio is not None and ratio == ratio and ratio < 2:
        out.append(f"top-{100 * faith['fraction']:.0f}% deletion moves predictions only "
                   f"{ratio:.2f}x as much as random deletion (target: >= 2x)")
    return out
