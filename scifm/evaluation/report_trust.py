"""The report's "Uncertainty & applicability domain" section (from ``metrics.json["uncertainty"]``,
:mod:`scifm.trust.measures`): coverage and width of the conformal intervals, calibration before
and after with a reliability diagram, prediction-set coverage and size, how well the
uncertainty ranks the errors, and the error by similarity to the training set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scifm.evaluation.plots import new_figure, safe_figure, to_svg
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, fig, kv, num, table, value_ci

__all__ = ["privacy_section", "uncertainty_section"]


def _regression_rows(targets: Mapping[str, Any]) -> list[list[str]]:
    return [[esc(t), esc(m.get("method")) + (f" ({esc(m['difficulty'])})"
                                              if m.get("difficulty") else ""),
             value_ci(m.get("coverage")),
             value_ci(m.get("mean_width")), value_ci(m.get("spearman")),
             value_ci(m.get("auroc_worst10")), num(m.get("n"))]
            for t, m in targets.items() if "coverage" in m]


def _classification_rows(targets: Mapping[str, Any]) -> list[list[str]]:
    return [[esc(t), esc(m.get("calibrator")), value_ci(m.get("ece_before")),
             value_ci(m.get("ece_after")), value_ci(m.get("set_coverage")),
             num(m.get("mean_set_size")), value_ci(m.get("spearman")),
             value_ci(m.get("auroc_worst10")), num(m.get("n"))]
            for t, m in targets.items() if "set_coverage" in m]


@safe_figure
def reliability_diagram(target: str, m: Mapping[str, Any]) -> str:
    """Accuracy against confidence per bin, before and after calibration (one target)."""
    f = new_figure(4.2, 3.4)
    ax = f.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect")
    for key, colour, label in (("reliability_before", "#c44e52", "model"),
                               ("reliability_after", "#4c72b0", "calibrated")):
        bins = m.get(key) or []
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-",
                color=colour, ms=4, label=label)
    ax.set(xlabel="confidence of the predicted class", ylabel="accuracy", xlim=(0, 1),
           ylim=(0, 1.02), title=f"reliability: {target}")
    ax.legend(loc="lower right", fontsize=8)
    return to_svg(f)


def _domain(dom: Mapping[str, Any]) -> list[str]:
    out = ["<h3>Applicability domain</h3>",
           f"<p>Similarity of each test input to its nearest training input "
           f"({esc(dom.get('metric'))}). In domain: similarity ≥ {num(dom.get('threshold'))}, "
           f"the {num(100 * float(dom.get('quantile') or 0))}th percentile of the validation "
           "rows' similarities.</p>",
           kv([("test rows in domain", f"{100 * (dom.get('share_in_domain') or 0):.1f}%"),
               (f"mean {dom.get('error_kind')}, in domain", dom.get("error_in_domain")),
               (f"mean {dom.get('error_kind')}, out of domain", dom.get("error_out_of_domain"))])]
    bins = dom.get("by_similarity") or []
    if bins:
        out.append(table(("similarity", "test rows", f"mean {esc(dom.get('error_kind'))}"),
                         [[f"[{b['lo']:.1f}, {b['hi']:.1f})", num(b["n"]), num(b["error"])]
                          for b in bins]))
    return out


def uncertainty_section(d: ReportData) -> str:
    """Uncertainty & applicability domain (empty when the run has no uncertainty layer)."""
    u = d.uncertainty
    if not u:
        return ""
    out = ['<section id="uncertainty"><h2>Uncertainty &amp; applicability domain</h2>']
    if "skipped" in u:
        return "".join([*out, f"<p>Not fitted: {esc(u['skipped'])}.</p></section>"])
    level = f"{100 * float(u.get('confidence', 0)):.0f}%"
    out.append(f"<p>Fitted on the {num(u.get('n_calibration'))} validation rows after training "
               f"and measured on test: the {level} intervals / prediction sets should cover "
               f"{level} of the test rows. Spearman and AUROC (worst 10%): how well the "
               "uncertainty score ranks the absolute errors. Columns of the same name are "
               "written by <code>scifm predict</code>.</p>")
    targets = u.get("targets") or {}
    reg = _regression_rows(targets)
    if reg:
        out.append(table(("target", "method", f"coverage ({level})", "mean width",
                          "Spearman(unc, |err|)", "AUROC worst 10%", "n"), reg, "results"))
    cls = _classification_rows(targets)
    if cls:
        out.append(table(("target", "calibrator", "ECE before", "ECE after",
                          f"set coverage ({level})", "mean set size", "Spearman(unc, err)",
                          "AUROC worst 10%", "n"), cls, "results"))
        first = next(t for t, m in targets.items() if "set_coverage" in m)
        out.append(fig(reliability_diagram(first, targets[first])))
    skipped = [f"{t}: {m['skipped']}" for t, m in targets.items() if "skipped" in m]
    if skipped:
        out.append("<p>Not fitted: " + esc("; ".join(skipped)) + ".</p>")
    if u.get("domain"):
        out.extend(_domain(u["domain"]))
    out.append("</section>")
    return "".join(out)


def privacy_section(d: ReportData) -> str:
    """Privacy: PII redacted before training (counts per entity type) and the differential
    privacy guarantee of the fit (empty when neither applies)."""
    pii = d.data_report.get("pii_redacted")
    dp = {k: v for k, v in d.privacy.items() if k != "membership"}
    mem = d.privacy.get("membership")
    if not (pii or dp or mem):
        return ""
    out = ['<section id="privacy"><h2>Privacy</h2>']
    if pii:
        out.append("<p>PII was redacted from the inputs before anything was trained, logged, "
                   "tracked or written (<code>privacy.redact</code>); spans replaced:</p>")
        out.append(table(("entity type", "spans"),
                         [[esc(k), num(v)] for k, v in sorted(pii.items())]))
    if dp:
        out.append("<p>Trained with differential privacy (Opacus DP-SGD); the accountant's "
                   "guarantee:</p>")
        out.append(kv([(k, v) for k, v in dp.items() if not isinstance(v, (dict, list))]))
    if mem:
        out.append("<h3>Membership inference</h3><p>A loss-threshold attack tries to tell the "
                   f"{num(mem.get('n_members'))} training rows from "
                   f"{num(mem.get('n_nonmembers'))} test rows by the model's loss on them; "
                   "AUC 0.5 = no membership signal.</p>")
        out.append(table(("", ""), [["attack AUC", value_ci(mem.get("auc"))],
                                    ["advantage (max TPR − FPR)", num(mem.get("advantage"))]],
                         "kv"))
    out.append("</section>")
    return "".join(out)
