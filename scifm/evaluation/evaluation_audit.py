"""The audit of ``scifm evaluate``: is the "new" set new to the run's model?

An evaluation set that holds the run's training or validation rows scores what the model has
seen, so its metrics overstate performance on new data. :func:`audit_table` and
:func:`audit_tokens` compare the evaluated rows with the run's own rows, with the keys the split
audit (:mod:`scifm.data.leakage`) uses:

* exact duplicates after canonicalisation (the canonical input record, further input columns
  included; a sentence / sequence as its words for token classification), counted per split of
  the run (train and validation rows were trained on or chose the model; the run's test rows were
  not, which is fair but is said);
* the nearest-neighbour similarity of each new row to the train + validation rows, measured by
  the modality plug-in's ``nn_similarity`` (ECFP4 Tanimoto for SMILES, k-mer Jaccard for
  sequences; none for text), and the share of new rows at or over :data:`NEAR_DUPLICATE`;
* the metrics with confidence intervals on the rows not seen in training / validation
  (``test_new_only``), when there are at least :data:`MIN_NEW_ROWS` of them.

The run's rows are not stored in the run directory: they are read back from the training data
file (``data.path`` of ``model/scifm.json``), cleaned with the run's settings and split as
``splits.json`` says; its data hash must match. When the file is gone or changed the evaluation
still runs, with one warning that the audit could not be done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig, SplitConfig
from scifm.data.clean import CleanDataset, clean_table
from scifm.data.datapoints import primary_strings
from scifm.data.io import read_table
from scifm.data.leakage import similarity_summary
from scifm.data.splitting import load_splits
from scifm.errors import ScifmError
from scifm.privacy.redaction import redact_frame
from scifm.rundir import RunDir

__all__ = ["MAX_QUERY", "MIN_NEW_ROWS", "NEAR_DUPLICATE", "SEEN_WARN_SHARE", "NoReference",
           "audit_rows", "audit_table", "audit_tokens", "not_audited", "run_table_rows",
           "run_token_rows"]

logger = logging.getLogger(__name__)

NEAR_DUPLICATE = 0.8
"""Similarity at or over which a new row is a near-duplicate (as in the split audit)."""
SEEN_WARN_SHARE = 0.10
"""A share of near-duplicates among the new rows at or over this is a warning."""
MIN_NEW_ROWS = 10
"""Fewest new rows with metrics of their own."""
MAX_QUERY = 2000
"""At most this many new rows (seeded sample) are compared with train + validation."""
SPLITS = ("train", "val", "test")

Score = Callable[[np.ndarray], dict[str, Any]]
"""``score(positions) -> metrics with CIs`` of a subset of the evaluated rows."""


class NoReference(ScifmError):
    """The run's training rows cannot be read back (file gone or changed)."""


def audit_rows(new: Sequence[Hashable], reference: dict[str, Sequence[Hashable]],
               score: Score, *, modality: str | None = None, seed: int = 0,
               unit: str = "rows") -> dict[str, Any]:
    """Audit evaluated rows against the run's ``train`` / ``val`` / ``test`` rows.

    Parameters
    ----------
    new
        The evaluated rows' keys (canonical datapoints, or tuples of words).
    reference
        The run's rows per split, keyed the same way.
    score
        Metrics of a subset of the evaluated rows (``test_new_only``).
    modality
        Its ``nn_similarity`` measures near-duplicates (None: exact duplicates only).

    Returns
    -------
    dict
        ``n``, ``n_train`` / ``n_val`` / ``n_test`` (evaluated rows identical to a row of that
        split; train first), ``n_seen`` (train + val), ``n_new``, ``nn_similarity`` (or None),
        ``test_new_only`` (when some rows were seen and enough are new), ``warnings``,
        ``notes``.
    """
    where = {}
    for split in ("test", "val", "train"):  # train wins over val wins over test
        where.update(dict.fromkeys(reference.get(split, ()), split))
    seen_in = np.array([where.get(x, "") for x in new], dtype=object)
    counts = {f"n_{s}": int((seen_in == s).sum()) for s in SPLITS}
    n, n_seen = len(new), counts["n_train"] + counts["n_val"]
    new_idx = np.flatnonzero((seen_in != "train") & (seen_in != "val"))
    out: dict[str, Any] = {"available": True, "n": n, **counts, "n_seen": n_seen,
                           "n_new": int(len(new_idx)), "unit": unit, "nn_similarity": None,
                           "warnings": [], "notes": []}
    if modality is not None:
        ref = [x for s in ("train", "val") for x in reference.get(s, ())]
        out["nn_similarity"] = _similarity([new[i] for i in new_idx], ref, modality, seed,
                                           out["notes"])
    if n_seen and len(new_idx) >= MIN_NEW_ROWS:
        out["test_new_only"] = score(new_idx)
    _explain(out)
    return out


def _similarity(query: list[Any], ref: list[Any], modality: str, seed: int,
                notes: list[str]) -> dict[str, Any] | None:
    """Nearest train + validation neighbour of each new row (the split audit's measure)."""
    sim = MODALITIES.get(modality).nn_similarity
    if sim is None:
        notes.append(f"near-duplicate detection is not implemented for {modality}; only exact "
                     "duplicates after canonicalisation are counted")
        return None
    if not query or not ref:
        return None
    sampled = len(query) > MAX_QUERY
    if sampled:
        pick = np.random.default_rng(int(seed) % 2**32).choice(len(query), MAX_QUERY,
                                                               replace=False)
        query = [query[i] for i in np.sort(pick)]
    values = np.asarray(sim.fn(primary_strings(query), primary_strings(ref)), dtype=float)
    summary = similarity_summary(values)
    return {"metric": sim.metric.replace("test", "new").replace("train", "train + validation"),
            "name": sim.name, "items": sim.items, "n": len(values), "sampled": sampled,
            "threshold": NEAR_DUPLICATE,
            **{k: summary[k] for k in ("mean", "q05", "q25", "median", "q75", "q95",
                                       "histogram")},
            "frac_near_duplicate": float((values >= NEAR_DUPLICATE).mean()),
            "n_near_duplicate": int((values >= NEAR_DUPLICATE).sum())}


def _explain(out: dict[str, Any]) -> None:
    """The audit's warnings and notes, in words."""
    n, n_seen, n_new, unit = out["n"], out["n_seen"], out["n_new"], out["unit"]
    if n_seen:
        tail = (f"metrics on the {n_new} new {unit} are reported beside them"
                if "test_new_only" in out else
                f"too few new {unit} ({n_new} < {MIN_NEW_ROWS}) for metrics of their own")
        out["warnings"].append(
            f"{n_seen} of {n} evaluated {unit} ({n_seen / n:.0%}) are training/validation "
            f"{unit} of this run (identical after canonicalisation: {out['n_train']} train, "
            f"{out['n_val']} validation): the metrics on all {unit} overstate performance on "
            f"new data; {tail}")
    elif n:
        out["notes"].append(f"none of the {n} evaluated {unit} is a training/validation "
                            f"{unit[:-1] if unit.endswith('s') else unit} of this run")
    if out["n_test"]:
        out["notes"].append(f"evaluated {unit} that are this run's own test {unit}: "
                            f"{out['n_test']} (not trained on: fair to score, but not new data)")
    sim = out.get("nn_similarity")
    if sim and sim["frac_near_duplicate"] >= SEEN_WARN_SHARE:
        est = "about " if sim["sampled"] else ""
        out["warnings"].append(
            f"{est}{sim['frac_near_duplicate']:.0%} of the {n_new} new {unit} have a "
            f"training/validation neighbour with {sim['name']} >= {NEAR_DUPLICATE} "
            "(near-duplicates): the new rows are close to what the model was trained on")


def not_audited(reason: str) -> dict[str, Any]:
    """The audit when the run's rows could not be read back: one warning says why."""
    return {"available": False, "reason": reason, "nn_similarity": None, "notes": [],
            "warnings": [f"the evaluated rows were not checked against this run's training "
                         f"data ({reason}): the metrics may include training rows"]}


@contextmanager
def _quiet() -> Any:
    """Reading the training data again should not repeat its warnings in this command's log."""
    data_logger = logging.getLogger("scifm.data")
    level = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        data_logger.setLevel(level)


def _locate(path: str | Path | None, run: RunDir) -> Path:
    """The training data file: as recorded, then relative to the run directory's parents."""
    if not path:
        raise NoReference("the run records no training data file")
    p = Path(path)
    tries = [p] if p.is_absolute() else [p, *(d / p for d in list(run.root.resolve().parents)[:3])]
    for candidate in tries:
        if candidate.is_file():
            return candidate
    raise NoReference(f"training data file {p} not found")


def _saved_privacy(run: RunDir) -> dict[str, Any]:
    """The ``privacy`` section of the run's saved config (runs whose model predates the
    ``redaction`` entry of ``scifm.json``); empty when unreadable."""
    try:
        saved = yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return saved.get("privacy") or {}


def run_table_rows(run: RunDir, meta: dict[str, Any]) -> dict[str, list[Any]]:
    """The run's canonical input records per split, read back from its training data file.

    Raises
    ------
    NoReference
        No file recorded, not found, unreadable, or changed since training (data hash).
    """
    ds, splits = run_dataset(run, meta)
    return {s: [ds.inputs[i] for i in splits[s]] for s in SPLITS}


def run_dataset(run: RunDir, meta: dict[str, Any]) -> tuple[CleanDataset, dict[str, np.ndarray]]:
    """The run's cleaned data set (inputs and labels) and its split indices, read back from its
    training data file and ``splits.json``.

    Raises
    ------
    NoReference
        No file recorded, not found, unreadable, or changed since training (data hash).
    """
    data = dict(meta.get("data") or {"modality": meta["modality"]})
    group = meta.get("group_col")  # a mitigated run (scifm audit) reads its group column too
    if group and isinstance(data.get("input_col"), list):
        data["input_col"] = [c for c in data["input_col"] if c != group]
    path = _locate(data.get("path"), run)
    try:
        cfg = DataConfig.model_validate({**data, "path": path})
        with _quiet():
            frame = redact_frame(read_table(path, cfg.format), cfg.input_cols,
                                 meta.get("redaction") or _saved_privacy(run))[0]
            ds = clean_table(frame, cfg, source=str(path)).dataset
            splits = load_splits(run.splits, ds)
    except (OSError, ValueError, ScifmError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "data hash differs" in msg:
            msg = f"training data file {path} has changed since training (data hash differs)"
        raise NoReference(msg) from None
    return ds, splits


def run_token_rows(run: RunDir, meta: dict[str, Any]) -> dict[str, list[tuple[str, ...]]]:
    """The run's sentences / sequences (as tuples of words) per split, read back from its files
    and split again as the run did (its ``splits.json`` ids must match).

    Raises
    ------
    NoReference
        Files gone or changed, or no saved config / split.
    """
    from scifm.data.tokens import load_token_data, token_splits

    data = dict(meta.get("data") or {})
    updates = {k: _locate(data.get(k), run) for k in ("path", "val_path", "test_path")
               if k == "path" or data.get(k)}
    try:
        saved = yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}
        ids = json.loads(run.splits.read_text(encoding="utf-8"))["ids"]
        cfg = DataConfig.model_validate({**data, **updates})
        split_cfg = SplitConfig.model_validate(saved.get("split") or {})
        with _quiet():
            tokens = load_token_data(cfg, split_cfg)
            splits = token_splits(tokens, split_cfg, int(saved.get("seed", 0)))
    except (OSError, KeyError, ValueError, ScifmError) as err:
        raise NoReference(f"the run's token data could not be read again: {err}") from None
    if any([tokens.ids[i] for i in splits[s]] != ids.get(s) for s in SPLITS):
        raise NoReference(f"training data file {updates['path']} has changed since training "
                          "(its rows no longer match splits.json)")
    return {s: [tuple(tokens.words[i]) for i in splits[s]] for s in SPLITS}


def audit_table(run: RunDir, meta: dict[str, Any], inputs: Sequence[Any], score: Score,
                seed: int = 0) -> dict[str, Any]:
    """The audit of an evaluated table (:func:`audit_rows`), or :func:`not_audited`."""
    try:
        reference = run_table_rows(run, meta)
    except NoReference as err:
        return _logged(not_audited(str(err)))
    return _logged(audit_rows(list(inputs), reference, score, modality=meta["modality"],
                              seed=seed))


def audit_tokens(run: RunDir, meta: dict[str, Any], words: Sequence[Sequence[str]],
                 score: Score, unit: str) -> dict[str, Any]:
    """The audit of evaluated token data: exact duplicate sentences / sequences only."""
    try:
        reference = run_token_rows(run, meta)
    except NoReference as err:
        return _logged(not_audited(str(err)))
    out = audit_rows([tuple(w) for w in words], reference, score, unit=unit)
    out["notes"].append("token classification: only exact duplicate "
                        f"{unit} are counted (no near-duplicate similarity)")
    return _logged(out)


def _logged(audit: dict[str, Any]) -> dict[str, Any]:
    """Log the warnings at INFO: the CLI prints them (in colour) after the metrics."""
    for line in audit["warnings"]:
        logger.info("evaluation audit: %s", line)
    return audit
