"""What a model family is: one :class:`FamilySpec`, registered once by name.

Everything scifm needs to know about a family lives in its spec: how to build an unfitted
predictor, how to load a saved one, its typed parameter section (``params.<family>`` in the
config), its search space (data, see :mod:`scifm.tuning.search_spaces`) and what it supports.
Built-in families are registered in :mod:`scifm.models.families`; a new family is one
``FAMILIES.register(FamilySpec(...))`` call, and ``scifm train --model NAME``, ``scifm tune``,
``scifm auto``, ``predict`` and ``evaluate`` pick it up with no other change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from scifm.config.registry import FAMILIES
from scifm.errors import ConfigError, RunDirError
from scifm.models.base import MODEL_META
from scifm.models.safeload import check_model_folder

if TYPE_CHECKING:  # annotations only
    from scifm.models.base import Predictor
    from scifm.tasks import TaskSpec

ExperimentConfig = Any
"""The config type (:class:`scifm.config.schema.ExperimentConfig`); not imported here because
the config validates family names through this module."""

__all__ = ["FAMILIES", "FamilySpec", "auto_families", "build_predictor", "family_params",
           "get_family", "load_predictor", "trainable_families", "tunable_families"]

BuildFn = Callable[["TaskSpec", str, Any, Path], "Predictor"]
"""``build(task, modality, cfg, work_dir) -> unfitted Predictor``."""
LoadFn = Callable[[Path], "Predictor"]
"""``load(model_dir) -> fitted Predictor`` (from the folder its ``save`` wrote)."""
EstimatorFn = Callable[["TaskSpec", Any], Any]
"""``estimator(task, cfg) -> unfitted estimator on numeric features`` (cross-validation)."""


class NoParams(BaseModel):
    """The parameter section of a family that has none of its own."""

    model_config = {"extra": "forbid"}


@dataclass(frozen=True)
class FamilySpec:
    """A model family: how to build, load, configure and search it, and what it supports.

    Every field but ``name``, ``build`` and ``load`` has a default, so a small family is a few
    lines (see ``tests/integration/test_family_registry.py``).
    """

    name: str
    """Short name used by ``--model``, ``model.families`` and ``model/scifm.json``."""
    build: BuildFn
    """Makes an unfitted predictor; it reads its parameters with :func:`family_params`."""
    load: LoadFn
    """Rebuilds a fitted predictor from its saved ``model/`` folder."""
    params: type[BaseModel] = NoParams
    """Typed parameter section: ``params.<name>`` in the config (defaults = the model class)."""
    search_space: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Optuna search space as data (:mod:`scifm.tuning.search_spaces`); empty: not tunable."""
    estimator: EstimatorFn | None = None
    """Optional: an unfitted estimator on a numeric feature matrix (``fit(X, y, X_val, y_val)``,
    ``predict(X)``), so cross-validation featurises the pool once per feature set; without it
    each fold fits a whole predictor (``build``) on raw inputs."""
    modalities: tuple[str, ...] | None = None
    """Modalities it accepts (None: every modality)."""
    tasks: tuple[str, ...] = ("regression", "binary", "multiclass")
    """Task types it supports."""
    uses_features: bool = True
    """Reads a feature set (``model.features``); False for models that read raw inputs."""
    distributed: bool = False
    """Trained by every process under ``torchrun`` (``transformers.Trainer`` families)."""
    uses_n_jobs: bool = True
    """Honours ``model.n_jobs`` (threads)."""
    trainable: bool = True
    """Chosen by ``--model`` / ``model.families`` (False: only loaded, e.g. ``ensemble``)."""
    in_auto: bool = True
    """Searched by ``scifm auto`` when ``automl.auto.families`` is not given."""
    auto_if: Callable[[ExperimentConfig], bool] | None = None
    """With ``in_auto`` False: searched by ``scifm auto`` by default when ``auto_if(cfg)`` holds
    (the ``transformer``: a local checkpoint in ``model.init``)."""
    auto_cost: int = 50
    """Rank in ``auto``'s default order: cheaper families are searched first (the time budget is
    shared out in this order)."""
    auto_trials: int | None = None
    """At most this many trials of the family in one ``auto`` run without a time budget (an
    expensive family, e.g. ``mpnn``: each trial trains k networks); None: ``n_trials``."""
    auto_holdout: bool = False
    """Searched by ``scifm auto`` on the outer split's train and validation rows when it has
    some (one fit on train, early stopping on val, scored on val; the fitted model is kept as
    the refit) instead of by k-fold cross-validation: a family whose one fit costs what a
    whole ``auto`` budget affords (``mpnn``). Its combinations are then chosen on the
    validation rows."""
    early_stopping: bool = False
    """Its estimator early-stops on the validation rows given to ``fit`` (boosted trees): in
    k-fold CV each fold then stops on an inner split of its training rows
    (:func:`scifm.tuning.inner_split.inner_split`), as the refit stops on val."""
    auto_min_seconds: Callable[[int], float] | None = None
    """``auto_min_seconds(n_rows)``: the least seconds in which one fit on ``n_rows`` can give
    a useful model (``mpnn``: start-up and its minimum epochs); ``auto`` leaves the family
    out, without starting it, when its share of a time budget is smaller. None: always tried."""
    config_keys: tuple[str, ...] = ()
    """Further config sections / keys it reads (``train``, ``peft``, ``model.size``...): setting
    one of them when no chosen family reads it is refused (``scifm.config.applicability``)."""
    requires: tuple[str, str] | None = None
    """``(module, extra)`` when the family needs an optional dependency (``("chemprop",
    "mpnn")``): choosing it without the module is refused in one line naming the extra before
    any data are read (:func:`scifm.config.applicability.check_applicable`)."""
    description: str = ""
    """One line for ``--help`` and the docs."""

    def supports(self, modality: str, task_type: str) -> bool:
        """Whether the family can model ``task_type`` targets from ``modality`` inputs."""
        ok_modality = self.modalities is None or modality in self.modalities
        return ok_modality and task_type in self.tasks


def trainable_families() -> list[str]:
    """Names ``--model`` accepts."""
    return [s.name for s in FAMILIES if s.trainable]


def tunable_families() -> list[str]:
    """Names with a search space (``scifm tune --family``, ``automl.auto.families``)."""
    return [s.name for s in FAMILIES if s.trainable and s.search_space]


def auto_families(modality: str | None = None, cfg: ExperimentConfig | None = None,
                  ) -> list[str]:
    """``auto``'s default families, cheapest first: those with a search space that read
    ``modality`` (any, when None) and whose optional dependency (``requires``) is installed;
    ``in_auto`` ones, and with ``cfg`` those whose ``auto_if(cfg)`` holds."""
    specs = sorted((s for s in FAMILIES if s.trainable and s.search_space
                    and (s.in_auto or (cfg is not None and s.auto_if is not None
                                       and s.auto_if(cfg)))
                    and (modality is None or s.modalities is None or modality in s.modalities)
                    and (s.requires is None or _installed(s.requires[0]))),
                   key=lambda s: s.auto_cost)
    return [s.name for s in specs]


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def get_family(name: str) -> FamilySpec:
    """The registered spec of ``name`` (a one-line ConfigError listing the known ones)."""
    return FAMILIES.get(name)


def family_params(cfg: ExperimentConfig, name: str) -> BaseModel:
    """``params.<name>`` of ``cfg`` as the family's typed section (defaults when not given)."""
    spec = FAMILIES.get(name)
    given = cfg.params.get(name)
    if isinstance(given, spec.params):
        return given
    return spec.params.model_validate(given or {})


def build_predictor(family: str, task: TaskSpec, modality: str, cfg: ExperimentConfig,
                    work_dir: Path) -> Predictor:
    """An unfitted predictor of ``family`` for ``task`` on ``modality`` inputs.

    Raises
    ------
    ConfigError
        Unknown family, or one that does not support the modality or the task type.
    """
    spec = FAMILIES.get(family)
    if not spec.supports(modality, task.task_type):
        raise ConfigError(f"model family {family!r} does not support {task.task_type} targets "
                          f"on {modality} inputs")
    return spec.build(task, modality, cfg, Path(work_dir))


def load_predictor(path: Path, verify: bool = True) -> Predictor:
    """Load the predictor saved in folder ``path`` (family read from ``path/scifm.json``).

    Before the family's loader reads anything else, the folder is checked
    (:func:`scifm.models.safeload.check_model_folder`): no pickle-based file, every file as its
    manifest lists it. ``verify=False`` skips that check (an ensemble's members, which the
    ensemble's own manifest covers).

    Raises
    ------
    RunDirError
        ``scifm.json`` is missing, unreadable or names an unknown family; the folder holds a
        pickle-based file or does not match its manifest.
    """
    meta_file = Path(path) / MODEL_META
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        family = meta["family"]
    except FileNotFoundError:
        raise RunDirError(f"no saved model: {meta_file} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise RunDirError(f"cannot read the model description {meta_file}: {err!r}") from None
    if family not in FAMILIES:
        raise RunDirError(f"{meta_file}: unknown model family {family!r}; expected one of "
                          f"{', '.join(FAMILIES.names())}")
    if verify:
        check_model_folder(Path(path))
    return FAMILIES.get(family).load(Path(path))
