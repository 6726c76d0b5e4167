"""The sections of the model card (:mod:`scifm.trust.card`), one function each.

Every function takes the run's files as read by :func:`scifm.trust.card.read_card_inputs`
(:class:`CardInputs`) and returns Markdown lines. Numbers are formatted from the files with
:func:`fmt`; nothing is retyped, and a file or key that is absent gives a sentence saying so
("not measured", "not audited") instead of a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CardInputs", "data_section", "fairness_section", "fmt", "intended_use_section",
           "limitations_section", "metric_cells", "metrics_section", "model_section",
           "privacy_section", "split_section", "tree_lines", "uncertainty_section",
           "usage_section"]

_WIDE_CI = 0.2
"""A test interval wider than this (on a metric bounded by 0 and 1) is named in the limitations."""
_WIDE_RELATIVE = 0.5
"""An error metric's (``rmse``, ``mae``) test interval wider than this share of its value is
named in the limitations."""
_SMALL_TEST = 100
"""A test set with fewer rows is named in the limitations."""


@dataclass
class CardInputs:
    """The run files a card is built from (an absent file is an empty dict)."""

    run_name: str
    """Name of the run directory (the model's name in the card)."""
    meta: dict[str, Any]
    """``model/scifm.json``."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """``metrics.json``."""
    data_report: dict[str, Any] = field(default_factory=dict)
    """``data_report.json``."""
    splits: dict[str, Any] = field(default_factory=dict)
    """``splits.json`` (the row ids replaced by their counts)."""
    leakage: dict[str, Any] = field(default_factory=dict)
    """``leakage.json``."""
    audit: dict[str, Any] | None = None
    """``audit/audit.json`` (None: the run was not audited)."""

    @property
    def task(self) -> dict[str, Any]:
        return self.meta.get("task") or {}

    @property
    def targets(self) -> list[str]:
        return [str(t) for t in self.task.get("target_cols", [])]

    @property
    def input_col(self) -> str:
        data = self.meta.get("data") or {}
        return str(data.get("input_col") or self.data_report.get("input_col") or "input")

    @property
    def source(self) -> str:
        """File name of the training data (no folder: the card travels without it)."""
        src = self.data_report.get("source") or (self.meta.get("data") or {}).get("path") or ""
        return Path(str(src)).name if src else "unknown"


def fmt(value: Any) -> str:
    """A number as shown in the card: integers whole, floats to 4 significant digits, missing
    or non-finite values as ``n/a``."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return str(value)


def metric_cells(block: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The metrics of one ``metrics.json`` block: ``{name: {"value": x, "ci95": [lo, hi] |
    None, "ci_method": ...}}``; plain numbers (the validation block) get no interval, the
    counters ``n``, ``ci_level`` and ``n_bootstrap`` and nested blocks (``per_task``) are left
    out."""
    out: dict[str, dict[str, Any]] = {}
    for name, cell in (block or {}).items():
        if name in ("n", "ci_level", "n_bootstrap"):
            continue
        if isinstance(cell, Mapping) and "value" in cell:
            out[name] = {"value": cell["value"], "ci95": cell.get("ci95"),
                         "ci_method": cell.get("ci_method")}
        elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
            out[name] = {"value": cell, "ci95": None, "ci_method": None}
    return out


def _ci(cell: Mapping[str, Any] | None) -> str:
    ci = (cell or {}).get("ci95")
    if not ci or len(ci) != 2 or all(x is None for x in ci):
        return "n/a"
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def tree_lines(obj: Any, depth: int = 0, max_depth: int = 3) -> list[str]:
    """A JSON tree as nested Markdown bullets (``{value, ci95}`` cells on one line; lists of
    numbers longer than 8 and anything deeper than ``max_depth`` summarised)."""
    pad = "  " * depth
    lines: list[str] = []
    if not isinstance(obj, Mapping):
        return [f"{pad}- {_leaf(obj)}"]
    for key, value in obj.items():
        if isinstance(value, Mapping) and "value" in value:
            lines.append(f"{pad}- {key}: {fmt(value['value'])}"
                         + (f" (95% CI {_ci(value)})" if value.get("ci95") else ""))
        elif isinstance(value, Mapping):
            if not value:
                lines.append(f"{pad}- {key}: none")
            elif depth + 1 >= max_depth:
                lines.append(f"{pad}- {key}: {len(value)} entries (see the JSON file)")
            else:
                lines.append(f"{pad}- {key}:")
                lines.extend(tree_lines(value, depth + 1, max_depth))
        else:
            lines.append(f"{pad}- {key}: {_leaf(value)}")
    return lines


def _leaf(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        if len(value) > 8:
            return f"{len(value)} values"
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return fmt(value)


def model_section(c: CardInputs) -> list[str]:
    """Family, modality, task, targets and features."""
    task, m = c.task, c.metrics
    lines = ["## Model", "",
             f"- family: `{c.meta.get('family', 'unknown')}`",
             f"- modality: `{c.meta.get('modality', 'unknown')}` (input column `{c.input_col}`)",
             f"- task: {task.get('task_type', 'unknown')}",
             f"- targets: {', '.join(f'`{t}`' for t in c.targets) or 'none'}"]
    if task.get("classes"):
        lines.append(f"- classes: {', '.join(f'`{k}`' for k in task['classes'])}")
    if c.meta.get("features"):
        lines.append(f"- features: `{c.meta['features']}`")
    if isinstance(m.get("families"), Mapping) and len(m["families"]) > 1:
        lines.append(f"- selected on validation among: {', '.join(m['families'])}")
    return lines + [""]


def data_section(c: CardInputs) -> list[str]:
    """Input file, its hash, rows read / kept / rejected, per-target label counts."""
    r = c.data_report
    digest = r.get("source_sha256") or r.get("sha256") or r.get("file_sha256")
    lines = ["## Data provenance", "",
             f"- input file: `{c.source}`",
             f"- input file SHA-256: `{digest}`" if digest else
             "- input file SHA-256: not recorded by this run",
             f"- cleaned-data hash (SHA-256 over canonical inputs, labels and task, "
             f"`splits.json`): `{c.splits.get('data_hash', 'not recorded')}`",
             f"- rows read: {fmt(r.get('n_rows_in'))}; kept: {fmt(r.get('n_rows_out'))}; "
             f"rejected: {fmt(r.get('n_rejected'))} (listed with the reason in `rejected.csv`)",
             f"- invalid inputs: {fmt(r.get('n_invalid'))}; rows without any label: "
             f"{fmt(r.get('n_rows_all_labels_missing'))}; duplicate rows merged: "
             f"{fmt(r.get('n_duplicate_rows'))} (policy `{r.get('duplicate_policy', 'n/a')}`)"]
    for target, stats in (r.get("targets") or {}).items():
        if isinstance(stats, Mapping):
            shown = {k: v for k, v in stats.items() if not isinstance(v, (list, tuple))}
            lines.append(f"- target `{target}`: "
                         + "; ".join(f"{k} {_short(v)}" for k, v in shown.items()))
    lines += [f"- warning: {w}" for w in r.get("warnings", [])]
    return lines + [""]


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_leaf(v)}" for k, v in value.items()) + "}"
    return fmt(value)


def split_section(c: CardInputs) -> list[str]:
    """Split method and sizes, then the leakage audit of ``leakage.json``."""
    s, leak = c.splits, c.leakage
    sizes = leak.get("n") or {k: s[k] for k in ("train", "val", "test") if k in s}
    lines = ["## Split and leakage audit", "",
             f"- split: `{s.get('method', 'unknown')}` (seed {fmt(s.get('seed'))}); rows: "
             + ", ".join(f"{k} {fmt(v)}" for k, v in sizes.items())]
    if not leak:
        return lines + ["- leakage audit: not recorded (no `leakage.json`)", ""]
    dup = leak.get("exact_duplicates") or {}
    if dup:
        lines.append("- inputs found in two splits (after canonicalisation): "
                     + ", ".join(f"{k.replace('_', '/')} {fmt(v)}" for k, v in dup.items()))
    nn = leak.get("nn_similarity") or {}
    if nn:
        lines.append(f"- similarity of each test input to its nearest training input "
                     f"({leak.get('metric', 'similarity')}): median {fmt(nn.get('median'))}, "
                     f"5th-95th percentile {fmt(nn.get('q05'))}-{fmt(nn.get('q95'))}, "
                     f"share >= 0.8: {fmt(nn.get('frac_ge_0.8'))}, identical: "
                     f"{fmt(nn.get('frac_eq_1'))}")
    if leak.get("note"):
        lines.append(f"- note: {leak['note']}")
    lines += [f"- warning: {w}" for w in leak.get("warnings", [])]
    return lines + [""]


def metrics_section(c: CardInputs) -> list[str]:
    """Validation and test metrics with the test set's bootstrap intervals."""
    test, val = c.metrics.get("test") or {}, c.metrics.get("val") or {}
    t_cells, v_cells = metric_cells(test), metric_cells(val)
    if not t_cells and not v_cells:
        return ["## Metrics", "", "Not measured (no `metrics.json`).", ""]
    level = test.get("ci_level", 0.95)
    lines = ["## Metrics", "",
             f"Test set: {fmt(test.get('n'))} rows; {fmt(level * 100 if level else None)}% "
             f"intervals from {fmt(test.get('n_bootstrap'))} bootstrap resamples of the test "
             "rows (validation: point values, used for model selection).", "",
             "| metric | validation | test | test CI | CI method |", "|---|---|---|---|---|"]
    for name in dict.fromkeys([*t_cells, *v_cells]):
        t = t_cells.get(name)
        v = v_cells.get(name)
        lines.append(f"| {name} | {fmt(v['value']) if v else 'n/a'} | "
                     f"{fmt(t['value']) if t else 'n/a'} | {_ci(t)} | "
                     f"{(t or {}).get('ci_method') or 'n/a'} |")
    per_task = test.get("per_task") or {}
    for target, block in per_task.items():
        lines += ["", f"Test, target `{target}`:", "", "| metric | test | test CI |",
                  "|---|---|---|"]
        lines += [f"| {k} | {fmt(v['value'])} | {_ci(v)} |" for k, v in
                  metric_cells(block).items()]
    return lines + [""]


def uncertainty_section(c: CardInputs) -> list[str]:
    """Whatever ``metrics.json["uncertainty"]`` holds (coverage, widths, calibration)."""
    unc = c.metrics.get("uncertainty")
    if not unc:
        return ["## Uncertainty", "", "Not measured: this run reports no prediction intervals "
                "or calibration (`metrics.json` has no `uncertainty`).", ""]
    if isinstance(unc, Mapping) and unc.get("skipped"):
        rest = {k: v for k, v in unc.items() if k != "skipped"}
        return ["## Uncertainty", "", f"Not measured: {unc['skipped']}.", "",
                *(tree_lines(rest) + [""] if rest else [])]
    return ["## Uncertainty", "", *tree_lines(unc), ""]


def fairness_section(c: CardInputs) -> list[str]:
    """The summary of ``audit/audit.json`` (``scifm audit``)."""
    if c.audit is None:
        return ["## Fairness", "", "Not audited (no `audit/audit.json`; run `scifm audit` and "
                "then `scifm card` to add it).", ""]
    summary = c.audit.get("summary", c.audit)
    return ["## Fairness", "", *tree_lines(summary), ""]


def compression_section(c: CardInputs) -> list[str]:
    """The compressed variant this model is (``scifm compress``), if it is one."""
    comp = c.metrics.get("compression")
    if not isinstance(comp, Mapping):
        return []
    return ["## Compression", "", f"This model is the `{comp.get('chosen')}` variant of "
            f"`{comp.get('source_run')}` chosen by `scifm compress` (allowed drop of "
            f"{comp.get('metric')}: {fmt(comp.get('max_drop'))}). {comp.get('note', '')} "
            "Every variant measured is in the run's `compression.csv`.", ""]


def _redaction_lines(c: CardInputs) -> list[str]:
    red = c.meta.get("redaction")
    if not isinstance(red, Mapping):
        return []
    counts = c.data_report.get("pii_redacted") or {}
    found = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none found"
    return [f"PII redacted from the text inputs before training (entity types: "
            f"{', '.join(red.get('entities') or ['all supported'])}; spans replaced: {found}); "
            "new inputs are redacted the same way by predict, evaluate, serve and screen.", ""]


def privacy_section(c: CardInputs) -> list[str]:
    """Redaction of the inputs and the differential privacy budget, if any."""
    priv = c.metrics.get("privacy")
    if not isinstance(priv, Mapping) or priv.get("epsilon") is None:
        return ["## Privacy", "", *_redaction_lines(c), "Trained without differential "
                "privacy: no formal privacy guarantee for the training rows.", ""]
    extra = {k: v for k, v in priv.items() if k != "epsilon"}
    lines = ["## Privacy", "", *_redaction_lines(c), f"Trained with differential privacy: "
             "epsilon = "
             f"{fmt(priv['epsilon'])}" + (f", delta = {fmt(priv['delta'])}" if "delta" in priv
                                          else "") + "."]
    extra.pop("delta", None)
    return lines + ([""] + tree_lines(extra) if extra else []) + [""]


def intended_use_section(c: CardInputs) -> list[str]:
    """What the model is for, in the terms of its task."""
    targets = ", ".join(f"`{t}`" for t in c.targets) or "its targets"
    return ["## Intended use", "",
            f"Research use: predicting {targets} for `{c.meta.get('modality', 'unknown')}` "
            f"inputs like those of `{c.source}` (the training data), to rank or screen "
            "candidates before they are measured. Not validated for clinical, safety or "
            "regulatory decisions, nor for inputs outside the training data's domain.", ""]


def limitations_section(c: CardInputs, primary: str | None, higher: bool = True) -> list[str]:
    """Honest limits read from the run: domain, test size, a wide interval (of ``primary``,
    ``higher``: higher is better, the metric lies in [0, 1]), warnings."""
    test = c.metrics.get("test") or {}
    lines = ["## Limitations", ""]
    nn = (c.leakage.get("nn_similarity") or {})
    if nn.get("q05") is not None:
        lines.append(f"- Applicability domain: the test inputs' similarity to their nearest "
                     f"training input ran from {fmt(nn.get('q05'))} (5th percentile) to "
                     f"{fmt(nn.get('q95'))} (95th); the metrics describe inputs in that range "
                     "and predictions for less similar inputs are extrapolations.")
    domain = (c.metrics.get("uncertainty") or {}).get("domain") or {}
    if isinstance(domain, Mapping) and domain.get("threshold") is not None:
        lines.append(f"- Inputs less similar to the training inputs than "
                     f"{fmt(domain['threshold'])} ({domain.get('similarity', 'similarity')}) "
                     f"are out of the model's domain; {fmt(domain.get('share_in_domain'))} of "
                     "the test inputs were inside it.")
    n = test.get("n")
    if isinstance(n, int) and n < _SMALL_TEST:
        lines.append(f"- Small test set: {n} rows, so the metrics are uncertain (see the "
                     "intervals).")
    cell = metric_cells(test).get(primary or "")
    ci = (cell or {}).get("ci95")
    if cell and ci and all(isinstance(x, (int, float)) for x in [*ci, cell["value"]]) and (
            ci[1] - ci[0] > (_WIDE_CI if higher else _WIDE_RELATIVE * abs(cell["value"]))):
        lines.append(f"- Wide interval: test {primary} {fmt(cell['value'])}, 95% CI "
                     f"{_ci(cell)}.")
    lines += [f"- {w}" for w in c.metrics.get("warnings", [])]
    lines.append("- Trained on one data set and one split; performance on data from another "
                 "source, assay or distribution is unknown until it is evaluated "
                 "(`scifm evaluate`).")
    return lines + [""]


def usage_section(c: CardInputs) -> list[str]:
    """``scifm predict`` on the run directory (or a registered version)."""
    return ["## How to use", "", "```bash",
            f"scifm predict RUN_DIR --data new.csv --out predictions.csv   "
            f"# input column `{c.input_col}`",
            "scifm predict models:/NAME/VERSION --data new.csv --out predictions.csv  "
            "# once registered (`scifm register`)",
            "```", "",
            "The model folder's SHA-256 manifest is checked when it is loaded; invalid inputs get "
            "`status=invalid` and a reason instead of a prediction.", ""]
