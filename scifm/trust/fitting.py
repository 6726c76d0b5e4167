"""Give a trained run's model its uncertainty: the step ``train`` and ``auto`` share after the
model is selected.

The selected model (``run.model``) predicts the validation rows; the uncertainty layer
(:class:`~scifm.trust.uncertainty.Uncertainty`) is fitted on them and saved in
``model/uncertainty/``; the test rows measure it (:mod:`scifm.trust.measures`), their interval /
set / similarity columns are added to ``predictions_test.csv``, and the measures go to
``metrics.json`` under ``uncertainty``. The validation rows are held out of the fit in every
family (some early-stop on them: their residuals can be a little smaller than new rows', which
the test coverage shows).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scifm.evaluation.scoring import rows
from scifm.models import load_predictor
from scifm.trust.measures import uncertainty_measures
from scifm.trust.uncertainty import MIN_CALIBRATION, Uncertainty, predict_spread
from scifm.utils import progress
from scifm.utils.io import atomic_write_with

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset
    from scifm.models.base import Predictor
    from scifm.rundir import RunDir

logger = logging.getLogger(__name__)


def attach_uncertainty(cfg: ExperimentConfig, ds: CleanDataset, splits: dict[str, np.ndarray],
                       run: RunDir, predictor: Predictor | None = None,
                       held_out: tuple[np.ndarray, np.ndarray] | None = None,
                       ) -> dict[str, Any] | None:
    """Fit, save and measure the uncertainty layer of ``run.model`` (``predictor``: that model,
    already loaded; default: loaded from ``run.model``). ``held_out``: ``(dataset rows,
    predictions)`` of validation rows predicted without them (an ``auto`` combination chosen on
    the validation rows: its cross-fitted predictions); they replace the model's own
    predictions of those rows in the calibration.

    Returns
    -------
    dict or None
        What goes to ``metrics.json["uncertainty"]``: ``{"calibrated_on", "n_calibration",
        "confidence", "targets", "domain", "seconds"}`` (:func:`~scifm.trust.measures.
        uncertainty_measures`), ``{"skipped": reason}`` with too few validation rows, None when
        ``uncertainty.enabled`` is false.
    """
    ucfg = cfg.uncertainty
    if not ucfg.enabled:
        return None
    tr, va, te = splits["train"], splits["val"], splits["test"]
    if len(va) < MIN_CALIBRATION:
        reason = (f"{len(va)} validation rows (< {MIN_CALIBRATION}): no calibration set for "
                  "intervals, calibrated probabilities or the domain threshold")
        logger.warning("uncertainty: %s", reason)
        return {"skipped": reason}
    t0 = time.perf_counter()
    with progress.track("uncertainty: calibrating on the validation rows"):
        predictor = predictor or load_predictor(run.model)
        p_val, spread_val = predict_spread(predictor, rows(ds, va), ucfg.mc_dropout)
        p_val, note = _with_held_out(p_val, va, held_out)
        layer = Uncertainty.fit(ds.task, ucfg, cfg.data.modality, ds.y[va], p_val,
                                rows(ds, va), rows(ds, tr), seed=cfg.seed, spread_val=spread_val)
        layer.save(run.model)
    out: dict[str, Any] = {"calibrated_on": "validation" + note, "n_calibration": int(len(va))}
    if len(te):
        with progress.track("uncertainty: measuring on the test rows"):
            p_test, spread = predict_spread(predictor, rows(ds, te), layer.mc_dropout)
            applied = layer.apply(p_test, rows(ds, te), spread)
            out.update(uncertainty_measures(layer, ds.y[te], p_test, applied,
                                            cfg.eval.n_bootstrap, cfg.eval.ci, cfg.seed))
            _add_columns(run, layer.columns(applied))
    else:
        out["confidence"] = layer.confidence
    out["seconds"] = round(time.perf_counter() - t0, 2)
    logger.info("uncertainty: %s", summary_line(out))
    return out


def _with_held_out(p_val: np.ndarray, va: np.ndarray,
                   held_out: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, str]:
    """``p_val`` with the rows of ``held_out`` replaced, and what to add to ``calibrated_on``."""
    if held_out is None or not len(held_out[0]):
        return p_val, ""
    at = {int(r): i for i, r in enumerate(va)}
    hit = [(at[int(r)], i) for i, r in enumerate(held_out[0]) if int(r) in at]
    p_val = np.array(p_val, dtype=np.float64, copy=True)
    for i, j in hit:
        p_val[i] = np.reshape(held_out[1][j], np.shape(p_val[i]))
    return p_val, (f" ({len(hit)} of {len(va)} rows: cross-fitted predictions of the "
                   "combination chosen on them)")


def _add_columns(run: RunDir, cols: dict[str, np.ndarray]) -> None:
    """Append the layer's columns to ``predictions_test.csv`` (same row order)."""
    if not run.predictions_test.is_file():
        return
    frame = pd.read_csv(run.predictions_test)
    for name, values in cols.items():
        frame[name] = values
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))


def summary_line(u: dict[str, Any]) -> str:
    """One line: test coverage / set coverage and ECE of the first target, share in domain."""
    if "skipped" in u:
        return f"skipped ({u['skipped']})"
    parts = []
    for t, m in (u.get("targets") or {}).items():
        if "coverage" in m:
            parts.append(f"{t}: {u['confidence']:.0%} intervals cover "
                         f"{m['coverage']['value']:.1%} of test, mean width "
                         f"{m['mean_width']['value']:.3g} ({m.get('method')}"
                         f"{' by ' + m['difficulty'] if m.get('difficulty') else ''})")
        elif "set_coverage" in m:
            parts.append(f"{t}: sets cover {m['set_coverage']['value']:.1%}, ECE "
                         f"{m['ece_before']['value']:.3f} -> {m['ece_after']['value']:.3f} "
                         f"({m.get('calibrator')})")
        if parts:
            break
    dom = u.get("domain")
    if dom and dom.get("share_in_domain") is not None:
        parts.append(f"{dom['share_in_domain']:.0%} of test in domain")
    return "; ".join(parts) or "fitted"


def audit_membership(cfg: ExperimentConfig, ds: CleanDataset, splits: dict[str, np.ndarray],
                     run: RunDir) -> dict[str, Any] | None:
    """The membership-inference audit of ``run.model`` (:func:`scifm.privacy.membership.
    membership_audit`: loss on train rows vs test rows) when ``privacy.membership_audit`` or
    differential privacy is on; None otherwise."""
    pc = cfg.privacy
    tr, te = splits["train"], splits["test"]
    if not (pc.membership_audit or pc.dp.epsilon is not None) or not len(te):
        return None
    from scifm.privacy.membership import membership_audit

    with progress.track("membership-inference audit (train vs test rows)"):
        out = membership_audit(load_predictor(run.model), ds.task, rows(ds, tr), ds.y[tr],
                               rows(ds, te), ds.y[te], seed=cfg.seed,
                               n_bootstrap=cfg.eval.n_bootstrap)
    auc = out["auc"]
    logger.info("membership inference: attack AUC %.3f [%.3f, %.3f] (0.5 = no signal)",
                auc["value"], *auc["ci95"])
    return out
