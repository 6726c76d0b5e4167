"""Combining the searched families (``scifm auto``): a weighted average and a stacker, each
kept only when better out of fold, then built from the refitted families.

* :func:`choose_combination` — on the out-of-fold (OOF) predictions of the best families: the
  greedy weighted average (:func:`scifm.tuning.ensembling.choose_ensemble`) and the cross-fitted
  stacker (:func:`scifm.tuning.stacking.choose_stacking`), scored on the same folds as the best
  single family;
* :meth:`Combination.winner` — the stacker if it holds up against the best single family (not
  beaten by more than one standard error of the paired fold differences,
  :func:`scifm.tuning.ensembling.holds_up`) and beats the weighted average, else the weighted
  average if it holds up, else that family;
* :func:`fit_combined` — both saved predictors (``families/ensemble/``, ``families/stacking/``)
  from the refitted members, scored on test like any family;
* :func:`selection_note` — the sentence the report gives the choice.

The test set plays no part in any of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.models.ensemble import EnsemblePredictor
from scifm.models.fitting import save_and_score
from scifm.models.registry import load_predictor
from scifm.models.stacked import StackedPredictor
from scifm.tuning.ensembling import EnsembleChoice, choose_ensemble
from scifm.tuning.ranking import clearly_better
from scifm.tuning.stacking import StackChoice, choose_stacking, oof_comparison

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset
    from scifm.evaluation.scoring import FamilyResult
    from scifm.rundir import RunDir
    from scifm.tasks import TaskSpec

__all__ = ["COMBINED", "ENSEMBLE", "STACKING", "Combination", "choose_combination",
           "fit_combined", "on_validation_rows", "selection_note"]

ENSEMBLE = "ensemble"
STACKING = "stacking"
COMBINED = (ENSEMBLE, STACKING)
"""Names of the combined models (not families of the search)."""


@dataclass
class Combination:
    """The weighted average and the stacker decided out of fold."""

    ensemble: EnsembleChoice
    stack: StackChoice | None = None
    rows: np.ndarray | None = None
    """Dataset positions of the rows the combinations were chosen on, when those are the
    validation rows (a holdout search); None after a k-fold search on train+val."""

    def winner(self, best_single: str) -> str:
        """``stacking``, ``ensemble`` or ``best_single``: the best out of fold."""
        if self.stack is not None and self.stack.keep:
            return STACKING
        return ENSEMBLE if self.ensemble.keep else best_single

    def outranked(self, family: str, score: float, higher_is_better: bool,
                  fold_scores: np.ndarray | None = None) -> None:
        """``family`` ranks first but is none of the members (its best trial did not fit every
        fold, so it has no full out-of-fold predictions to combine): a combination it beats is
        not kept, so the winner is not a mix of weaker families (ESOL seed 2: linear + kNN,
        1.23 out of fold, chosen over a forest at 0.90 scored on two folds; test 1.41 against
        0.94). With its ``fold_scores`` (k-fold CV) it must beat the combination on those folds
        with the confidence it needed to rank first
        (:func:`scifm.tuning.ranking.clearly_better`); without (ranked on the validation rows),
        its ``score`` must be better than the combination's cross-fitted mean."""
        if family in self.members() or score != score:
            return
        for choice in (self.ensemble, self.stack):
            if choice is None or not choice.keep:
                continue
            theirs = np.asarray(choice.fold_scores, dtype=np.float64)
            if fold_scores is not None:
                beaten = clearly_better(fold_scores, theirs, higher_is_better)
            else:
                mean = float(np.nanmean(theirs)) if np.isfinite(theirs).any() else float("nan")
                beaten = not (mean > score if higher_is_better else mean < score)
            if beaten:
                choice.keep = False

    def built(self) -> list[str]:
        """The combined models that have two or more members (built and tested)."""
        out = [ENSEMBLE] if len(self.ensemble.weights) > 1 else []
        return out + ([STACKING] if self.stack is not None and self.stack.meta else [])

    def members_of(self, name: str) -> list[str]:
        """The families combined by ``ensemble`` or ``stacking``."""
        if name == ENSEMBLE:
            return list(self.ensemble.weights)
        return list(self.stack.members) if self.stack is not None else []

    def members(self) -> set[str]:
        """Families the combined models need refitted."""
        return set(self.ensemble.weights) | set(self.stack.members if self.stack else [])

    def cv(self, name: str) -> tuple[float, float]:
        """Cross-fitted OOF (mean, std) of ``ensemble`` or ``stacking``."""
        choice = self.ensemble if name == ENSEMBLE else self.stack
        assert choice is not None
        return choice.cv_mean, choice.cv_std

    def held_out(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(dataset rows, predictions)`` of ``name``'s cross-fitted predictions on the
        validation rows it was chosen on (each row predicted by weights / a meta-model fitted
        without it; rows no fold predicted left out), for calibrating its uncertainty: its final
        weights were fitted on those rows, so its own predictions there are optimistic. None
        for a single family or after a k-fold search."""
        choice = {ENSEMBLE: self.ensemble, STACKING: self.stack}.get(name)
        if self.rows is None or choice is None or choice.cross_fitted is None:
            return None
        done = np.isfinite(choice.cross_fitted).all(axis=1)
        return self.rows[done], choice.cross_fitted[done]

    def comparison(self, winner: str) -> list[dict[str, Any]]:
        """The OOF comparison rows of the report (best single, weighted average, stacker)."""
        return oof_comparison(self.ensemble, self.stack, winner, ENSEMBLE, STACKING)


def choose_combination(cfg: ExperimentConfig, task: TaskSpec, y: np.ndarray,
                       oof: dict[str, np.ndarray], metric: str, higher_is_better: bool,
                       folds: list[tuple[np.ndarray, np.ndarray]]) -> Combination:
    """Both combinations of the ``oof`` families (best first; every fold predicted), as
    ``automl.auto.ensemble`` / ``stacking`` allow."""
    ac = cfg.automl.auto
    if not oof:
        return Combination(EnsembleChoice({}))
    ensemble = (choose_ensemble(task, y, oof, metric, higher_is_better, folds,
                                ac.ensemble_rounds) if ac.ensemble else EnsembleChoice({}))
    stack = (choose_stacking(task, y, oof, metric, higher_is_better, folds, seed=cfg.seed,
                             ensemble=ensemble if ac.ensemble else None)
             if ac.stacking else None)
    return Combination(ensemble, stack)


def on_validation_rows(task: TaskSpec, y_pool: np.ndarray, pool: np.ndarray, val: np.ndarray,
                       oof: dict[str, np.ndarray], cv: dict[str, float], metric: str,
                       higher_is_better: bool,
                       ) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """The common ground of k-fold and holdout searches (``FamilySearch.holdout``): each
    family's out-of-sample predictions of the outer split's validation rows (``val``, sorted
    dataset positions; ``pool`` the sorted train+val positions ``oof`` rows follow), the
    families ranked by their score there (a family that left some of those rows unpredicted,
    its CV trial cut by the time budget, by its ``cv`` score instead), and the labels."""
    from scifm.evaluation.metrics import compute_metrics

    pos = np.searchsorted(pool, val)
    y, sub = y_pool[pos], {f: p[pos] for f, p in oof.items()}

    def key(family: str) -> float:
        value = (float(compute_metrics(task, y, sub[family])[metric])
                 if np.isfinite(sub[family]).all() else cv.get(family, np.nan))
        return np.inf if value != value else (-value if higher_is_better else value)

    return sorted(sub, key=key), sub, y


def fit_combined(comb: Combination, results: dict[str, FamilyResult], cfg: ExperimentConfig,
                 ds: CleanDataset, splits: dict[str, np.ndarray], run: RunDir,
                 ) -> dict[str, FamilyResult]:
    """The built combinations from the refitted members in ``results``: saved, evaluated."""
    out: dict[str, FamilyResult] = {}
    for name in comb.built():
        names = comb.members_of(name)
        if any(f not in results for f in names):  # a member was not refitted (time budget)
            continue
        members = {f: results[f].predictor if results[f].predictor is not None  # in memory
                   else load_predictor(results[f].run.model) for f in names}
        model: Any
        if name == ENSEMBLE:
            model = EnsemblePredictor(ds.task, cfg.data.modality, members, comb.ensemble.weights)
            extra = {"weights": model.weights}
        else:
            assert comb.stack is not None
            model = StackedPredictor(ds.task, cfg.data.modality, members, comb.stack.meta)
            extra = {"meta": comb.stack.coefficients}
        fit_s = sum(results[f].fit_seconds for f in names)
        result = save_and_score(name, model, cfg, ds, splits, run.family(name), fit_s,
                                extra=extra)
        result.history = []
        out[name] = result
    return out


WITHIN_SE = ("; the best single family's score is a maximum over many trials and families on "
             "these rows: choosing it, cross-fitted, does not beat the combination by more than "
             "one standard error of the paired fold differences, so the combination is preferred")


def _behind(combined: float, single: float, higher_is_better: bool) -> bool:
    return combined < single if higher_is_better else combined > single


def selection_note(winner: str, comb: Combination, metric: str, best_single: str,
                   cv_single: float, higher_is_better: bool = True) -> str:
    """Why ``winner`` was selected, in one sentence for the report (``higher_is_better``: the
    metric's direction)."""
    ens, stack = comb.ensemble, comb.stack
    if winner == STACKING and stack is not None:
        note = (f"Selected: the stacking ensemble of {', '.join(stack.members)} (cross-fitted "
                f"out-of-fold {metric} {stack.cv_mean:.4f} vs the best single family "
                f"{stack.best_single} {stack.single_mean:.4f}")
        if len(ens.weights) > 1:
            note += f" and the weighted average {ens.cv_mean:.4f}"
        if _behind(stack.cv_mean, stack.single_mean, higher_is_better):
            note += WITHIN_SE
    elif winner == ENSEMBLE:
        weights = json.dumps({f: round(w, 3) for f, w in ens.weights.items()})
        note = (f"Selected: the weighted-average ensemble {weights} (cross-fitted out-of-fold "
                f"{metric} {ens.cv_mean:.4f} vs the best single family {ens.best_single} "
                f"{ens.single_mean:.4f}")
        if _behind(ens.cv_mean, ens.single_mean, higher_is_better):
            note += WITHIN_SE
    else:
        note = (f"Selected: the single family {best_single} (best out-of-fold {metric} "
                f"{cv_single:.4f}")
        if len(ens.weights) > 1:
            note += f"; the weighted average scored {ens.cv_mean:.4f} cross-fitted"
        if stack is not None and stack.meta:
            note += f"; stacking {stack.cv_mean:.4f}"
        if comb.built() and best_single not in comb.members():
            note += (f", combinations of other families not better than {best_single}'s score, "
                     "so reported but not selected")
        elif comb.built():
            note += (", beaten by choosing the best single family (cross-fitted) by more than "
                     "one standard error of the paired fold differences, so reported but not "
                     "selected")
    return note + "); the test set played no part in the choice."
