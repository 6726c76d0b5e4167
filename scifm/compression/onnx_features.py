"""Variant maker ``onnx-trees``: a feature model (or ``auto``'s combination of them) as ONNX.

Every estimator of every member is converted by the library that owns the format: LightGBM
boosters with :func:`onnxmltools.convert_lightgbm`, XGBoost models with
:func:`onnxmltools.convert_xgboost`, scikit-learn estimators and pipelines (``rf``,
``extratrees``, ``linear``, ``svm``) with :func:`skl2onnx.convert_sklearn`; classifiers without
ZipMap, so a graph gives an ``n x n_classes`` probability tensor in the estimator's class order.
The members keep their own featurizers (:class:`~scifm.models.onnx_features.OnnxFeaturePredictor`
runs each distinct one once); an ensemble's weights or a stacking meta-model are applied in numpy.

Two conversions are not one library call:

* a LightGBM booster trained with ``objective=cross_entropy`` (the soft-label students of
  :mod:`scifm.compression.distill_features`) is converted as ``binary`` with ``sigmoid:1``, the
  same output transform (onnxmltools knows no ``cross_entropy``);
* a binary ``svm`` (``CalibratedClassifierCV`` of a pipeline ending in ``SVC``): skl2onnx 1.20
  gives the probabilities of the wrong class for it, so the pipeline's decision function is
  converted (``raw_scores``) and its Platt scaling applied in numpy (multiclass is right).

skl2onnx also ignores where a scikit-learn forest sends missing (NaN) features:
:func:`route_missing` writes the trees' learned directions into the graph.

A member without a converter (``knn``: scifm's Tanimoto kNN, ``mpnn``, transformers) means no
variant: one logged line, an empty list. The variant's predictions are compared with the source
model's on up to :data:`CHECK_ROWS` validation rows; a difference over the tolerance raises
:class:`OnnxMismatchError` (a converter bug must never ship silently).

Speed notes: the tree converters emit ONNX-ML ``TreeEnsembleClassifier`` / ``Regressor``
operators with float32 thresholds and leaf values (the features are float32 already), which
ONNX Runtime's tree kernels evaluate in parallel over trees or rows (``intra_op_num_threads``:
the ``threads`` of ``scifm.json``). The graphs match the double-precision libraries to ~1e-6;
onnxmltools' ``split`` option (tree chunks summed in double) buys precision, not speed, so it is
not used. Measured on BBBP's LightGBM-on-RDKit-2D model, one thread, features computed once:
ONNX Runtime predicts ~10x as many rows per CPU-second as LightGBM at batch 1, ~3x at batch 64,
~2x on all 2,039 rows; the whole pipeline stays bound by the descriptors' featurisation, which
the fingerprint student (:mod:`scifm.compression.distill_features`) removes.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from scifm.compression.base import CompressJob, Variant
from scifm.errors import ScifmError
from scifm.models.base import MODEL_META
from scifm.models.manifest import staged_folder
from scifm.models.onnx_features import FAMILY, FEATURIZER_FILE, MEMBERS_DIR, OnnxFeaturePredictor
from scifm.utils.io import atomic_write_json

__all__ = ["CHECK_ROWS", "OnnxMismatchError", "Unconvertible", "convert_member",
           "make_onnx_feature_variants"]

logger = logging.getLogger(__name__)

VARIANT = "onnx"
CHECK_ROWS = 256
"""Validation rows on which the ONNX predictions are compared with the source model's."""
RTOL, ATOL = 1e-4, 1e-5
"""Tolerance of the comparison: ``|onnx - source| <= ATOL + RTOL * max(1, max |source|)``."""
CARRIED_META = ("data", "split")
"""Keys of the source ``scifm.json`` the variant keeps (what ``predict`` reads from a run)."""


class Unconvertible(Exception):
    """A member has no ONNX converter (the variant is skipped)."""


class OnnxMismatchError(ScifmError):
    """The ONNX graphs do not reproduce the source model's predictions."""


def _members(teacher: Any, family: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(name -> member predictor, combination)`` of the run's model."""
    from scifm.models.ensemble import EnsemblePredictor
    from scifm.models.stacked import StackedPredictor

    if isinstance(teacher, EnsemblePredictor):
        return dict(teacher.members), {"kind": "ensemble", "weights": dict(teacher.weights)}
    if isinstance(teacher, StackedPredictor):
        return dict(teacher.members), {"kind": "stacking", "meta": teacher.meta}
    return {family: teacher}, {"kind": "single"}


def make_onnx_feature_variants(job: CompressJob) -> list[Variant]:
    """The ``onnx`` variant (fp32 ONNX graphs run by ONNX Runtime) of the run's model.

    Returns
    -------
    list of Variant
        One variant, or none when a member has no ONNX converter (logged).

    Raises
    ------
    OnnxMismatchError
        The converted model's predictions differ from the source's on the validation rows.
    """
    family = str(job.meta.get("family"))
    members, combine = _members(job.teacher, family)
    converted = {}
    for name, member in members.items():
        try:
            converted[name] = convert_member(member)
        except Unconvertible as why:
            logger.warning("onnx: no ONNX variant of this %s model: member %r: %s", family,
                           name, why)
            return []
    out = Path(job.work) / VARIANT
    meta = {"family": FAMILY, "source_family": family, "modality": job.meta["modality"],
            "task": job.task.to_dict(), "combine": combine, "threads": int(job.options.threads),
            "members": {n: {"features": getattr(members[n], "features", None),
                            "n_features": c["n_features"], "outputs": c["outputs"]}
                        for n, c in converted.items()},
            **{k: job.meta[k] for k in CARRIED_META if k in job.meta}}
    _write(out, meta, members, converted)
    try:
        details = check_variant(job, out)
    except OnnxMismatchError:
        shutil.rmtree(out, ignore_errors=True)
        raise
    n_graphs = sum(len(c["graphs"]) for c in converted.values())
    return [Variant(VARIANT, out, f"ONNX fp32: {n_graphs} graph(s) of {len(members)} "
                                  f"member(s), ONNX Runtime", details)]


def _write(out: Path, meta: dict[str, Any], members: dict[str, Any],
           converted: dict[str, dict[str, Any]]) -> None:
    """The variant's model folder: each member's featurizer and graphs, then ``scifm.json``."""
    with staged_folder(out) as tmp:
        for name, conv in converted.items():
            folder = tmp / MEMBERS_DIR / name
            folder.mkdir(parents=True)
            atomic_write_json(folder / FEATURIZER_FILE, members[name].featurizer.to_config())
            for file, graph in conv["graphs"].items():
                (folder / file).write_bytes(graph.SerializeToString())
        atomic_write_json(tmp / MODEL_META, meta)


def check_variant(job: CompressJob, folder: Path) -> dict[str, Any]:
    """Compare the variant's predictions with the source model's on validation rows.

    Raises
    ------
    OnnxMismatchError
        A difference over the tolerance (:data:`RTOL`, :data:`ATOL`).
    """
    rows = job.rows.get("val")
    if rows is None or not len(rows):
        rows = job.rows["test"]
    x = rows.inputs[:CHECK_ROWS]
    ref = np.asarray(job.teacher.predict(x), dtype=np.float64).reshape(len(x), -1)
    got = OnnxFeaturePredictor.load(folder).predict(x)
    diff = np.abs(got - ref)
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    bound = ATOL + RTOL * max(1.0, float(np.nanmax(np.abs(ref))) if ref.size else 1.0)
    if not np.array_equal(np.isnan(got), np.isnan(ref)) or worst > bound:
        raise OnnxMismatchError(f"the ONNX form of the {job.meta.get('family')} model differs "
                                f"from it by up to {worst:.3g} on {len(x)} validation rows "
                                f"(tolerance {bound:.3g}); no onnx variant written")
    logger.info("onnx: predictions equal the source model's on %d rows (max |diff| %.2g)",
                len(x), worst)
    return {"checked_rows": len(x), "max_abs_diff": worst}


def convert_member(member: Any) -> dict[str, Any]:
    """The ONNX graphs of one feature model and how their outputs map to tasks.

    Returns
    -------
    dict
        ``graphs`` (file name -> ``onnx.ModelProto``), ``outputs`` (the entries of
        :mod:`scifm.models.onnx_features`) and ``n_features``.

    Raises
    ------
    Unconvertible
        Not a feature model, or a family without an ONNX converter.
    """
    from scifm.models.feature import FeaturePredictor

    if not isinstance(member, FeaturePredictor):
        raise Unconvertible(f"{getattr(member, 'family', type(member).__name__)} is not a "
                            "feature model")
    if member.family == "knn":
        raise Unconvertible("scifm's kNN (Tanimoto / masked labels) has no ONNX converter")
    if member.family == "lightgbm":
        return lightgbm_graphs(member.model, member.task)
    if member.family in ("xgboost", "rf", "extratrees", "linear", "svm"):
        return taskwise_graphs(member.model, member.task, member.family)
    raise Unconvertible(f"no ONNX converter for the {member.family} family")


def _output(graph: Any, classifier: bool) -> str:
    """The graph output to read: the probability tensor of a classifier, else the first."""
    names = [o.name for o in graph.graph.output]
    return "probabilities" if classifier and "probabilities" in names else names[0]


def _as_binary(model_text: str) -> str:
    """A ``cross_entropy`` booster's text as ``binary sigmoid:1`` (same output transform)."""
    swap = {"objective=cross_entropy": "objective=binary sigmoid:1",
            "[objective: cross_entropy]": "[objective: binary]"}
    return "\n".join(swap.get(line.strip(), line) for line in model_text.split("\n"))


def lightgbm_graphs(model: Any, task: Any) -> dict[str, Any]:
    """One graph per booster of a :class:`~scifm.models.baselines.LGBMTaskModel`, cut at its
    best iteration (:func:`onnxmltools.convert_lightgbm`, no ZipMap)."""
    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    d = int(model.n_features_in_)
    graphs, outputs = {}, []
    for j, (booster, best) in enumerate(zip(model.boosters_, model.best_iterations_,
                                            strict=True)):
        text = _as_binary(booster.model_to_string(num_iteration=best))
        try:
            graph = onnxmltools.convert_lightgbm(
                lgb.Booster(model_str=text), initial_types=[("X", FloatTensorType([None, d]))],
                zipmap=False)
        except (NotImplementedError, RuntimeError, ValueError) as err:
            raise Unconvertible(f"onnxmltools cannot convert booster {j}: {err}") from None
        file, classifier = f"task_{j}.onnx", task.task_type != "regression"
        graphs[file] = graph
        entry = {"tasks": [j], "file": file, "output": _output(graph, classifier),
                 "post": "proba" if classifier else "values"}
        if classifier:
            entry["classes"] = list(range(task.n_outputs if task.task_type == "multiclass"
                                          else 2))
        outputs.append(entry)
    return {"graphs": graphs, "outputs": outputs, "n_features": d}


def _convert(est: Any, d: int, family: str, classifier: bool, raw_scores: bool = False) -> Any:
    """One scikit-learn / XGBoost estimator as an ONNX graph on ``n x d`` float32 inputs."""
    if family == "xgboost":
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        return onnxmltools.convert_xgboost(est, initial_types=[("X", FloatTensorType([None, d]))])
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType as SkFloat

    from scifm.models.clipping import register_onnx_converter

    register_onnx_converter()  # the scaled families' Clip step

    options = None
    if classifier:
        final = est.steps[-1][1] if hasattr(est, "steps") else est
        opts = {"zipmap": False, **({"raw_scores": True} if raw_scores else {})}
        options = {id(est): {"zipmap": False}, id(final): opts}
    graph = convert_sklearn(est, initial_types=[("X", SkFloat([None, d]))], options=options)
    if family in ("rf", "extratrees"):
        route_missing(graph, est)
    return graph


def route_missing(graph: Any, forest: Any) -> None:
    """Send NaN features where the scikit-learn forest's trees send them.

    skl2onnx 1.20 leaves ``nodes_missing_value_tracks_true`` at 0 for forests (NaN always takes
    the false branch, ``x <= t`` failing), while scikit-learn (>= 1.4) learns a direction per
    split (``tree_.missing_go_to_left``): RDKit descriptors that are NaN for some molecules
    would be routed differently. The attribute is rewritten from the trees (true branch = left
    child)."""
    from onnx import helper

    for node in graph.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        trees = helper.get_attribute_value(attrs["nodes_treeids"])
        nodes = helper.get_attribute_value(attrs["nodes_nodeids"])
        routes = []
        for t, n in zip(trees, nodes, strict=True):
            tree = forest.estimators_[t].tree_
            left = getattr(tree, "missing_go_to_left", None)
            routes.append(int(left[n]) if left is not None and tree.children_left[n] != -1
                          else 0)
        if "nodes_missing_value_tracks_true" in attrs:
            node.attribute.remove(attrs["nodes_missing_value_tracks_true"])
        node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", routes))


def _platt(est: Any) -> tuple[Any, float, float] | None:
    """``(pipeline, a, b)`` of a binary sigmoid-calibrated classifier fitted once
    (``CalibratedClassifierCV(ensemble=False)``), else None."""
    calibrated = getattr(est, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or calibrated[0].method != "sigmoid":
        return None
    one = calibrated[0]
    if len(one.calibrators) != 1:
        return None
    return one.estimator, float(one.calibrators[0].a_), float(one.calibrators[0].b_)


def _task_graph(est: Any, d: int, family: str, task: Any, j: int,
                classes: list[int] | None) -> tuple[Any, dict[str, Any]]:
    """The graph of task ``j``'s estimator and its output entry."""
    file, tasks = f"task_{j}.onnx", [j]
    if task.task_type == "regression":
        graph = _convert(est, d, family, classifier=False)
        return graph, {"tasks": tasks, "file": file, "output": _output(graph, False),
                       "post": "values"}
    platt = _platt(est) if task.task_type == "binary" else None
    if platt is not None:  # skl2onnx flips a calibrated pipeline's binary probabilities
        pipeline, a, b = platt
        graph = _convert(pipeline, d, family, classifier=True, raw_scores=True)
        return graph, {"tasks": tasks, "file": file, "output": _output(graph, True),
                       "post": "platt", "a": a, "b": b}
    graph = _convert(est, d, family, classifier=True)
    return graph, {"tasks": tasks, "file": file, "output": _output(graph, True),
                   "post": "proba", "classes": [int(c) for c in classes or []]}


def taskwise_graphs(model: Any, task: Any, family: str) -> dict[str, Any]:
    """The graphs of a :class:`~scifm.models.estimators.TaskwiseEstimator`: one per task (a
    constant entry for a single-class task), or one for a joint multi-output forest."""
    from scifm.models.joint import n_outputs

    d, graphs, outputs = int(model.n_features_in_), {}, []
    try:
        if model.n_tasks_ > 1 and n_outputs(model.estimators_[0]) == model.n_tasks_:
            graph = _convert(model.estimators_[0], d, family, classifier=False)
            return {"graphs": {"joint.onnx": graph}, "n_features": d, "outputs": [{
                "tasks": list(range(model.n_tasks_)), "file": "joint.onnx",
                "output": _output(graph, False), "post": "values"}]}
        for j, est in enumerate(model.estimators_):
            if est is None:
                outputs.append({"tasks": [j], "post": "constant",
                                "constant": np.asarray(model.constants_[j]).ravel().tolist()})
                continue
            graph, entry = _task_graph(est, d, family, task, j, model.classes_per_task_[j])
            graphs[entry["file"]] = graph
            outputs.append(entry)
    except Exception as err:  # noqa: BLE001 - converters raise many kinds for what they lack
        raise Unconvertible(f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
                            ) from None
    return {"graphs": graphs, "outputs": outputs, "n_features": d}
