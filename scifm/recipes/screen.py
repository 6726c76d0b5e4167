"""Recipe: screen — rank a library of any size with a trained run; keep the best K per target.

The story: open the library (streamed in chunks, :mod:`scifm.screening.library`) -> score the
chunks that are not finished yet (worker processes, ``--engine local``, or Ray Data) and save
each in the state folder, duplicates marked (:mod:`scifm.screening.state`,
:mod:`scifm.screening.duplicates`) -> in cascade mode (``--fast RUN2``: RUN2 scored the
library), re-score the best fraction and a random sample with the full run and measure the
recall (:mod:`scifm.screening.cascade`) -> from the saved chunks: the rejects file, every scored
row (``--all-scores``), the best K per target (:mod:`scifm.screening.topk`) with their molecule
flags (:mod:`scifm.screening.filters`) -> ``hits``, the summary JSON; the state folder removed.

Memory stays flat: one window of chunks, K rows per target, the duplicate hashes (12-24 bytes per
distinct row) and, in cascade mode, the ``m`` re-scored and the sampled rows. An interrupted
screen continues from its last finished chunk when the same command runs again; its outputs are
the same as an uninterrupted run's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.io import require_columns
from scifm.errors import ConfigError, DataError, OutputError
from scifm.evaluation.chunks import ChunkJob
from scifm.models.registry import get_family
from scifm.privacy.redaction import redact_inputs
from scifm.rundir import RunDir
from scifm.screening.cascade import cascade_recall, rescore_count, sample_positions
from scifm.screening.duplicates import SeenHashes, hashes
from scifm.screening.filters import MoleculeFilters, parse_filters
from scifm.screening.hit_details import HitDetails
from scifm.screening.library import estimate_rows, library_chunks, library_format
from scifm.screening.scores import Direction, Target, score_targets, typed
from scifm.screening.scoring import ChunkScorer, engine
from scifm.screening.sinks import ParquetSink, RejectsSink, write_table
from scifm.screening.state import (
    ScreenState,
    library_fingerprint,
    model_fingerprint,
    state_folder,
)
from scifm.screening.summary import ScreenSummary, peak_rss_mb
from scifm.screening.topk import Keep, TopK
from scifm.tasks import TaskSpec
from scifm.trust.uncertainty import prediction_extras
from scifm.utils import progress
from scifm.utils.io import atomic_write_json, refuse_overwriting_inputs

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate: same canonical form as an earlier row"


@dataclass
class ScreenOptions:
    """The settings of ``scifm screen`` (the flags of the same names)."""

    top: int = 100
    targets: list[str] | None = None
    direction: Direction | None = None
    input_col: str | None = None
    id_col: str | None = None
    fmt: str = "auto"
    chunksize: int = 5_000
    workers: int = 0
    dedupe: bool = True
    filters: str | None = None
    """Comma-separated filter names, ``none``; None: every filter for a SMILES run."""
    exclude_flagged: bool = False
    all_scores: Path | None = None
    rejects: Path | None = None
    restart: bool = False
    fast: Path | None = None
    rescore_top: float = 0.05
    recall_sample: int = 2_000
    engine: str = "local"
    seed: int = 0


@dataclass
class _Model:
    run: RunDir
    task: TaskSpec
    data_cfg: DataConfig
    job: ChunkJob
    workers: int


def _model(run_dir: Path, input_col: str | None, id_col: str | None, workers: int,
           every_row: bool = True) -> _Model:
    run = RunDir(Path(run_dir))
    meta = run.model_meta()
    task = TaskSpec.from_dict(meta["task"])
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    if workers <= 0:  # torch kernels use every core already: one process
        workers = (os.cpu_count() or 1) if get_family(meta["family"]).uses_n_jobs else 1
    every_row = every_row or len(data_cfg.input_cols) > 1  # hits keep only the primary input
    job = ChunkJob(run.model, task, data_cfg, input_col or data_cfg.input_cols[0], id_col,
                   extras=prediction_extras if every_row else None)
    return _Model(run, task, data_cfg, job, workers)


@dataclass
class _Plan:
    library: Path
    fmt: str
    out: Path
    opts: ScreenOptions
    full: _Model
    fast: _Model | None
    targets: list[Target]
    filters: MoleculeFilters | None
    state: ScreenState
    rejects: Path
    summary_file: Path
    rescored: np.ndarray | None = None
    """Cascade: the row ids re-scored as candidates (set by :func:`_cascade`)."""

    @property
    def first(self) -> _Model:
        """The model that scores the whole library."""
        return self.fast or self.full

    def keep(self) -> Keep | None:
        """Lazy exclusion of flagged molecules (``--exclude-flagged``), else None."""
        return self.filters.keep if self.filters and self.opts.exclude_flagged else None


def _check_options(opts: ScreenOptions) -> None:
    if opts.top <= 0:
        raise ConfigError(f"--top {opts.top}: keep at least one hit (K >= 1)")
    if opts.chunksize <= 0:
        raise ConfigError(f"--chunksize {opts.chunksize}: must be >= 1")
    if not 0 < opts.rescore_top <= 1:
        raise ConfigError(f"--rescore-top {opts.rescore_top}: a fraction in (0, 1]")
    if opts.recall_sample < 0:
        raise ConfigError(f"--recall-sample {opts.recall_sample}: must be >= 0")


def _outputs(out: Path, opts: ScreenOptions, inputs: dict[str, Path | None]) -> tuple[Path, Path]:
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder: screen writes one hits file; name a file")
    rejects = opts.rejects or out.with_name(f"{out.stem}.rejects.csv")
    summary = out.with_name(f"{out.stem}.summary.json")
    files = {"--out": out, "--rejects": rejects, "--all-scores": opts.all_scores,
             "the summary": summary}
    seen: dict[Path, str] = {}
    for flag, path in files.items():
        if path is None:
            continue
        refuse_overwriting_inputs(path, inputs, flag)
        if path.resolve() in seen:
            raise OutputError(f"{flag} {path} is also {seen[path.resolve()]}: name another file")
        seen[path.resolve()] = flag
    return rejects, summary


def _plan(run_dir: Path, library: Path, out: Path, opts: ScreenOptions) -> _Plan:
    _check_options(opts)
    engine(opts.engine)  # an unknown engine (or Ray missing): one line before anything starts
    library, out = Path(library), Path(out)
    fmt = library_format(library, opts.fmt)
    if fmt == "smi" and opts.id_col is None:
        opts = replace(opts, id_col="id")  # the words after each SMILES
    every_row = opts.all_scores is not None  # else the uncertainty columns of the hits only
    full = _model(run_dir, opts.input_col, opts.id_col, opts.workers, every_row)
    fast = _model(opts.fast, opts.input_col, None, opts.workers, every_row) if opts.fast \
        else None
    if fast and (fast.task != full.task or fast.data_cfg.modality != full.data_cfg.modality
                 or len(full.data_cfg.input_cols) > 1):
        raise ConfigError(f"--fast {opts.fast}: a cascade needs two single-input runs of the "
                          "same modality, task and targets")
    if fast:
        fast.job.id_col = opts.id_col
        full.job.id_col = None  # re-scored rows keep the ids the first pass read
    rejects, summary = _outputs(out, opts, {"the --library file": library,
                                            "the run's model": full.run.model,
                                            "the --fast run's model": fast and fast.run.model})
    first = next(library_chunks(library, fmt, opts.chunksize, full.job.col))
    require_columns(first, full.job.cols + ([opts.id_col] if opts.id_col else []), library)
    if first.empty:
        raise DataError(f"{library.name} has no rows to screen")
    targets = score_targets(full.task, opts.targets, opts.direction)
    names = parse_filters(opts.filters, full.data_cfg.modality)
    if opts.exclude_flagged and not names:
        raise ConfigError("--exclude-flagged needs molecule filters (--filters pains,brenk,ro5)")
    fingerprint = {"model": model_fingerprint(full.run.model),
                   "fast": model_fingerprint(fast.run.model) if fast else None,
                   "library": library_fingerprint(library),
                   "options": {"fmt": fmt, "input_col": full.job.col, "id_col": opts.id_col,
                               "chunksize": opts.chunksize, "dedupe": opts.dedupe,
                               "filters": list(names), "exclude_flagged": opts.exclude_flagged,
                               "targets": [t.name for t in targets], "top": opts.top,
                               "direction": targets[0].direction, "seed": opts.seed,
                               "rescore_top": opts.rescore_top if fast else None,
                               "recall_sample": opts.recall_sample if fast else None}}
    state = ScreenState.open(state_folder(out), fingerprint, opts.restart)
    return _Plan(library, fmt, out, opts, full, fast, targets,
                 MoleculeFilters(names) if names else None, state, rejects, summary)


def _settler(plan: _Plan, seen: SeenHashes | None) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Marks the duplicates of each scored chunk (in stream order) and fixes column types."""
    task = plan.first.task

    def settle(frame: pd.DataFrame) -> pd.DataFrame:
        if seen is not None:
            ok = (frame["status"] == "ok").to_numpy()
            dup = np.zeros(len(frame), dtype=bool)
            dup[ok] = seen.add(hashes(frame.loc[ok, "canonical"].astype(str).tolist()))
            frame.loc[dup, "status"] = "duplicate"
            frame.loc[dup, "error"] = DUPLICATE
        return typed(frame, task)

    return settle


def _score_library(plan: _Plan) -> int:
    """Score every chunk of the library with the first model; returns the rows resumed."""
    seen = SeenHashes() if plan.opts.dedupe else None
    for frame in plan.state.frames("scored", ["canonical", "status"]):  # an earlier run's
        if seen is not None:
            seen.add(hashes(frame.loc[frame["status"] == "ok", "canonical"].astype(str)))
    model = plan.first
    scorer = ChunkScorer(model.job, engine(plan.opts.engine), model.workers, plan.state,
                         str(plan.library))
    total = estimate_rows(plan.library, plan.fmt)
    with progress.track(f"screening {plan.library.name}", total=total, unit="rows") as bar:
        def advance(n: int) -> None:
            bar.advance(n)
            if bar.total is not None and bar.completed > bar.total:
                bar.update(total=bar.completed)

        meta = model.run.model_meta()  # a run that redacted its text redacts the library too
        chunks = (redact_inputs(c, [model.job.col], meta) for c in
                  library_chunks(plan.library, plan.fmt, plan.opts.chunksize, model.job.col))
        resumed = scorer.run("scored", chunks, _settler(plan, seen), advance)
    if seen is not None:
        logger.info("%d distinct rows; duplicate table %.1f MiB", len(seen), seen.nbytes / 2**20)
    return resumed


def _score_rows(plan: _Plan, rows: pd.DataFrame, stage: str) -> None:
    """Score ``rows`` (``row_id``, ``input``, ...) with the full model into ``stage``'s files;
    the other columns of ``rows`` are kept, prefixed ``fast_``."""
    model = plan.full
    if rows.empty:
        return
    extra = rows.drop(columns=["row_id", "input"]).set_index(rows["row_id"].to_numpy())
    extra.columns = [c if c == "id" else f"fast_{c}" for c in extra.columns]
    source = rows[["input"]].rename(columns={"input": model.job.col})
    source.index = rows["row_id"].to_numpy()
    size = plan.opts.chunksize
    chunks = (source.iloc[i:i + size] for i in range(0, len(source), size))

    def settle(frame: pd.DataFrame) -> pd.DataFrame:
        more = extra.loc[frame["row_id"].to_numpy()].reset_index(drop=True)
        return typed(pd.concat([frame.reset_index(drop=True), more], axis=1), model.task)

    ChunkScorer(model.job, engine(plan.opts.engine), model.workers, plan.state,
                f"{plan.library.name} ({stage})").run(stage, chunks, settle)


def _cascade(plan: _Plan, n_scored: int) -> dict:
    """Re-score the best ``m`` rows per target and the recall sample with the full model, in
    one pass (one start of its workers; a row in both is scored once)."""
    opts, state = plan.opts, plan.state
    m = rescore_count(n_scored, opts.rescore_top, opts.top)
    cols = ["row_id", "input", "canonical", "status", *([] if not opts.id_col else ["id"]),
            *{t.column for t in plan.targets}]
    tops = [TopK(m, t, plan.keep()) for t in plan.targets]
    positions = sample_positions(n_scored, opts.recall_sample, opts.seed)
    sample, seen_ok = [], 0
    for frame in state.frames("scored", cols):
        ok = frame[frame["status"] == "ok"].drop(columns="status")
        for top in tops:
            top.add(ok)
        take = positions[(positions >= seen_ok) & (positions < seen_ok + len(ok))] - seen_ok
        sample.append(ok.iloc[take])
        seen_ok += len(ok)
    best = pd.concat([top.result().iloc[:, 3:] for top in tops], ignore_index=True)
    best = best.drop_duplicates("row_id").sort_values("row_id", ignore_index=True)
    keep = ["row_id", "input", *([] if not opts.id_col else ["id"]),
            *{t.column for t in plan.targets}]
    sample_ids = pd.concat(sample, ignore_index=True)[keep]
    both = pd.concat([best[keep], sample_ids]).drop_duplicates("row_id")
    _score_rows(plan, both.sort_values("row_id", ignore_index=True), "rescored")  # one pass
    plan.rescored = best["row_id"].to_numpy()
    frames = [f[f["row_id"].isin(sample_ids["row_id"])] for f in state.frames("rescored")]
    full_sample = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame({"row_id": [], "status": [], **{t.column: [] for t in plan.targets}})
    full_sample = full_sample[full_sample["status"] == "ok"]
    recall = cascade_recall(full_sample, plan.targets, best["row_id"].to_numpy(), n_scored,
                            opts.top, m)
    excluded = sum(top.n_excluded for top in tops)
    return {"fast_run": str(opts.fast), "rescore_top": opts.rescore_top, "m_per_target": m,
            "n_rescored": len(best), "n_excluded_flagged": excluded,
            "recall_sample": len(full_sample), "seed": opts.seed, "recall": recall}


def _count_scored(state: ScreenState) -> int:
    return sum(int((f["status"] == "ok").sum()) for f in state.frames("scored", ["status"]))


def _write_outputs(plan: _Plan, summary: ScreenSummary) -> list[TopK]:
    """Rejects, all scores and the top K per target, from the saved chunks."""
    opts = plan.opts
    tops = [TopK(opts.top, t, plan.keep()) for t in plan.targets]
    with RejectsSink(plan.rejects) as rejects, ParquetSink(opts.all_scores) as all_scores:
        for frame in plan.state.frames("scored"):
            status = frame["status"]
            summary.n_input += len(frame)
            summary.n_rejected += int((status == "invalid").sum())
            summary.n_duplicates += int((status == "duplicate").sum())
            rejects.write(frame.loc[status != "ok", ["row_id", "input", "error"]]
                          .rename(columns={"error": "reason"}))
            ok = frame[status == "ok"]
            summary.n_scored += len(ok)
            all_scores.write(ok.drop(columns=["status", "error"]))
            for top in [] if plan.fast else tops:
                top.add(ok)
    for frame in plan.state.frames("rescored") if plan.fast else ():
        for top in tops:  # the recall sample's rows were scored too: not candidates
            top.add(frame[(frame["status"] == "ok") & frame["row_id"].isin(plan.rescored)])
    return tops


def _hits(plan: _Plan, tops: list[TopK], summary: ScreenSummary) -> pd.DataFrame:
    parts, full = [], plan.full
    details = None if full.job.extras else HitDetails.of(full.run.model, full.task,
                                                         full.data_cfg, full.job.col)
    for top in tops:
        hits = top.result()
        hits = details.annotate(hits) if details else hits
        if plan.filters is not None and len(hits) and "flagged" not in hits.columns:
            hits = plan.filters.annotate(hits)
        first = hits.iloc[0] if len(hits) else None
        summary.targets[top.target.name] = {
            "score": top.target.column, "direction": top.target.direction, "n_hits": len(hits),
            "n_excluded_flagged": top.n_excluded,
            "top_hit": None if first is None else {"row_id": int(first["row_id"]),
                                                   "input": first["input"],
                                                   "score": float(first["score"])}}
        parts.append(hits)
    hits = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return typed(hits.drop(columns=["status", "error"], errors="ignore"), plan.full.task)


def screen(run_dir: str | Path, library: str | Path, out: str | Path,
           options: ScreenOptions | None = None) -> ScreenSummary:
    """Screen ``library`` with the model of ``run_dir``; write the best ``options.top`` rows
    per target to ``out`` (see the module doc and :class:`ScreenOptions`).

    ``out`` columns: ``target``, ``rank`` (1 = best), ``score``, then the prediction row
    (``row_id``, ``id``, ``input``, ``canonical``, ``pred_*`` / ``prob_*``, the uncertainty
    columns with ``nn_similarity`` and ``in_domain`` when the run has them) and the molecule
    flags (``pains``, ``brenk``, ``ro5_violations``, ``flagged``); cascade hits also carry the
    fast model's scores (``fast_*``).
    """
    started = time.perf_counter()
    opts = options or ScreenOptions()
    plan = _plan(Path(run_dir), Path(library), Path(out), opts)
    summary = ScreenSummary(plan.out)
    summary.n_resumed = _score_library(plan)
    n_scored = _count_scored(plan.state) if plan.fast else 0
    if n_scored:  # a cascade (with rows to re-score)
        summary.cascade = _cascade(plan, n_scored)
    tops = _write_outputs(plan, summary)
    summary.check()
    write_table(_hits(plan, tops, summary), plan.out)
    summary.seconds = round(time.perf_counter() - started, 3)
    done = summary.n_input - summary.n_resumed
    summary.molecules_per_s = round(done / summary.seconds, 1) if summary.seconds else 0.0
    summary.peak_rss_mb = peak_rss_mb()
    summary.files = {"hits": str(plan.out), "rejects": str(plan.rejects),
                     "summary": str(plan.summary_file),
                     **({"all_scores": str(opts.all_scores)} if opts.all_scores else {})}
    atomic_write_json(plan.summary_file, summary.to_dict())
    plan.state.remove()
    if summary.n_rejected:
        logger.warning("%d of %d rows were invalid; see %s", summary.n_rejected,
                       summary.n_input, plan.rejects)
    return summary
