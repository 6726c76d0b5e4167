"""Recipe: audit — is the model equally good for every group? (a fairness audit, Fairlearn).

Two sources of predictions:

* a run directory + a labelled file (``--data``): the run's model predicts the file, as in
  ``scifm evaluate`` (same cleaning; the group column is read from the file);
* a predictions file (``--predictions``: ``true_<target>``, ``prob_`` / ``pred_`` columns and
  the group column; :mod:`scifm.trust.audit_rows`) — no model needed, any tool's output.

The groups are a column or derived from the data (:mod:`scifm.trust.groups`: Bemis-Murcko
scaffold clusters, quantile bins); rows without a group are left out. The metrics, differences,
intervals and verdicts are :mod:`scifm.trust.fairness`'s. Writes ``OUT/audit.json`` and
``OUT/audit.html`` (default ``OUT``: ``RUN_DIR/audit/``; staged, an earlier audit there is
replaced).

``--mitigate equalized_odds | true_positive_rate_parity`` (binary targets with scores) fits
per-group thresholds with Fairlearn's ``ThresholdOptimizer`` (:mod:`scifm.trust.mitigation`),
writes them to ``OUT/thresholds.json`` with a before / after table (on the audited rows: the
thresholds were fitted on them, so "after" is optimistic) and, with a run directory and a group
column of the data, a mitigated run directory (``--mitigated-out``, default
``RUN_DIR-<constraint>``) whose ``thresholded`` model (:mod:`scifm.trust.thresholded`) reads the
group column with each input: ``scifm predict`` / ``evaluate`` / ``audit`` use it as any run.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from scifm.config.schema import DataConfig
from scifm.data.clean import clean_table
from scifm.data.io import read_table
from scifm.errors import ConfigError, DataError
from scifm.evaluation.report import add_to_report
from scifm.models import load_predictor
from scifm.rundir import RunDir
from scifm.staging import staged
from scifm.tasks import TaskSpec
from scifm.trust.audit_rows import AuditRows, rows_from_predictions
from scifm.trust.fairness import classification_fairness, regression_fairness
from scifm.trust.fairness_report import audit_page, before_after_table
from scifm.trust.groups import Grouping, make_groups, needed_column
from scifm.trust.mitigation import CONSTRAINTS, decide, fit_rule
from scifm.trust.report_sections import audit_section, relative_link
from scifm.trust.thresholded import ThresholdedPredictor
from scifm.utils.io import atomic_write_json, atomic_write_text, refuse_overwriting_inputs

logger = logging.getLogger(__name__)

RUN_FILES = ("config.yaml", "data_report.json", "splits.json", "leakage.json")
"""Files of the original run copied into a mitigated run directory (the model is new)."""


def audit(run_dir: str | Path | None, group_col: str, data: str | Path | None = None, *,
          predictions: str | Path | None = None, out: str | Path | None = None,
          target: str | None = None, positive: str | None = None, input_col: str | None = None,
          mitigate: str | None = None, mitigated_out: str | Path | None = None,
          tolerance: float | None = None, n_bootstrap: int = 1000,
          seed: int = 0) -> dict[str, Any]:
    """Audit the fairness of a run's (or a predictions file's) predictions across groups.

    Returns the audit (also ``OUT/audit.json``): ``{"title", "group_col", "target", "task",
    "n_rows", "fairness": {...} (:mod:`scifm.trust.fairness`), "group_labels", "notes",
    "mitigation": {...} | None, "summary": {...} (the short form `scifm card` shows)}``.

    Raises
    ------
    ConfigError
        Arguments that do not fit together (no source, ``--mitigate`` on a regression target).
    DataError
        A missing group column, a single group, no labelled row.
    """
    run = RunDir(Path(run_dir)) if run_dir else None
    _check_arguments(run, data, predictions, out, mitigate, mitigated_out, group_col)
    out_dir = Path(out) if out else run.root / "audit"  # type: ignore[union-attr]
    refuse_overwriting_inputs(out_dir, {"the --data file": data, "the --predictions file":
                                        predictions, "the run's model": run and run.model})
    meta = run.model_meta() if run else None
    if predictions:
        positive = positive or (_positive_class(meta, target) if meta else None)
        rows = rows_from_predictions(read_table(predictions), str(predictions), target, positive)
    else:
        rows = _rows_from_run(run, meta, Path(data), group_col, target, input_col)  # type: ignore
    rows, grouping = _grouped(rows, group_col)
    fairness = _fairness(rows, grouping.groups, tolerance, n_bootstrap, seed)
    source = Path(predictions or data).name  # type: ignore[arg-type]
    result: dict[str, Any] = {
        "title": f"{source}" + (f" with {run.root.name}" if run else ""),
        "group_col": group_col, "target": rows.target, "task": rows.task_type,
        "positive_class": rows.positive if rows.task_type == "binary" else None,
        "n_rows": len(rows.y), "fairness": fairness, "group_labels": grouping.labels,
        "notes": rows.notes, "mitigation": None}
    result["summary"] = _summary(result)
    rule = None
    if mitigate:
        rule, result["mitigation"] = _mitigate(rows, grouping, mitigate, fairness,
                                               tolerance, n_bootstrap, seed)
        where = "thresholds.json"
        if run is not None:
            dest = Path(mitigated_out) if mitigated_out else \
                run.root.with_name(f"{run.root.name}-{mitigate}")
            _write_mitigated_run(run, meta, rule, group_col, dest)  # type: ignore[arg-type]
            result["mitigation"]["run_dir"] = where = str(dest)
        result["summary"]["mitigation"] = f"{mitigate}: {where}"
    _write(out_dir, result, rule, run)
    return result


def _write(out_dir: Path, result: dict[str, Any], rule: dict[str, Any] | None,
           run: RunDir | None) -> None:
    """``audit.json``, ``audit.html`` (and ``thresholds.json``) in ``out_dir``, staged; the
    audit's summary in the run's report."""
    with staged(out_dir, kind="audit", command="scifm audit") as tmp:
        atomic_write_json(tmp / "audit.json", result)
        atomic_write_text(tmp / "audit.html", audit_page(result))
        if rule is not None:
            atomic_write_json(tmp / "thresholds.json", rule)
    logger.info("audit written to %s", out_dir)
    if run is not None:
        add_to_report(run.report, audit_section(
            result, relative_link(Path(out_dir) / "audit.html", run.report)))


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The short form of an audit (what ``scifm card`` shows)."""
    fairness = result["fairness"]
    return {"groups": f"{result['group_col']}: " + ", ".join(
                f"{g['group']} (n={int(g['count'])})" for g in fairness["groups"]),
            "target": result["target"], "rows": result["n_rows"],
            **{name: f"{d['value']:.3f} [{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]: "
                     f"{d['verdict']}" for name, d in fairness["differences"].items()}}


def _check_arguments(run: RunDir | None, data: Any, predictions: Any, out: Any,
                     mitigate: str | None, mitigated_out: Any, group_col: str) -> None:
    """One-line errors for arguments that do not fit together."""
    if predictions is None and (run is None or data is None):
        raise ConfigError("give a run directory and --data, or --predictions FILE")
    if predictions is not None and data is not None:
        raise ConfigError("give --data (the run predicts it) or --predictions, not both")
    if run is None and out is None:
        raise ConfigError("--out is needed without a run directory")
    if mitigate is not None and mitigate not in CONSTRAINTS:
        raise ConfigError(f"--mitigate {mitigate!r}: expected one of {', '.join(CONSTRAINTS)}")
    if mitigated_out is not None and (run is None or mitigate is None):
        raise ConfigError("--mitigated-out needs a run directory and --mitigate")
    if mitigate and run is not None and group_col.startswith("derived:"):
        raise ConfigError(f"--mitigate with --group-col {group_col}: a mitigated run reads each "
                          "row's group from a column of the data; derived groups have none")


def _positive_class(meta: dict[str, Any], target: str | None) -> str | None:
    task = TaskSpec.from_dict(meta["task"])
    return (task.classes or ["0", "1"])[1] if task.task_type == "binary" else None


def _target_index(task: TaskSpec, target: str | None) -> int:
    if task.task_type == "multiclass":
        raise ConfigError("the fairness audit supports binary and regression targets, not "
                          "multiclass ones")
    if target is None:
        if task.n_tasks > 1:
            raise ConfigError(f"the run predicts {task.n_tasks} targets "
                              f"({', '.join(task.target_cols)}): choose one with --target")
        return 0
    if target not in task.target_cols:
        raise ConfigError(f"--target {target!r}: the run predicts {', '.join(task.target_cols)}")
    return task.target_cols.index(target)


def _rows_from_run(run: RunDir, meta: dict[str, Any], data: Path, group_col: str,
                   target: str | None, input_col: str | None) -> AuditRows:
    """Clean ``data`` as the run was trained, predict it with the run's model."""
    task = TaskSpec.from_dict(meta["task"])
    j = _target_index(task, target)
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    updates: dict[str, Any] = {"path": data, "target_cols": task.target_cols,
                               "task": task.task_type}
    if input_col:
        updates["input_col"] = [input_col, *data_cfg.input_cols[1:]]
    data_cfg = data_cfg.model_copy(update=updates)
    table = read_table(data, data_cfg.format)
    column = needed_column(group_col)
    if column is not None and column not in table.columns:
        shown = ", ".join(map(str, list(table.columns)[:12]))
        raise DataError(f"--group-col {group_col}: no column {column!r} in {data.name}; "
                        f"columns: {shown}")
    ds = clean_table(table, data_cfg, source=str(data), task=task).dataset
    y_pred = np.asarray(load_predictor(run.model).predict(ds.inputs), dtype=float)
    frame = ds.extra.copy()
    for c in data_cfg.input_cols[1:]:  # a group column that is also an input of the model
        frame[c] = [d.get(c) for d in ds.inputs]
    keys = [d.primary for d in ds.inputs]
    y = ds.y[:, j]
    if task.task_type == "binary":
        rows = AuditRows("binary", task.target_cols[j], y, (y_pred[:, j] >= 0.5).astype(int),
                         y_pred[:, j], keys, frame, _positive_class(meta, None) or "1")
    else:
        rows = AuditRows("regression", task.target_cols[j], y, y_pred[:, j], None, keys, frame)
    labelled = np.isfinite(y)
    if not labelled.any():
        raise DataError(f"no labels in {data.name}: every {task.target_cols[j]} is empty")
    return rows.subset(labelled)


def _grouped(rows: AuditRows, group_col: str) -> tuple[AuditRows, Grouping]:
    """The rows that have a group, and their grouping; at least two groups."""
    grouping = make_groups(group_col, rows.frame, rows.keys)
    has = np.array([g is not None for g in grouping.groups], dtype=bool)
    if not has.all():
        rows = rows.subset(has)
        rows.notes.append(f"{int((~has).sum())} rows without a {group_col} value left out")
        grouping.groups = [g for g in grouping.groups if g is not None]
    found = sorted(set(grouping.groups))  # type: ignore[arg-type]
    if len(found) < 2:
        shown = f" ({found[0]!r})" if found else ""
        raise DataError(f"--group-col {group_col} has a single group{shown}: a fairness "
                        "audit compares at least two groups")
    return rows, grouping


def _fairness(rows: AuditRows, groups: list[Any], tolerance: float | None, n_bootstrap: int,
              seed: int, pred: np.ndarray | None = None,
              score: np.ndarray | None = None) -> dict[str, Any]:
    if rows.task_type == "regression":
        return regression_fairness(rows.y, rows.pred, groups, tolerance=tolerance or 0.2,
                                   n_bootstrap=n_bootstrap, seed=seed)
    return classification_fairness(rows.y, rows.pred if pred is None else pred, groups,
                                   rows.score if pred is None else score,
                                   tolerance=tolerance or 0.1, n_bootstrap=n_bootstrap,
                                   seed=seed)


def _mitigate(rows: AuditRows, grouping: Grouping, constraint: str, before: dict[str, Any],
              tolerance: float | None, n_bootstrap: int,
              seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the per-group thresholds; the audit of the thresholded decisions; the table."""
    if rows.task_type != "binary" or rows.score is None:
        raise ConfigError("--mitigate needs a binary target with predicted probabilities "
                          "(prob_<target>)")
    try:
        rule = fit_rule(rows.score, rows.y, grouping.groups, constraint)
    except ValueError as err:
        raise DataError(f"--mitigate {constraint}: {err}") from None
    keys = [f"{k}\x1f{g}" for k, g in zip(rows.keys, grouping.groups, strict=True)]
    decided = decide(rule, rows.score, grouping.groups, keys)
    after = _fairness(rows, grouping.groups, tolerance, n_bootstrap, seed, pred=decided)
    note = ("Thresholds fitted and evaluated on the same rows, so 'after' is optimistic: audit "
            "the mitigated run on new data. Decisions are randomised per row (the same row "
            "always gets the same one), as Fairlearn's ThresholdOptimizer prescribes.")
    return rule, {"constraint": constraint, "note": note, "after": after,
                  "table": before_after_table(before, after)}


def _write_mitigated_run(run: RunDir, meta: dict[str, Any], rule: dict[str, Any],
                         group_col: str, dest: Path) -> None:
    """A copy of the run whose model applies ``rule``; the group column is an extra input."""
    refuse_overwriting_inputs(dest, {"the run directory": run.root}, flag="--mitigated-out")
    data = dict(meta.get("data") or {"modality": meta["modality"]})
    cols = DataConfig.model_validate(data).input_cols
    if group_col not in cols:
        data["input_col"] = [*cols, group_col]
    info = {**meta, "data": data}
    model = ThresholdedPredictor(load_predictor(run.model), rule, group_col, info)
    with staged(dest, kind="mitigated run", command="scifm audit --mitigate") as tmp:
        for name in RUN_FILES:
            if (run.root / name).is_file():
                shutil.copy2(run.root / name, tmp / name)
        model.save(RunDir(tmp).model)
    logger.info("mitigated run written to %s (scifm predict reads its %r column)", dest,
                group_col)
