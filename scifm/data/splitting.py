"""Seeded train / val / test splits that return positions into a :class:`CleanDataset`.

Methods (``SplitConfig.method``):

* ``random`` - a seeded permutation.
* ``stratified`` - keeps class proportions (single-task classification; otherwise falls back to
  ``random`` with a warning).
* ``scaffold`` (SMILES) - balanced Bemis-Murcko scaffold split as chemprop's
  ``scaffold_balanced``: rows sharing a scaffold never straddle splits; see
  :func:`assign_groups`.
* ``similarity`` - sequences whose k-mer Jaccard similarity reaches the threshold are grouped
  (:func:`scifm.data.leakage.similarity_groups`) and whole groups are assigned like scaffolds.
* ``predefined`` - a column of ``train`` / ``val`` (``valid``, ``validation``, ``dev``) /
  ``test``.

The groups of ``scaffold`` and ``similarity`` come from the modality's plug-in
(:mod:`scifm.modalities`), which says which group-aware methods it supports.

With ``SplitConfig.n_folds`` the test set is fold ``fold`` of a (group-aware) k-fold partition
and the validation set is carved from the remaining rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.config.schema import SplitConfig
from scifm.data.clean import CleanDataset
from scifm.data.datapoints import Datapoint, primary_strings
from scifm.data.io import require_columns
from scifm.errors import ConfigError, DataError
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_GROUPLESS = ("random", "stratified", "predefined")
_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
            "validation": "val", "dev": "val", "test": "test", "testing": "test"}


def _rng_seed(seed: int) -> int:
    return int(seed) % (2**32)


def dataset_groups(dataset: CleanDataset, method: str, seed: int = 0,
                   similarity_threshold: float = 0.9, folds: bool = False) -> np.ndarray:
    """Group ids for a group-aware method (``scaffold``, ``similarity``), from the modality's
    plug-in (:meth:`scifm.modalities.base.ModalitySpec.split_groups`) on the primary inputs
    (``folds``: those of a search's k-fold CV).

    Raises
    ------
    ConfigError
        The modality does not support ``method``.
    """
    return MODALITIES.get(dataset.modality).split_groups(
        method, primary_strings(dataset.inputs), seed, similarity_threshold, folds=folds)


def fold_group_method(modality: str, split_method: str) -> str | None:
    """The grouping key of a search's folds (and of a fold's inner early-stopping split): the
    outer split's when it is group-aware, else the modality's default grouping (its default
    split when that is grouped, else its first group-aware method); None when the modality has
    no grouping key."""
    spec = MODALITIES.get(modality)
    if split_method in spec.groups:
        return split_method
    if spec.default_split in spec.groups:
        return spec.default_split
    return next(iter(spec.groups), None)


def _grouped(method: str) -> bool:
    """Whether ``method`` keeps groups whole (any method but random, stratified, predefined;
    the modality's plug-in says which it supports)."""
    return method not in _GROUPLESS


def assign_groups(groups: np.ndarray, sizes: Sequence[float],
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign whole groups to train / val / test (chemprop's balanced scaffold procedure).

    Groups larger than half the val or test target size go first (in seeded random order), then
    the other groups in seeded random order; each goes to train while it fits, else to val while
    it fits, else to test. The order before shuffling is that of first appearance, and the
    shuffles use ``random.Random(seed)``, so with sizes (0.8, 0.1, 0.1) this reproduces the fixed
    scaffold splits of ``shared/data/splits`` (MoleculeNet / Chemprop v1 ``scaffold_balanced``)
    row for row (tested).
    """
    groups = np.asarray(groups)
    n = len(groups)
    target = np.asarray(sizes, dtype=float) * n
    _, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")
    members = np.split(order, np.cumsum(counts)[:-1])
    limits = [t / 2 for t in target[1:] if t > 0]
    is_big = np.array([any(c > lim for lim in limits) for c in counts], dtype=bool)
    rng = random.Random(seed)
    big, small = np.flatnonzero(is_big).tolist(), np.flatnonzero(~is_big).tolist()
    rng.shuffle(big)
    rng.shuffle(small)
    sequence = big + small
    out: list[list[np.ndarray]] = [[], [], []]
    filled = np.zeros(3)
    for g in sequence:
        size = counts[g]
        for k in range(2):
            if target[k] > 0 and filled[k] + size <= target[k] + 1e-9:
                break
        else:
            k = 2 if target[2] > 0 else min(
                (j for j in range(3) if target[j] > 0), key=lambda j: filled[j] / target[j])
        out[k].append(members[g])
        filled[k] += size
    _fill_empty_splits(out, target)
    return tuple(np.sort(np.concatenate(o)) if o else np.zeros(0, dtype=np.int64)
                 for o in out)  # type: ignore[return-value]


def _fill_empty_splits(out: list[list[np.ndarray]], target: np.ndarray) -> None:
    """Give an empty val/test split (asked for by ``sizes``) the smallest group of the largest
    other split. Only small data with a few big groups gets here; benchmark data never does."""
    for k in (1, 2):
        if target[k] <= 0 or out[k]:
            continue
        donors = [j for j in range(3) if j != k and len(out[j]) > 1]
        if not donors:
            continue
        donor = max(donors, key=lambda j: sum(len(m) for m in out[j]))
        i = min(range(len(out[donor])), key=lambda i: len(out[donor][i]))
        moved = out[donor].pop(i)
        out[k].append(moved)
        logger.warning("groups too large for the requested sizes: moved a group of %d rows from "
                       "%s to the empty %s split", len(moved), SPLIT_NAMES[donor],
                       SPLIT_NAMES[k])


SPLIT_NAMES = ("train", "val", "test")


def _counts(n: int, sizes: Sequence[float]) -> tuple[int, int, int]:
    n_val, n_test = (int(round(s * n)) for s in sizes[1:])
    n_val = max(n_val, 1) if sizes[1] > 0 and n >= 3 else n_val
    n_test = max(n_test, 1) if sizes[2] > 0 and n >= 3 else n_test
    return n - n_val - n_test, n_val, n_test


def _stratify_labels(dataset: CleanDataset) -> np.ndarray | None:
    task = dataset.task
    if not task.is_classification or task.n_tasks != 1:
        logger.warning("stratified split needs a single-task classification target (task: %s, "
                       "%d tasks); falling back to a random split", task.task_type, task.n_tasks)
        return None
    return dataset.y[:, 0].astype(int)


def _random_split(n: int, sizes: Sequence[float], seed: int) -> tuple[np.ndarray, ...]:
    n_train, n_val, _ = _counts(n, sizes)
    perm = np.random.default_rng(_rng_seed(seed)).permutation(n)
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def _stratified_split(labels: np.ndarray, sizes: Sequence[float],
                      seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    n = len(labels)
    _, n_val, n_test = _counts(n, sizes)
    idx = np.arange(n)
    try:
        rest, test = (train_test_split(idx, test_size=n_test, stratify=labels,
                                       random_state=_rng_seed(seed)) if n_test else (idx, idx[:0]))
        train, val = (train_test_split(rest, test_size=n_val, stratify=labels[rest],
                                       random_state=_rng_seed(seed)) if n_val else (rest, idx[:0]))
    except ValueError as err:
        logger.warning("stratified split impossible (%s); falling back to random", err)
        return _random_split(n, sizes, seed)
    return train, val, test


def _predefined(dataset: CleanDataset, cfg: SplitConfig, seed: int,
                frame: pd.DataFrame | None) -> tuple[np.ndarray, ...]:
    if cfg.n_folds is not None:
        raise ConfigError("split.n_folds cannot be combined with split.method 'predefined'")
    frame = dataset.extra if frame is None else frame
    require_columns(frame, [cfg.column], "the cleaned data")
    if len(frame) != len(dataset):
        raise ValueError(f"frame has {len(frame)} rows but the dataset has {len(dataset)}")
    raw = frame[cfg.column].tolist()
    names = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
             for v in raw]
    mapped = np.array([_ALIASES.get(v.lower(), "?") for v in names], dtype=object)
    unknown = sorted({v for v, m in zip(names, mapped, strict=True) if m == "?"})
    if unknown:
        shown = ", ".join(repr(v) if v else "<blank>" for v in unknown[:8])
        raise DataError(f"column '{cfg.column}' has unknown split values {shown}; use train, "
                        "val (or valid, validation, dev) or test")
    train, val, test = (np.flatnonzero(mapped == s) for s in SPLITS)
    if len(test) == 0 or len(train) == 0:
        raise DataError(f"column '{cfg.column}' has no "
                        f"{'test' if len(test) == 0 else 'train'} rows")
    if len(val) == 0 and cfg.sizes[1] > 0:
        frac = cfg.sizes[1] / (cfg.sizes[0] + cfg.sizes[1])
        perm = np.random.default_rng(_rng_seed(seed)).permutation(train)
        n_val = max(1, int(round(frac * len(train)))) if len(train) > 1 else 0
        val, train = perm[:n_val], perm[n_val:]
        logger.info("column '%s' has no val rows; carved %d random train rows as val",
                    cfg.column, n_val)
    return train, val, test


def kfold_indices(dataset: CleanDataset, method: str, n_folds: int, seed: int,
                  similarity_threshold: float = 0.9) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic k-fold ``(train, test)`` position pairs; groups are kept whole.

    ``random`` uses a shuffled ``KFold``, ``stratified`` a shuffled ``StratifiedKFold``
    (falling back to ``KFold``), ``scaffold`` / ``similarity`` a shuffled ``GroupKFold``.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    n = len(dataset)
    rs = _rng_seed(seed)
    idx = np.arange(n)
    if n < n_folds:
        raise DataError(f"cannot make {n_folds} folds from {n} rows")
    if method == "predefined":
        raise ConfigError("split.n_folds cannot be combined with split.method 'predefined'")
    labels = _stratify_labels(dataset) if method == "stratified" else None
    if _grouped(method):
        groups = dataset_groups(dataset, method, seed, similarity_threshold)
        if len(np.unique(groups)) < n_folds:
            raise DataError(f"only {len(np.unique(groups))} {method} groups; cannot make "
                            f"{n_folds} folds")
        folds = GroupKFold(n_splits=n_folds, shuffle=True, random_state=rs).split(idx,
                                                                                    groups=groups)
    elif labels is not None and np.bincount(labels).min() >= n_folds:
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=rs).split(idx, labels)
    else:
        if labels is not None:
            logger.warning("a class has fewer than %d rows; using unstratified folds", n_folds)
        folds = KFold(n_splits=n_folds, shuffle=True, random_state=rs).split(idx)
    return [(np.sort(tr), np.sort(te)) for tr, te in folds]


def _kfold_split(dataset: CleanDataset, cfg: SplitConfig, seed: int) -> tuple[np.ndarray, ...]:
    assert cfg.n_folds is not None
    rest, test = kfold_indices(dataset, cfg.method, cfg.n_folds, seed,
                               cfg.similarity_threshold)[cfg.fold]
    frac = cfg.sizes[1] / (cfg.sizes[0] + cfg.sizes[1])
    sub = (1.0 - frac, frac, 0.0)
    if _grouped(cfg.method):
        groups = dataset_groups(dataset, cfg.method, seed, cfg.similarity_threshold)[rest]
        tr, va, _ = assign_groups(groups, sub, seed)
    elif cfg.method == "stratified" and (labels := _stratify_labels(dataset)) is not None:
        tr, va, _ = _stratified_split(labels[rest], sub, seed)
    else:
        tr, va, _ = _random_split(len(rest), sub, seed)
    return rest[tr], rest[va], test


def make_split(dataset: CleanDataset, cfg: SplitConfig, seed: int,
               frame: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Split a dataset into train / val / test.

    Parameters
    ----------
    dataset
        The cleaned dataset.
    cfg
        Method, sizes, k-fold settings, predefined column, similarity threshold.
    seed
        All randomness comes from this seed.
    frame
        For ``predefined``: the table holding ``cfg.column`` aligned with ``dataset`` (default:
        ``dataset.extra``, the other columns kept by cleaning).

    Returns
    -------
    dict[str, numpy.ndarray]
        ``train``, ``val``, ``test``: sorted, disjoint positions into ``dataset`` covering all.
    """
    n = len(dataset)
    method = cfg.method
    if method == "predefined":
        parts = _predefined(dataset, cfg, seed, frame)
    elif cfg.n_folds is not None:
        parts = _kfold_split(dataset, cfg, seed)
    elif method == "stratified" and (labels := _stratify_labels(dataset)) is not None:
        parts = _stratified_split(labels, cfg.sizes, seed)
    elif method in ("random", "stratified"):
        parts = _random_split(n, cfg.sizes, seed)
    else:  # group-aware: the modality's plug-in gives the groups (ConfigError if it has none)
        groups = dataset_groups(dataset, method, seed, cfg.similarity_threshold)
        parts = assign_groups(groups, cfg.sizes, seed)
    splits = {name: np.sort(np.asarray(p, dtype=np.int64)) for name, p in zip(SPLITS, parts,
                                                                             strict=True)}
    if sum(len(v) for v in splits.values()) != n:
        raise AssertionError("split does not cover the dataset exactly")
    _check(dataset, splits, cfg)
    logger.info("%s split (seed %d): train %d, val %d, test %d", method, seed,
                *(len(splits[s]) for s in SPLITS))
    return splits


def _check(dataset: CleanDataset, splits: dict[str, np.ndarray], cfg: SplitConfig) -> None:
    if len(splits["train"]) == 0:
        raise DataError(f"the {cfg.method} split left no training rows (n={len(dataset)})")
    if cfg.method != "predefined":
        for k, name in ((1, "val"), (2, "test")):
            if cfg.sizes[k] > 0 and len(splits[name]) == 0 and cfg.n_folds is None:
                hint = " or one group is too large" if _grouped(cfg.method) else ""
                raise DataError(f"the {cfg.method} split left '{name}' empty although sizes ask "
                                f"for {cfg.sizes[k]:.0%} (n={len(dataset)}: too few rows{hint})")
    if dataset.task.is_classification:
        for name, pos in splits.items():
            for j, col in enumerate(dataset.task.target_cols):
                v = dataset.y[pos, j]
                present = np.unique(v[~np.isnan(v)])
                if len(pos) and len(present) < 2:
                    logger.warning("split '%s' has only one class for target '%s'", name, col)


def data_hash(dataset: CleanDataset) -> str:
    """sha256 over the canonical inputs, the labels and the task."""
    h = hashlib.sha256()
    h.update(json.dumps(dataset.task.to_dict(), sort_keys=True).encode())
    h.update("\n".join(primary_strings(dataset.inputs)).encode("utf-8"))
    extras = [d.extras for d in dataset.inputs if isinstance(d, Datapoint)]
    if any(extras):  # further input columns (none for one-column data: hash unchanged)
        h.update(json.dumps(extras, default=str).encode("utf-8"))
    y = np.ascontiguousarray(dataset.y, dtype=np.float64)
    h.update(np.where(np.isnan(y), np.nan, y).tobytes())
    return h.hexdigest()


def _splits_file(path: str | Path) -> Path:
    p = Path(path)
    return p if p.suffix == ".json" else p / "splits.json"


def save_splits(path: str | Path, splits: dict[str, np.ndarray], dataset: CleanDataset,
                method: str, seed: int) -> Path:
    """Write ``splits.json`` (a ``.json`` path, or a folder to write it into).

    The lists hold the original input-file row ids (``dataset.row_ids``), so the file stays
    readable next to the data; returns the written path.
    """
    out = _splits_file(path)
    doc = {"method": method, "seed": int(seed), "data_hash": data_hash(dataset),
           "n": len(dataset)}
    doc.update({s: dataset.row_ids[np.asarray(splits[s], dtype=np.int64)].tolist()
                for s in SPLITS})
    atomic_write_json(out, doc)
    return out


def load_splits(path: str | Path, dataset: CleanDataset) -> dict[str, np.ndarray]:
    """Read ``splits.json`` back as positions into ``dataset``.

    Raises
    ------
    DataError
        Missing file, or the file was made for different data (hash or row ids differ).
    """
    p = _splits_file(path)
    if not p.exists():
        raise DataError(f"splits file not found: {p}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{p.name} is not valid JSON: {err.msg}") from None
    if doc.get("data_hash") != data_hash(dataset):
        raise DataError(f"{p} was made for different data (data hash differs); re-split, or "
                        "use the same data file and cleaning options")
    where = {int(r): i for i, r in enumerate(dataset.row_ids)}
    try:
        return {s: np.sort(np.array([where[int(r)] for r in doc[s]], dtype=np.int64))
                for s in SPLITS}
    except KeyError as err:
        raise DataError(f"{p.name} refers to row {err} that is not in the dataset") from None


__all__ = ["assign_groups", "data_hash", "dataset_groups", "fold_group_method", "kfold_indices",
           "load_splits", "make_split", "save_splits"]
