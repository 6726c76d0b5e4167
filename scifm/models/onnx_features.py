"""The ``onnx_features`` family: a feature model converted to ONNX, run by ONNX Runtime.

Made by ``scifm compress`` (:mod:`scifm.compression.onnx_features`) from a feature-based run
(``lightgbm``, ``xgboost``, ``rf``, ``extratrees``, ``linear``, ``svm``) or an ``auto``
combination of them (``ensemble``, ``stacking``); load-only. Saved without pickle::

    model/
      scifm.json                 family "onnx_features", source_family, task, modality,
                                 members (what each ONNX output means), combine, threads
      members/<name>/featurizer.json   the member's featurizer, as the source model saved it
      members/<name>/<file>.onnx       one graph per estimator (per task, or one joint one)

:meth:`OnnxFeaturePredictor.predict` featurises with the same featurizer code as the source
(each distinct featurizer once, even when several members share it), runs each graph and puts
the outputs together as the source estimator does (:mod:`scifm.models.estimators`,
:mod:`scifm.models.baselines`): classes present in training scattered into the task's classes,
positive-class probabilities for binary tasks, clipped joint forests, constant tasks, a
sigmoid-calibrated SVM's Platt scaling; then the members are combined with the saved weights
(``ensemble``) or meta-model (``stacking``, :func:`scifm.models.stacked.apply_meta`).
Each graph's *output entry* in ``scifm.json`` says how::

    {"tasks": [0], "file": "task_0.onnx", "output": "probabilities", "post": "proba",
     "classes": [0, 1]}
    {"tasks": [0, 1], "file": "joint.onnx", "output": "variable", "post": "values"}
    {"tasks": [2], "post": "constant", "constant": [0.0]}
    {"tasks": [0], "file": "task_0.onnx", "output": "probabilities", "post": "platt",
     "a": -4.2, "b": -0.3}

ONNX Runtime sessions are created on first use and never pickled (``predict`` runs in spawned
worker processes, each of which opens its own).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError, RunDirError
from scifm.featurizers import build_featurizer, featurize
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.stacked import apply_meta, check_meta
from scifm.tasks import TaskSpec

__all__ = ["FAMILY", "MEMBERS_DIR", "OnnxFeaturePredictor", "OnnxMember"]

logger = logging.getLogger(__name__)

FAMILY = "onnx_features"
MEMBERS_DIR = "members"
FEATURIZER_FILE = "featurizer.json"
DENSE_BLOCK = 1024
"""Rows of a sparse feature matrix made dense at a time (ONNX graphs take dense inputs)."""
POSTS = ("values", "proba", "platt", "constant")
"""How an output entry turns a graph's output into task columns (module docstring)."""


def _threads(saved: int) -> int:
    """Intra-op threads of a session: ``saved`` if > 0, else ``OMP_NUM_THREADS`` when set (the
    prediction workers share the cores through it), else 0 (ONNX Runtime's default: all)."""
    if saved > 0:
        return saved
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else 0


class OnnxMember:
    """One converted feature model: its featurizer and ONNX graphs, with their output entries.

    Parameters
    ----------
    folder
        ``members/<name>/`` holding the graphs.
    featurizer
        The member's featurizer (rebuilt from its ``featurizer.json``).
    outputs
        The output entries (module docstring).
    n_features
        Input width of every graph.
    threads
        Intra-op threads of its sessions (``<= 0``: :func:`_threads`).
    """

    def __init__(self, folder: Path, featurizer: Any, outputs: list[dict[str, Any]],
                 n_features: int, threads: int = 0) -> None:
        self.folder = Path(folder)
        self.featurizer = featurizer
        self.outputs = outputs
        self.n_features = int(n_features)
        self.threads = threads
        self._sessions: dict[str, Any] = {}

    @classmethod
    def load(cls, folder: Path, info: dict[str, Any], task: TaskSpec,
             threads: int = 0) -> OnnxMember:
        """The member saved in ``folder`` as ``info`` (its ``scifm.json`` entry) describes it.

        Raises
        ------
        ValueError
            Invalid output entries.
        RunDirError
            Its ``featurizer.json`` or a graph is missing or invalid.
        """
        check_outputs(info["outputs"], task)
        for entry in info["outputs"]:
            if "file" in entry and not (Path(folder) / entry["file"]).is_file():
                raise RunDirError(f"model file missing: {Path(folder) / entry['file']}")
        try:
            featurizer = build_featurizer(read_model_json(Path(folder) / FEATURIZER_FILE))
        except ConfigError as err:
            raise RunDirError(f"{Path(folder) / FEATURIZER_FILE} is invalid: {err}") from err
        return cls(folder, featurizer, list(info["outputs"]), int(info["n_features"]), threads)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sessions": {}}  # sessions are opened again where used

    @property
    def featurizer_key(self) -> str:
        """The featurizer's identity: members with the same key share one feature matrix."""
        return json.dumps(self.featurizer.to_config(), sort_keys=True, default=str)

    def session(self, file: str) -> Any:
        """The ONNX Runtime session of graph ``file`` (opened on first use)."""
        if file not in self._sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = _threads(self.threads)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3  # converters declare label shapes ORT warns about
            try:
                self._sessions[file] = ort.InferenceSession(
                    str(self.folder / file), sess_options=opts,
                    providers=["CPUExecutionProvider"])
            except Exception as err:  # noqa: BLE001 - ORT raises its own kinds
                raise RunDirError(f"cannot open ONNX model {self.folder / file}: {err}") from None
        return self._sessions[file]

    def run(self, file: str, output: str, X: Any) -> np.ndarray:
        """Output ``output`` of graph ``file`` on features ``X`` (dense blocks if sparse)."""
        sess = self.session(file)
        name = sess.get_inputs()[0].name
        if not sp.issparse(X):
            return np.asarray(sess.run([output], {name: np.asarray(X, dtype=np.float32)})[0])
        blocks = [sess.run([output], {name: X[i:i + DENSE_BLOCK].toarray().astype(np.float32)})[0]
                  for i in range(0, X.shape[0], DENSE_BLOCK)]
        return np.concatenate(blocks, axis=0)

    def predict_features(self, X: Any, task: TaskSpec) -> np.ndarray:
        """Predictions ``n x task.n_outputs`` from this member's feature matrix ``X``."""
        n = X.shape[0]
        if X.shape[1] != self.n_features:
            raise RunDirError(f"{self.folder}: features of width {X.shape[1]}, the ONNX graphs "
                              f"take {self.n_features}")
        out = np.zeros((n, task.n_outputs))
        for entry in self.outputs:
            raw = None
            if entry["post"] != "constant":
                raw = self.run(entry["file"], entry["output"], X)
            cols = entry_columns(entry, raw, n, task)
            if task.task_type == "multiclass":
                out[:] = cols
            else:
                out[:, entry["tasks"]] = cols
        return out


def entry_columns(entry: dict[str, Any], raw: np.ndarray | None, n: int,
                  task: TaskSpec) -> np.ndarray:
    """The columns one output entry gives: ``n x len(tasks)`` (regression / binary) or
    ``n x n_classes`` (multiclass), from the graph's output ``raw``."""
    post, k = entry["post"], len(entry["tasks"])
    if post == "constant":
        const = np.asarray(entry["constant"], dtype=np.float64).ravel()
        return np.repeat(const[None, :], n, axis=0)
    raw = np.asarray(raw, dtype=np.float64)
    if post == "values":
        values = raw.reshape(n, k)
        return np.clip(values, 0.0, 1.0) if task.task_type == "binary" else values
    if post == "platt":  # sklearn's _SigmoidCalibration: p = 1 / (1 + exp(a * f + b))
        f = raw.reshape(n, -1)[:, -1]
        return (1.0 / (1.0 + np.exp(float(entry["a"]) * f + float(entry["b"]))))[:, None]
    n_classes = task.n_outputs if task.task_type == "multiclass" else 2
    full = np.zeros((n, n_classes))
    full[:, entry["classes"]] = raw.reshape(n, len(entry["classes"]))
    return full if task.task_type == "multiclass" else full[:, 1:2]


class OnnxFeaturePredictor:
    """Featurizers + ONNX graphs of one feature model or a combination of them.

    Parameters
    ----------
    task, modality
        As the source model's.
    members
        ``name -> OnnxMember``.
    combine
        ``{"kind": "single"}``, ``{"kind": "ensemble", "weights": {name: w}}`` or
        ``{"kind": "stacking", "meta": <the stacking meta-model>}``.
    source_family
        The family converted (``lightgbm``, ``ensemble``...).
    """

    family = FAMILY

    def __init__(self, task: TaskSpec, modality: str, members: dict[str, OnnxMember],
                 combine: dict[str, Any], source_family: str) -> None:
        check_combine(combine, list(members), task)
        self.task = task
        self.modality = modality
        self.members = members
        self.combine = combine
        self.source_family = source_family
        self.history_: list[dict[str, Any]] = []

    def fit(self, x_train: Sequence[Any], y_train: np.ndarray, x_val: Any = None,
            y_val: Any = None) -> OnnxFeaturePredictor:
        """Refused: a compressed model is made from a trained run."""
        raise ConfigError("an onnx_features model is made by `scifm compress RUN_DIR` from a "
                          "trained run; it cannot be trained")

    def member_predictions(self, x: Sequence[Any]) -> dict[str, np.ndarray]:
        """``name -> n x n_outputs`` predictions of every member (each featurizer run once)."""
        what = MODALITIES.get(self.modality).label
        features: dict[str, Any] = {}
        preds = {}
        for name, member in self.members.items():
            key = member.featurizer_key
            if key not in features:
                features[key] = featurize(member.featurizer, x, what=what, level=logging.DEBUG)
            preds[name] = member.predict_features(features[key], self.task)
        return preds

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        """Predictions of shape ``n x task.n_outputs`` (:mod:`scifm.tasks`), as the source
        model's."""
        return self.predict_with_spread(x)[0]

    def predict_with_spread(self, x: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """The predictions and, for an ensemble of several members, their weighted standard
        deviation (as :meth:`scifm.models.ensemble.EnsemblePredictor.predict_with_spread`)."""
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs)), None
        preds = self.member_predictions(x)
        kind = self.combine["kind"]
        if kind == "single":
            return next(iter(preds.values())), None
        if kind == "stacking":
            return apply_meta(self.combine["meta"], preds), None
        weights = self.combine["weights"]
        out = sum(float(weights[k]) * p for k, p in preds.items())
        if len(preds) < 2:
            return out, None
        total = sum(float(weights[k]) for k in preds)
        var = sum(float(weights[k]) / total * (p - out) ** 2 for k, p in preds.items())
        return out, np.sqrt(var)

    def save(self, path: Path) -> None:
        """Refused: the folder is written by :mod:`scifm.compression.onnx_features`."""
        raise ConfigError("an onnx_features model folder is written by `scifm compress`")

    @classmethod
    def load(cls, path: Path) -> OnnxFeaturePredictor:
        """Read the folder (no pickle); sessions open on the first prediction.

        Raises
        ------
        RunDirError
            ``scifm.json``, a featurizer or a graph is missing or invalid.
        """
        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        try:
            task, modality = TaskSpec.from_dict(meta["task"]), str(meta["modality"])
            threads = int(meta.get("threads", 0))
            members = {str(name): OnnxMember.load(path / MEMBERS_DIR / str(name), info, task,
                                                  threads)
                       for name, info in dict(meta["members"]).items()}
            return cls(task, modality, members, dict(meta["combine"]),
                       str(meta.get("source_family", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            msg = " ".join(str(err).split())
            raise RunDirError(f"{path / MODEL_META} is not a valid {FAMILY} model: {msg}"
                              ) from None


def check_outputs(outputs: list[dict[str, Any]], task: TaskSpec) -> None:
    """Raise ``ValueError`` unless the output entries cover each task once, sensibly."""
    seen: list[int] = []
    for entry in outputs:
        post, tasks = entry.get("post"), entry.get("tasks")
        if post not in POSTS or not isinstance(tasks, list) or not tasks:
            raise ValueError(f"invalid output entry {entry}")
        if post != "constant" and not (isinstance(entry.get("file"), str)
                                       and isinstance(entry.get("output"), str)):
            raise ValueError(f"output entry {entry} names no graph output")
        if post == "proba" and not isinstance(entry.get("classes"), list):
            raise ValueError(f"output entry {entry} lists no classes")
        seen.extend(int(t) for t in tasks)
    if sorted(seen) != list(range(task.n_tasks)):
        raise ValueError(f"output entries cover tasks {sorted(seen)}, expected "
                         f"0..{task.n_tasks - 1}")


def check_combine(combine: dict[str, Any], names: list[str], task: TaskSpec) -> None:
    """Raise ``ValueError`` unless ``combine`` puts exactly the members ``names`` together."""
    kind = combine.get("kind")
    if kind == "single":
        if len(names) != 1:
            raise ValueError(f"a single model has one member, got {len(names)}")
    elif kind == "ensemble":
        weights = combine.get("weights")
        if not isinstance(weights, dict) or sorted(weights) != sorted(names):
            raise ValueError(f"ensemble weights {weights} do not name the members {names}")
    elif kind == "stacking":
        check_meta(combine.get("meta") or {}, task)
        if sorted(combine["meta"]["members"]) != sorted(names):
            raise ValueError(f"the meta-model's members are not the members {names}")
    else:
        raise ValueError(f"unknown combination {kind!r}")
