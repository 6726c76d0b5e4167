"""Turn ``bench/results/results.jsonl`` into the tables of BENCHMARKS.md (printed to stdout).

Chemprop and fingerprint-baseline numbers come from ``../shared/benchmarks/chemprop_reference.json``
(measured on this machine type, same split files, same metric definitions).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from pretraining_tables import sections
from table_utils import mean_std

HERE = Path(__file__).resolve().parent
REF = HERE.parents[1] / "shared" / "benchmarks" / "chemprop_reference.json"
HIGHER = {"roc_auc": True, "pr_auc": True, "mcc": True, "f1_macro": True, "rmse": False}


def load_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    latest: dict[tuple, dict] = {}
    for row in rows:  # the newest measurement of each (dataset, seed, family) wins
        latest[(row["dataset"], row["seed"], row["family"])] = row
    return list(latest.values())


def moleculenet_table(rows: list[dict], ref: dict) -> str:
    by = defaultdict(list)
    for r in rows:
        by[(r["dataset"], r["family"])].append(r)
    lines = ["| dataset | metric | Chemprop v2 (ref) | LGBM-ECFP+RDKit2D (ref) | scifm lightgbm | "
             "scifm transformer | scifm lightgbm wall s | scifm transformer wall s | "
             "Chemprop train wall s | best scifm vs Chemprop |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for ds, info in ref.items():
        if ds.startswith("_"):
            continue
        metric = "roc_auc" if info["metric"] == "ROC-AUC" else "rmse"
        ours = {f: [r["value"] for r in by[(ds, f)]] for f in ("lightgbm", "transformer")}
        walls = {f: [r["wall_s"] for r in by[(ds, f)]] for f in ("lightgbm", "transformer")}
        cp = list(info["chemprop"].values())
        lg = list(info["LGBM-ECFP+RDKit2D"].values())
        cp_wall = list(info["chemprop_train_wall_s"].values())
        verdict = "—"
        means = {f: statistics.mean(v) for f, v in ours.items() if v}
        if means:
            best = max(means.values()) if HIGHER[metric] else min(means.values())
            cpm = statistics.mean(cp)
            win = best > cpm if HIGHER[metric] else best < cpm
            verdict = f"{'win' if win else 'loss'} ({best - cpm:+.3f})"
        lines.append(
            f"| {ds} | {info['metric']} ({'higher' if HIGHER[metric] else 'lower'}) | "
            f"{mean_std(cp)} | {mean_std(lg)} | {mean_std(ours['lightgbm'])} | "
            f"{mean_std(ours['transformer'])} | {mean_std(walls['lightgbm'], 0)} | "
            f"{mean_std(walls['transformer'], 0)} | {mean_std(cp_wall, 0)} | {verdict} |")
    return "\n".join(lines)


def other_table(rows: list[dict]) -> str:
    lines = ["| dataset | metric | scifm lightgbm | scifm transformer | scifm auto | "
             "lightgbm wall s | transformer wall s | auto wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    by = defaultdict(dict)
    for r in rows:
        if r["dataset"] in ("scicite", "prom_core_tata"):
            by[r["dataset"]][r["family"]] = r
    for ds, fams in by.items():
        metric = next(iter(fams.values()))["metric"]

        lines.append(f"| {ds} | {metric} | {_cell(fams.get('lightgbm'))} | "
                     f"{_cell(fams.get('transformer'))} | {_cell(fams.get('auto'))} | "
                     f"{_wall(fams.get('lightgbm'))} | {_wall(fams.get('transformer'))} | "
                     f"{_wall(fams.get('auto'))} |")
    return "\n".join(lines)


def auto_table(rows: list[dict], ref: dict) -> str:
    """scifm auto vs Chemprop per dataset (mean ± std over seeds) and wins per seed."""
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"]].append(r)
    lines = ["| dataset | metric | Chemprop v2 (ref) | scifm auto | seeds won | "
             "scifm auto wall s | Chemprop wall s | models selected |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    n_win = n_ref = 0
    for ds, info in ref.items():
        if ds.startswith("_") or ds not in by:
            continue
        metric = "roc_auc" if info["metric"] == "ROC-AUC" else "rmse"
        rs = sorted(by[ds], key=lambda r: r["seed"])
        ours = [r["value"] for r in rs]
        cp = [info["chemprop"][str(r["seed"])] for r in rs]
        won = sum((o > c) if HIGHER[metric] else (o < c) for o, c in zip(ours, cp, strict=True))
        mean_win = (statistics.mean(ours) > statistics.mean(cp)) if HIGHER[metric] else \
            (statistics.mean(ours) < statistics.mean(cp))
        n_win += mean_win
        n_ref += 1
        sel = ", ".join(sorted({r["selected"] for r in rs}))
        lines.append(f"| {ds} | {info['metric']} | {mean_std(cp)} | **{mean_std(ours)}** "
                     f"{'(win)' if mean_win else '(loss)'} | {won}/{len(rs)} | "
                     f"{mean_std([r['wall_s'] for r in rs], 0)} | "
                     f"{mean_std([r['chemprop_wall_s'] for r in rs], 0)} | {sel} |")
    lines.append(f"\nscifm auto beats Chemprop's mean on {n_win} of {n_ref} datasets.")
    return "\n".join(lines)


def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    lo, hi = r["ci95"]
    return f"{r['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _wall(r: dict | None) -> str:
    return "—" if r is None else f"{r['wall_s']:.0f}"


def main() -> None:
    rows = load_rows(HERE / "results" / "results.jsonl")
    ref = json.loads(REF.read_text())
    auto_file = HERE / "results" / "auto.jsonl"
    auto_rows = load_rows(auto_file) if auto_file.exists() else []
    out = [(HERE / "HEADER.md").read_text().rstrip()]
    if auto_rows:
        out += ["## scifm auto vs Chemprop (issue 3)\n\n`OMP_NUM_THREADS=1 python "
                "bench/run_auto.py`\n", auto_table(auto_rows, ref)]
    out += ["## Single configurations on the six MoleculeNet scaffold splits (issue 2)\n\n"
            "`python bench/run_bench.py --suite moleculenet --families lightgbm transformer`\n",
            moleculenet_table(rows, ref),
            "## Text and DNA\n\n`python bench/run_bench.py --suite text dna`, "
            "`python bench/run_auto.py --datasets --other dna text`\n",
            other_table(rows + auto_rows)]
    out += [s for s in sections(HERE / "results", ref) if s]
    footer = HERE / "FOOTER.md"
    if footer.exists():
        out.append(footer.read_text().rstrip())
    sys.stdout.write("\n\n".join(out) + "\n")


if __name__ == "__main__":
    main()
