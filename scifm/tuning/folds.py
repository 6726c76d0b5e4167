"""The cross-validation folds of a search (``scifm tune`` / ``scifm auto``) over the pool.

The pool is train + val (the test rows never reach a search). ``automl.tune.cv`` says how its
folds are made:

* ``auto`` (default) - grouped by the modality's grouping key whenever it has one (SMILES:
  Bemis-Murcko scaffold; sequences: similarity clusters), whatever the outer split - predefined
  and random splits included - so that the search tunes for new groups, not for interpolation;
  else stratified (single-task classification) or random.
* ``grouped`` - the same, but a modality without a grouping key is an error.
* ``stratified`` / ``random`` - ungrouped folds (``stratified`` falls back to ``random`` when the
  labels do not allow it).

Grouped folds are a balanced group k-fold (:func:`balanced_group_folds`): whole groups go to
folds, largest first, each to the fold that stays least filled in rows and, for classification,
in each class; so no group is ever in two folds, the folds are balanced in size and, where the
groups allow it, every fold's validation part holds every class. With fewer groups than folds
the search falls back to stratified / random folds, and the description says why.

The folds' groups may differ from the outer split's (``ModalitySpec.fold_groups``): an acyclic
molecule has an empty Bemis-Murcko scaffold, and the acyclic molecules share no ring system, so
each is a group of its own in the folds. Grouped together (as the outer scaffold split does,
after Chemprop), they are one group too large to balance: FreeSolv's 577 train+val molecules made
folds of 320 / 152 / 35 / 35 / 35 rows, the 320 acyclic ones in one fold.

:func:`search_folds` returns the folds and a one-line description (``"5-fold CV grouped by
scaffold (217 groups)"``) that the log, ``leaderboard.csv``, ``metrics.json`` and the report
show.
"""

from __future__ import annotations

import logging

import numpy as np

from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanDataset
from scifm.data.splitting import dataset_groups, fold_group_method, kfold_indices
from scifm.errors import ConfigError, DataError
from scifm.tuning.objective import subset

logger = logging.getLogger(__name__)

Folds = list[tuple[np.ndarray, np.ndarray]]
"""``(train, valid)`` positions into the pool, one pair per fold."""


def search_pool(splits: dict[str, np.ndarray]) -> np.ndarray:
    """The rows a search may see: train + val positions, sorted (never a test row)."""
    return np.sort(np.concatenate([splits["train"], splits["val"]]))


def search_folds(dataset: CleanDataset, pool: np.ndarray,
                 cfg: ExperimentConfig) -> tuple[Folds, str]:
    """The k folds of a search over ``pool`` (positions into ``dataset``), chosen by
    ``automl.tune.cv``, and their one-line description (also logged).

    Raises
    ------
    ConfigError
        ``cv: grouped`` for a modality without a grouping key.
    DataError
        Fewer pool rows than folds.
    """
    tc = cfg.automl.tune
    k, seed = tc.folds, cfg.seed
    pool = np.asarray(pool, dtype=np.int64)
    if len(pool) < k:
        raise DataError(f"cannot make {k} folds from {len(pool)} train+val rows")
    method = (fold_group_method(dataset.modality, cfg.split.method)
              if tc.cv in ("auto", "grouped") else None)
    if method is None and tc.cv == "grouped":
        raise ConfigError(f"automl.tune.cv 'grouped' needs inputs with a grouping key, not "
                          f"{dataset.modality}; use auto, stratified or random")
    reason = ""
    if method is not None:
        groups = dataset_groups(dataset, method, seed, cfg.split.similarity_threshold,
                                folds=True)[pool]
        n_groups = len(np.unique(groups))
        if n_groups >= k:
            folds = balanced_group_folds(groups, k, seed, _class_labels(dataset, pool))
            return _logged(folds, f"{k}-fold CV grouped by {method} ({n_groups} groups)",
                           dataset, pool)
        reason = f"only {n_groups} {method} groups for {k} folds"
    plain, why = _plain_method(dataset, pool, k, "random" if tc.cv == "random" else "stratified")
    reason = "; ".join(r for r in (reason, why) if r)
    folds = kfold_indices(subset(dataset, pool), plain, k, seed)
    text = f"{k}-fold CV {plain}" + (f" ({reason})" if reason else "")
    if method is not None:
        logger.warning("cross-validation not grouped: %s", reason)
    return _logged(folds, text, dataset, pool)


def _plain_method(dataset: CleanDataset, pool: np.ndarray, k: int,
                  wanted: str) -> tuple[str, str]:
    """``stratified`` when asked for and the labels allow it, else ``random``; and why not."""
    if wanted == "random":
        return "random", ""
    task = dataset.task
    if not task.is_classification or task.n_tasks != 1:
        return "random", ""  # stratification needs one classification target
    y = dataset.y[pool, 0]
    if np.isnan(y).any():
        return "random", "unstratified: some labels missing"
    if np.unique(y, return_counts=True)[1].min() < k:
        return "random", f"unstratified: a class has fewer than {k} rows"
    return "stratified", ""


def _class_labels(dataset: CleanDataset, pool: np.ndarray) -> np.ndarray | None:
    """``(rows, tasks)`` labels of a classification task (NaN: missing), else None."""
    return dataset.y[pool] if dataset.task.is_classification else None


def _logged(folds: Folds, text: str, dataset: CleanDataset, pool: np.ndarray) -> tuple[Folds,
                                                                                        str]:
    sizes = [len(va) for _, va in folds]
    logger.info("cross-validation: %s on %d train+val rows (fold sizes %s)", text, len(pool),
                ", ".join(map(str, sizes)))
    labels = _class_labels(dataset, pool)
    if labels is not None:
        for j, col in enumerate(dataset.task.target_cols):
            classes = set(np.unique(labels[~np.isnan(labels[:, j]), j]))
            short = [i for i, (_, va) in enumerate(folds)
                     if set(np.unique(labels[va, j][~np.isnan(labels[va, j])])) < classes]
            if short:
                logger.warning("cross-validation folds %s lack a class of '%s' (too few groups "
                               "of it); a score undefined there is left out of the mean",
                               short, col)
    return folds, text


def _group_profiles(inverse: np.ndarray, n_groups: int,
                    labels: np.ndarray | None) -> np.ndarray:
    """``(groups, strata)`` counts of each (task, class) pair per group (no columns without
    labels)."""
    if labels is None:
        return np.zeros((n_groups, 0))
    labels = np.asarray(labels, dtype=float).reshape(len(inverse), -1)
    cols = []
    for j in range(labels.shape[1]):
        known = ~np.isnan(labels[:, j])
        for c in np.unique(labels[known, j]):
            hit = known & (labels[:, j] == c)
            cols.append(np.bincount(inverse[hit], minlength=n_groups))
    return np.stack(cols, axis=1).astype(float) if cols else np.zeros((n_groups, 0))


def balanced_group_folds(groups: np.ndarray, n_folds: int, seed: int,
                         labels: np.ndarray | None = None) -> Folds:
    """Balanced group k-fold: ``(train, valid)`` positions into ``groups``; no group is split.

    Groups go largest first (ties in seeded random order) to the fold with the smallest
    ``rows / target + sum over the group's classes of share * class rows / class target``,
    i.e. the least filled fold in rows and in the group's classes; then a fold missing a class
    takes the smallest group of that class from the fold holding most of it, where that fold
    keeps the class. ``labels`` (``(rows,)`` or ``(rows, tasks)``, NaN missing) are those of a
    classification task, None otherwise.
    """
    groups = np.asarray(groups)
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    if n_groups < n_folds:
        raise DataError(f"only {n_groups} groups; cannot make {n_folds} folds")
    sizes = np.bincount(inverse, minlength=n_groups).astype(float)
    profile = _group_profiles(inverse, n_groups, labels)
    order = np.random.default_rng(int(seed) % 2**32).permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    class_target = np.maximum(profile.sum(axis=0) / n_folds, 1e-9)
    share = profile / sizes[:, None]
    where = np.empty(n_groups, dtype=np.int64)
    fill, class_fill = np.zeros(n_folds), np.zeros((n_folds, profile.shape[1]))
    for g in order:
        cost = (fill + sizes[g]) / (len(groups) / n_folds) + \
            ((class_fill + profile[g]) / class_target) @ share[g]
        f = int(np.argmin(cost))
        where[g] = f
        fill[f] += sizes[g]
        class_fill[f] += profile[g]
    _give_missing_classes(where, profile, sizes, n_folds)
    fold_of = where[inverse]
    idx = np.arange(len(groups))
    return [(idx[fold_of != f], idx[fold_of == f]) for f in range(n_folds)]


def _give_missing_classes(where: np.ndarray, profile: np.ndarray, sizes: np.ndarray,
                          n_folds: int) -> None:
    """Move groups (in place) so that every fold holds every class that has at least
    ``n_folds`` groups, taking from the fold with most of that class only groups it can spare
    (it keeps the class, and keeps at least one group)."""
    for c in range(profile.shape[1]):
        has = profile[:, c] > 0
        if has.sum() < n_folds:
            continue
        for f in range(n_folds):
            if (has & (where == f)).any():
                continue
            counts = np.bincount(where[has], minlength=n_folds)
            donor = int(np.argmax(counts))
            if counts[donor] < 2 or (where == donor).sum() < 2:
                continue
            movable = np.flatnonzero(has & (where == donor))
            where[movable[np.argmin(sizes[movable])]] = f


__all__ = ["Folds", "balanced_group_folds", "search_folds", "search_pool"]
