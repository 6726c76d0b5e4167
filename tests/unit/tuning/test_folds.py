"""Search folds (scifm.tuning.folds): grouped by scaffold / similarity whatever the outer split,
balanced, seeded, every class in every fold where possible, with an honest description."""

from __future__ import annotations

import itertools
import random

import numpy as np
import optuna
import pandas as pd
import pytest

from scifm.config.schema import ExperimentConfig
from scifm.data.clean import clean_table
from scifm.data.datapoints import primary_strings
from scifm.data.splitting import dataset_groups, make_split
from scifm.errors import ConfigError
from scifm.tuning.folds import balanced_group_folds, search_folds, search_pool
from scifm.tuning.leaderboard import study_leaderboard
from scifm.tuning.objective import CVObjective
from scifm.tuning.search_spaces import space_for

RINGS = ["c1ccc({})cc1", "C1CCC({})CC1", "c1ccnc({})c1", "C1CCN(C{})CC1", "c1coc({})c1",
         "C1CC1{}", "c1csc({})c1", "O=C1CCC({})N1", "c1cnc2ccc({})cc2n1", "c1ccc2cc({})ccc2c1"]
LINKERS = ["", "C", "CC", "O", "N", "C(=O)N"]
SUBS = ["C", "O", "N", "Cl", "F", "C(=O)O", "OC", "CC"]


def _two_ring_molecules(n: int = 360, seed: int = 0) -> pd.DataFrame:
    """Distinct two-ring molecules (hundreds of Bemis-Murcko scaffolds, of uneven sizes) with a
    logP label."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Crippen

    RDLogger.DisableLog("rdApp.*")
    rng = random.Random(seed)
    combos = list(itertools.product(RINGS, LINKERS, RINGS[:5], SUBS, SUBS))
    rng.shuffle(combos)
    rows, seen = [], set()
    for a, link, b, s1, s2 in combos:
        inner = b.replace("1", "3").replace("2", "4").format(s2)
        mol = Chem.MolFromSmiles(s1 + a.format(link + inner))
        if mol is None or (can := Chem.MolToSmiles(mol)) in seen:
            continue
        seen.add(can)
        rows.append({"smiles": can, "active": int(Crippen.MolLogP(mol) > 3.0)})
        if len(rows) == n:
            break
    frame = pd.DataFrame(rows)
    frame["split"] = ["test" if i % 10 == 0 else "val" if i % 10 == 1 else "train"
                      for i in range(len(frame))]
    return frame


def _rdkit_scaffolds(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return np.array([MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(s),
                                                         includeChirality=False)
                     for s in primary_strings(smiles)], dtype=object)


@pytest.fixture(scope="module")
def two_rings() -> pd.DataFrame:
    return _two_ring_molecules()


def _setup(frame, split, target="active", modality="smiles", **tune):
    cfg = ExperimentConfig(data={"target_cols": [target], "modality": modality},
                           split={"method": split, **({"column": "split"}
                                                      if split == "predefined" else {})},
                           automl={"tune": {"folds": 5, **tune}}, model={"n_jobs": 1})
    ds = clean_table(frame, cfg.data, source="mem").dataset
    splits = make_split(ds, cfg.split, seed=0)
    return cfg, ds, search_pool(splits), splits


@pytest.mark.parametrize("split", ["predefined", "random", "scaffold"])
def test_grouped_folds_never_put_one_scaffold_in_two_folds(two_rings, split):
    cfg, ds, pool, splits = _setup(two_rings, split)
    folds, text = search_folds(ds, pool, cfg)
    assert not set(pool) & set(splits["test"])
    scaf = _rdkit_scaffolds([ds.inputs[i] for i in pool])
    n_groups = len(set(scaf))
    assert n_groups > 50 and text == f"5-fold CV grouped by scaffold ({n_groups} groups)"
    assert len(folds) == 5
    valid = [va for _, va in folds]
    assert sorted(np.concatenate(valid).tolist()) == list(range(len(pool)))  # a partition
    for tr, va in folds:
        assert sorted([*tr, *va]) == list(range(len(pool)))
        assert not set(scaf[tr]) & set(scaf[va])
    for a, b in itertools.combinations(valid, 2):
        assert not set(scaf[a]) & set(scaf[b])  # every pair of folds: disjoint scaffolds
    sizes = [len(v) for v in valid]
    assert max(sizes) / min(sizes) <= 1.25, sizes  # balanced
    y = ds.y[pool, 0]
    assert all(set(y[va]) == {0.0, 1.0} for va in valid)  # both classes in every fold


def test_folds_are_deterministic_for_a_seed(two_rings):
    cfg, ds, pool, _ = _setup(two_rings, "predefined")
    first, again = search_folds(ds, pool, cfg)[0], search_folds(ds, pool, cfg)[0]
    other = search_folds(ds, pool, cfg.model_copy(update={"seed": 7}))[0]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other, strict=True))


def test_balanced_group_folds_keep_groups_whole_and_sizes_even():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), rng.geometric(0.3, size=300))  # sizes 1..~20
    labels = (rng.random(len(groups)) < 0.1).astype(float)  # a rare class
    folds = balanced_group_folds(groups, 5, seed=3, labels=labels)
    sizes = [len(va) for _, va in folds]
    assert max(sizes) / min(sizes) <= 1.1, sizes
    where = {}
    for f, (_, va) in enumerate(folds):
        for g in set(groups[va]):
            assert where.setdefault(g, f) == f
    assert all(labels[va].sum() >= 1 for _, va in folds)


def test_a_class_in_too_few_groups_is_tolerated_and_the_objective_runs(two_rings):
    frame = two_rings.copy()
    cfg, ds, pool, _ = _setup(frame, "predefined")
    scaf = _rdkit_scaffolds([ds.inputs[i] for i in pool])
    rare = scaf == scaf[0]  # one scaffold holds every positive: three folds cannot have one
    y = np.where(rare, 1.0, 0.0)[:, None]
    folds = balanced_group_folds(scaf, 3, seed=0, labels=y)
    assert sum(y[va].any() for _, va in folds) == 1
    obj = CVObjective("linear", ds.task, "smiles", [ds.inputs[i] for i in pool], y, folds,
                      space_for("linear", "binary"), "maccs", cfg)
    study = optuna.create_study(direction=obj.direction)
    study.optimize(obj, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert len(trial.user_attrs["fold_scores"]) == 3  # undefined fold scores left out


def test_too_few_groups_fall_back_with_the_reason(molecules):
    frame = molecules.head(60)
    cfg, ds, pool, _ = _setup(frame, "random", folds=12)
    n_groups = len(np.unique(dataset_groups(ds, "scaffold")[pool]))
    assert n_groups < 12
    folds, text = search_folds(ds, pool, cfg)
    assert len(folds) == 12
    assert text.startswith("12-fold CV ") and f"only {n_groups} scaffold groups" in text


@pytest.mark.parametrize("cv", ["stratified", "random"])
def test_ungrouped_folds_on_request(two_rings, cv):
    cfg, ds, pool, _ = _setup(two_rings, "scaffold", cv=cv)
    folds, text = search_folds(ds, pool, cfg)
    assert text == f"5-fold CV {cv}" and len(folds) == 5


def test_sequences_group_by_similarity_and_text_cannot_be_grouped():
    rng = np.random.default_rng(0)
    bases = ["".join(rng.choice(list("ACGT"), size=60)) for _ in range(30)]
    rows = []
    for i, base in enumerate(bases):
        for j in range(1 + i % 4):  # near-copies: one point mutation each
            s = list(base)
            s[(7 * j) % 60] = "ACGT"[(j + i) % 4]
            rows.append({"sequence": "".join(s), "label": i % 2})
    dna = pd.DataFrame(rows).drop_duplicates("sequence")
    cfg, ds, pool, _ = _setup(dna, "random", target="label", modality="dna")
    folds, text = search_folds(ds, pool, cfg)
    groups = dataset_groups(ds, "similarity", 0, cfg.split.similarity_threshold)[pool]
    assert text.startswith("5-fold CV grouped by similarity")
    for (_, a), (_, b) in itertools.combinations(folds, 2):
        assert not set(groups[a]) & set(groups[b])
    words = pd.DataFrame({"text": [f"note {i} {'good' if i % 2 else 'bad'}" for i in range(40)],
                          "label": [i % 2 for i in range(40)]})
    cfg, ds, pool, _ = _setup(words, "random", target="label", modality="text")
    assert search_folds(ds, pool, cfg)[1] == "5-fold CV stratified"
    cfg.automl.tune.cv = "grouped"
    with pytest.raises(ConfigError, match="grouping key"):
        search_folds(ds, pool, cfg)


def test_leaderboard_says_which_folds():
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    board = study_leaderboard(study, "5-fold CV grouped by scaffold (9 groups)")
    assert set(board["cv_folds"]) == {"5-fold CV grouped by scaffold (9 groups)"}
    assert "cv_folds" not in study_leaderboard(study).columns


def test_acyclic_molecules_are_groups_of_their_own_in_the_folds_not_in_the_split(two_rings):
    """FreeSolv's pattern: most molecules acyclic (empty scaffold). The outer scaffold split keeps
    them one group (as Chemprop does); the search's folds make each its own group, so the folds
    stay balanced, while a ring scaffold is still never in two folds."""
    chains = [("C" * n) + tail for n in range(1, 30) for tail in ("O", "N", "Cl", "C(=O)O", "F")]
    frame = pd.concat([two_rings.head(80),
                       pd.DataFrame({"smiles": chains, "active": [i % 2 for i in range(len(
                           chains))], "split": "train"})], ignore_index=True)
    cfg, ds, pool, _ = _setup(frame, "predefined")
    scaf = _rdkit_scaffolds([ds.inputs[i] for i in pool])
    acyclic = scaf == ""
    assert acyclic.sum() > len(pool) / 2
    split_groups = dataset_groups(ds, "scaffold")[pool]
    assert len(set(split_groups[acyclic])) == 1  # the outer split: one group
    fold_groups = dataset_groups(ds, "scaffold", folds=True)[pool]
    assert len(set(fold_groups[acyclic])) == acyclic.sum()
    folds, text = search_folds(ds, pool, cfg)
    valid = [va for _, va in folds]
    sizes = [len(v) for v in valid]
    assert max(sizes) / min(sizes) <= 1.25, sizes
    assert all(acyclic[va].any() for va in valid)
    for a, b in itertools.combinations(valid, 2):
        assert not set(scaf[a][~acyclic[a]]) & set(scaf[b][~acyclic[b]])
    assert text == f"5-fold CV grouped by scaffold ({len(set(fold_groups))} groups)"


def test_the_auto_leaderboard_says_which_trials_were_cut_and_which_resumed():
    from scifm.tuning.leaderboard import auto_leaderboard

    study = optuna.create_study(direction="minimize")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(optuna.trial.create_trial(
        value=1.2, params={"x": 0.5}, distributions=dist,
        user_attrs={"cv_mean": 1.2, "n_folds_done": 2, "cut": "time budget spent in fold 2: "
                    "scored on 2 of 5 folds"}))
    study.add_trial(optuna.trial.create_trial(
        value=1.4, params={"x": 0.5}, distributions=dist,
        user_attrs={"cv_mean": 1.4, "n_folds_done": 5,
                    "resumed": "2 fold(s) reused from an earlier run of this configuration"}))
    board = auto_leaderboard({"rf": study}, {"rf": 1}, {}, "rmse", "rf", {}, {}, False)
    cut, resumed = board.set_index("trial").loc[0], board.set_index("trial").loc[1]
    assert "2 of 5 folds" in cut["cut"] and pd.isna(cut["resumed"])
    assert resumed["folds_done"] == 5 and "2 fold(s) reused" in resumed["resumed"]
    assert resumed["best_of_family"] and resumed["selected"] and not cut["best_of_family"]
