"""Screening a library with a trained run (``scifm screen``, :mod:`scifm.recipes.screen`).

The nouns of the story:

* :mod:`~scifm.screening.library` — the library stream (CSV / TSV / Parquet / JSONL / FASTA /
  SDF through :func:`scifm.data.io.iter_table`, plain ``.smi`` / ``.txt`` one input per line,
  gzipped or not), chunk by chunk with global row ids, and its size estimate for the ETA;
* :mod:`~scifm.screening.duplicates` — canonical de-duplication in bounded memory (a numpy table
  of 64-bit hashes);
* :mod:`~scifm.screening.scores` — which column ranks each target, in which direction, and the
  fixed column types of the screened rows;
* :mod:`~scifm.screening.topk` — the best K rows per target in bounded memory (ties by row id;
  equals a full sort), with optional lazy exclusion of flagged molecules;
* :mod:`~scifm.screening.filters` — RDKit FilterCatalog PAINS / Brenk matches and rule-of-five
  violations;
* :mod:`~scifm.screening.state` — the resumable state folder (one Parquet file per finished
  chunk, a fingerprint of models, library and options);
* :mod:`~scifm.screening.cascade` — a fast model first, the full model on the top fraction, and
  the recall of that cascade against full scoring on a random sample;
* :mod:`~scifm.screening.sinks` and :mod:`~scifm.screening.summary` — the output files and the
  summary (counts, rate, peak RSS).

:mod:`~scifm.screening.ray_engine` (``--engine ray``) runs the same chunks on a Ray cluster
(actors that load the model once, fed by the driver with a bounded window; why not Ray Data:
its docstring).
"""
