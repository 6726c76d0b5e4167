"""The evaluation audit counts the evaluated rows a run has seen and scores the new ones apart."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.config.load import load_config, save_config
from scifm.data.tokens import load_token_data, token_splits
from scifm.evaluation.evaluation_audit import (
    MIN_NEW_ROWS,
    NoReference,
    audit_rows,
    audit_tokens,
    not_audited,
    run_token_rows,
)
from scifm.evaluation.report_audit import audit_html, evaluation_audit_section
from scifm.evaluation.report_data import ReportData
from scifm.rundir import RunDir
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json
from tests.integration.token_fixtures import ner_sentences, write_conll

REF = {"train": ["a", "b", "c"], "val": ["d"], "test": ["e"]}
NEW = [f"x{i}" for i in range(MIN_NEW_ROWS)]


def _score(idx):
    return {"n": len(idx), "idx": list(map(int, idx)), "acc": {"value": 0.5, "ci95": [0.4, 0.6]}}


def test_seen_rows_are_counted_per_split_and_the_new_rows_scored_apart():
    audit = audit_rows(["a", "d", "e", "a", *NEW], REF, _score)
    assert {k: audit[k] for k in ("n", "n_train", "n_val", "n_test", "n_seen", "n_new")} == {
        "n": 14, "n_train": 2, "n_val": 1, "n_test": 1, "n_seen": 3, "n_new": 11}
    assert audit["test_new_only"]["idx"] == [2, *range(4, 14)]  # the run's test row is new
    (w,) = audit["warnings"]
    assert w.startswith("3 of 14 evaluated rows (21%) are training/validation rows")
    assert "2 train, 1 validation" in w and "11 new rows are reported beside them" in w
    assert any("evaluated rows that are this run's own test rows: 1" in n
               for n in audit["notes"])


def test_too_few_new_rows_and_nothing_seen():
    few = audit_rows(["a", "b", "x"], REF, _score)
    assert "test_new_only" not in few and "too few new rows (1 < 10)" in few["warnings"][0]
    clean = audit_rows(NEW, REF, _score)
    assert clean["warnings"] == [] and "test_new_only" not in clean  # all rows are new anyway
    assert clean["notes"] == [f"none of the {MIN_NEW_ROWS} evaluated rows is a "
                              "training/validation row of this run"]


def test_near_duplicates_use_the_modality_similarity():
    ref = {"train": ["CCCCCCCO", "c1ccccc1CCCO"], "val": [], "test": []}
    new = ["CCCCCCCCO", "c1ccccc1CCCCO", "CCN"] + ["c1ccncc1"] * 7
    audit = audit_rows(new, ref, _score, modality="smiles")
    sim = audit["nn_similarity"]
    assert sim["n"] == 10 and sim["n_near_duplicate"] == 2 and sim["name"] == "Tanimoto"
    assert sum(sim["histogram"]["counts"]) == 10 and "new -> nearest train" in sim["metric"]
    assert audit["warnings"] == ["20% of the 10 new rows have a training/validation neighbour "
                                 "with Tanimoto >= 0.8 (near-duplicates): the new rows are "
                                 "close to what the model was trained on"]
    text = audit_rows(["a b"], {"train": ["a b"]}, _score, modality="text")
    assert text["nn_similarity"] is None and "not implemented for text" in text["notes"][0]


def _token_run(tmp_path):
    """A run directory as `scifm finetune` leaves it, without a model: config, splits, data."""
    paths = {n: write_conll(tmp_path / f"{n}.conll", ner_sentences(k, s))
             for n, k, s in (("train", 20, 0), ("dev", 4, 1), ("test", 5, 2))}
    cfg = load_config(flags={"data.path": str(paths["train"]), "data.modality": "text",
                             "data.val_path": str(paths["dev"]), "data.test_path":
                             str(paths["test"]), "data.task": "token_classification",
                             "out": str(tmp_path / "run")})
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    save_config(cfg, run.config)
    data = load_token_data(cfg.data, cfg.split)
    splits = token_splits(data, cfg.split, cfg.seed)
    atomic_write_json(run.splits, {"ids": {k: [data.ids[i] for i in v]
                                           for k, v in splits.items()}})
    return run, {"data": cfg.data.model_dump(mode="json"), "modality": "text"}, paths


def test_token_runs_count_exact_duplicate_sentences(tmp_path):
    run, meta, paths = _token_run(tmp_path)
    rows = run_token_rows(run, meta)
    assert {k: len(v) for k, v in rows.items()} == {"train": 20, "val": 4, "test": 5}
    words = [w for w, _ in ner_sentences(20, 0)[:6]] + [["brand", "new", "words"]] * 10
    audit = audit_tokens(run, meta, words, _score, "sentences")
    assert audit["n_train"] == 6 and audit["n_new"] == 10 and audit["test_new_only"]["n"] == 10
    assert "6 of 16 evaluated sentences" in audit["warnings"][0]
    assert any("only exact duplicate sentences" in n for n in audit["notes"])
    write_conll(paths["train"], ner_sentences(20, 9))  # the training file changed
    with pytest.raises(NoReference, match="changed since training"):
        run_token_rows(run, meta)
    gone = audit_tokens(run, {"data": {**meta["data"], "path": str(tmp_path / "nope.conll")}},
                        words, _score, "sentences")
    assert gone["available"] is False and len(gone["warnings"]) == 1
    assert "nope.conll not found" in gone["warnings"][0]


def test_report_section_shows_counts_similarity_and_both_metric_columns():
    audit = audit_rows(["CCO", *["c1ccccc1"] * 10], {"train": ["CCO"]}, _score,
                       modality="smiles")
    overall = {"acc": {"value": 0.9, "ci95": [0.8, 1.0]}, "n": 11}
    html = audit_html(audit, overall)
    assert html.startswith("<section id='evaluation-audit'><h2>")
    assert "new rows only (n=10)" in html and "all rows (n=11)" in html
    assert "0.900" in html and "0.500" in html and "<svg" in html
    assert "1 of 11 evaluated rows (9%)" in html
    bad = audit_html(not_audited('<script>"x"</script> gone'))
    assert "Not audited" in bad and "<script>" not in bad
    task = TaskSpec("binary", ["y"])
    assert evaluation_audit_section(ReportData(title="t", task=task)) == ""
    assert evaluation_audit_section(ReportData(title="t", task=task, evaluation_audit=audit))


def test_score_positions_are_numpy_indices():
    got = {}
    audit_rows(["a", *NEW], REF, lambda idx: got.setdefault("idx", idx))
    assert isinstance(got["idx"], np.ndarray) and got["idx"].tolist() == list(range(1, 11))
