"""The report's last section: the resolved configuration (collapsed, only the keys that apply to
this run), the package versions (collapsed) and notes.

A key applies when the recipe that made the run reads it or one of the run's model families does
(:mod:`scifm.config.applicability`: ``RECIPE_READS``, each family's ``config_keys`` and
``params.<family>``); a key that only another family or another recipe reads (``pretrain``,
``peft`` and ``train`` on a LightGBM run, ``params.xgboost``...) is left out and named. Keys no
recipe or family claims are shown.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import yaml

from scifm.config.applicability import RECIPE_READS, family_keys
from scifm.config.registry import FAMILIES, MODALITIES
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_format import esc, kv

__all__ = ["applicable_config", "config_section", "environment"]

_ENV_PACKAGES = ("scifm", "numpy", "pandas", "scikit-learn", "torch", "transformers", "rdkit",
                 "lightgbm", "mlflow", "plotly")
_LABELLED_RECIPES = ("train", "tune", "auto", "finetune")


def _recipe(command: str | None) -> str | None:
    words = (command or "").split()
    for w in words[:3]:
        if w == "demo":
            return "train"
        if w in RECIPE_READS:
            return w
    return None


def _rules(recipe: str | None, families: Iterable[str], modality: str | None) -> dict[str, bool]:
    """``{dotted prefix: applies}``: False for what other recipes / families / modalities read,
    True (winning) for what this run reads; the longest matching prefix decides."""
    recipes = [recipe] if recipe in RECIPE_READS else list(_LABELLED_RECIPES)
    mine = {k for r in recipes for k in RECIPE_READS[r].reads}
    for name in families:
        try:
            mine.update(family_keys(name))
        except Exception:  # noqa: BLE001 - an unregistered family: it may read anything
            return {}
    others = {k for spec in RECIPE_READS.values() for k in spec.reads}
    for name in FAMILIES.names():
        others.update(family_keys(name))
    rules = {k: False for k in others if _decide(k, dict.fromkeys(mine, True)) is None}
    rules.update(dict.fromkeys(mine, True))
    if modality in MODALITIES and (own := MODALITIES.get(modality).options_section):
        sections = {MODALITIES.get(m).options_section for m in MODALITIES.names()}
        rules.update(dict.fromkeys(sections - {None}, False))
        rules[own] = True
    return rules


def _decide(key: str, rules: dict[str, bool]) -> bool | None:
    match = [p for p in rules if key == p or key.startswith(p + ".")]
    return rules[max(match, key=len)] if match else None


_DROP = object()


def _filter(node: Any, prefix: str, rules: dict[str, bool], dropped: list[str]) -> Any:
    """``node`` without the keys that only other recipes / families read (``_DROP``: none left)."""
    below = any(p.startswith(prefix + ".") for p in rules) if prefix else True
    decision = _decide(prefix, rules) if prefix else None
    if decision is False:
        dropped.append(prefix)
        return _DROP
    if not isinstance(node, dict) or not node or not below:
        return node
    mark = len(dropped)
    kept = {k: v for k, v in ((k, _filter(v, f"{prefix}.{k}" if prefix else str(k), rules,
                                           dropped)) for k, v in node.items()) if v is not _DROP}
    if not kept and prefix:
        del dropped[mark:]
        dropped.append(prefix)
        return _DROP
    return kept


def applicable_config(config_yaml: str, families: Iterable[str], command: str | None = None,
                      modality: str | None = None) -> tuple[str, list[str]]:
    """``(YAML of the keys that apply, dotted keys left out)``; the text unchanged when it is not
    a YAML mapping."""
    try:
        tree = yaml.safe_load(config_yaml)
    except yaml.YAMLError:
        return config_yaml, []
    if not isinstance(tree, dict):
        return config_yaml, []
    dropped: list[str] = []
    kept = _filter(tree, "", _rules(_recipe(command), list(families), modality), dropped)
    if not dropped:  # all of it applies: the text as written (comments kept)
        return config_yaml, []
    return yaml.safe_dump(kept, sort_keys=False, allow_unicode=True), dropped


def environment() -> dict[str, str]:
    """Python, platform and the installed versions of the main dependencies."""
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in _ENV_PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return env


def config_section(d: ReportData) -> str:
    """Configuration & environment, both collapsed, and the run's notes."""
    out = ['<section id="config"><h2>Configuration &amp; environment</h2>']
    notes = list(d.extra_notes)
    if d.rejected_rows_file:
        notes.insert(0, f"Rejected rows and their reasons are listed in {d.rejected_rows_file}.")
    if notes:
        out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if d.config_yaml:
        families = [f for f in d.models if f not in ("ensemble", "stacking")]
        text, dropped = applicable_config(d.config_yaml, families, d.command, d.modality)
        hidden = (f" — {len(dropped)} not applicable to {esc(', '.join(families))} hidden"
                  if dropped else "")
        out.append(f"<details><summary>Resolved configuration{hidden}</summary>")
        if dropped:
            out.append("<p class='ci'>Not shown (read only by other model families or "
                       f"commands): <code>{esc(', '.join(dropped))}</code>. The full file is "
                       "the run's config.yaml.</p>")
        out.append(f"<pre>{esc(text)}</pre></details>")
    env = d.environment if d.environment is not None else environment()
    summary = ", ".join(f"{k} {v}" for k, v in env.items() if k in ("python", "scifm"))
    out.append(f"<details><summary>Environment ({esc(summary)})</summary>{kv(env.items())}"
               "</details>")
    return "".join(out) + "</section>"
