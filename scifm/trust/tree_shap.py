"""TreeSHAP attributions of a fingerprint LightGBM model, mapped back to atoms through the
fingerprint's bit environments.

LightGBM computes exact TreeSHAP values itself (``Booster.predict(pred_contrib=True)``, the
algorithm of Lundberg et al. 2020 that SHAP's ``TreeExplainer`` runs), in the model's raw output
(log-odds for classification, target units for regression). Each Morgan bit that is on in a
molecule comes from one or more atom environments (a centre atom and a radius); RDKit's
``AdditionalOutput`` bit-info map says which. A bit's SHAP value is shared equally among its
occurrences, and an occurrence's share equally among the atoms of its environment (the centre
and every atom within ``radius`` bonds), so the atom attributions add up to the SHAP values of
the bits the molecule has. Two parts of the SHAP mass have no atoms and are left out (their
share is kept in ``attribute.mapped_share``): bits the molecule lacks (a tree may split on a
bit's absence) and columns of other feature sets in the same model (descriptors, MACCS).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scifm.errors import ConfigError
from scifm.trust.occlusion import Output, Units, parse_molecule

__all__ = ["atom_shares", "fingerprint_layout", "tree_shap"]


def fingerprint_layout(featurizer: Any) -> tuple[int, Any, int]:
    """``(offset, ECFP featurizer, width of the whole feature vector)`` of the first ECFP part of
    a (concatenated) featurizer.

    Raises
    ------
    ConfigError
        No ECFP part.
    """
    from scifm.featurizers.molecule import ConcatFeaturizer, ECFPFeaturizer

    parts = list(featurizer.featurizers) if isinstance(featurizer, ConcatFeaturizer) \
        else [featurizer]
    offset = 0
    for part in parts:
        if isinstance(part, ECFPFeaturizer):
            return offset, part, len(featurizer)
        offset += len(part)
    raise ConfigError("--method shap maps fingerprint bits to atoms: this model has no ECFP "
                      "features (use --method occlusion)")


def atom_shares(mol: Any, ecfp: Any) -> tuple[np.ndarray, dict[int, list[list[int]]]]:
    """The molecule's ECFP vector (as the model's featurizer makes it) and, per on-bit, the atom
    lists of its environments."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    ao = rdFingerprintGenerator.AdditionalOutput()
    ao.AllocateBitInfoMap()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=ecfp.radius, fpSize=ecfp.n_bits)
    fp = gen.GetCountFingerprintAsNumPy if ecfp.counts else gen.GetFingerprintAsNumPy
    x = np.asarray(fp(mol, additionalOutput=ao), dtype=np.float32)
    envs: dict[int, list[list[int]]] = {}
    for bit, found in ao.GetBitInfoMap().items():
        for centre, radius in found:
            atoms = {centre}
            if radius > 0:
                for b in Chem.FindAtomEnvironmentOfRadiusN(mol, radius, centre):
                    bond = mol.GetBondWithIdx(b)
                    atoms.update((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            envs.setdefault(int(bit), []).append(sorted(atoms))
    return x, envs


def _contributions(model: Any, X: np.ndarray, target: int, predicted: Any,
                   n_classes: int | None) -> np.ndarray:
    """``n x d`` TreeSHAP values of the explained output (the bias column dropped)."""
    boosters = getattr(model, "boosters_", None)
    if boosters is None:
        raise ConfigError("--method shap explains LightGBM models (TreeSHAP); use --method "
                          "occlusion for this model")
    d = X.shape[1]
    if n_classes:  # one multiclass booster: k blocks of d + 1, the predicted class's block
        raw = boosters[0].predict(X, num_iteration=model.best_iterations_[0], pred_contrib=True)
        raw = np.asarray(raw).reshape(len(X), n_classes, d + 1)
        return raw[np.arange(len(X)), np.asarray(predicted, int), :d]
    booster, it = boosters[target], model.best_iterations_[target]
    if booster is None:
        raise ConfigError("this target had a single class in training: nothing to explain")
    return np.asarray(booster.predict(X, num_iteration=it, pred_contrib=True))[:, :d]


def tree_shap(predictor: Any):  # noqa: ANN201 - scifm.trust.explain.Attribute
    """The ``attribute`` function of :func:`scifm.trust.explain.explain_records` for a LightGBM
    model on (partly) ECFP features; per atom, the TreeSHAP values of its environments' bits.

    Raises
    ------
    ConfigError
        Not a LightGBM model with ECFP features on molecules.
    """
    featurizer = getattr(predictor, "featurizer", None)
    if getattr(predictor, "modality", None) != "smiles" or featurizer is None:
        raise ConfigError("--method shap explains fingerprint models of molecules; use --method "
                          "occlusion for this model")
    offset, ecfp, width = fingerprint_layout(featurizer)
    model = predictor.model
    n_classes = predictor.task.n_outputs if predictor.task.task_type == "multiclass" else None
    mapped: list[float] = []

    def attribute(output: Output, units: Units, records: list, predicted: Any) -> list:
        mols = [parse_molecule(str(r)) for r in records]
        X = np.asarray(featurizer([str(r) for r in records]), dtype=np.float32).reshape(
            len(records), width)
        phi = _contributions(model, X, output.target, predicted, n_classes)
        out = []
        for r, mol in enumerate(mols):
            atoms = np.zeros(len(units.split(str(records[r]))))
            if mol is None:
                out.append(atoms)
                continue
            _, envs = atom_shares(mol, ecfp)
            bits = phi[r, offset:offset + ecfp.n_bits]
            for bit, found in envs.items():
                for env in found:
                    atoms[env] += bits[bit] / len(found) / len(env)
            total = np.abs(phi[r]).sum()
            on = np.abs(bits[[b for b in envs]]).sum() if envs else 0.0
            mapped.append(float(on / total) if total > 0 else 1.0)
            out.append(atoms)
        return out

    attribute.mapped_share = mapped  # type: ignore[attr-defined] - read by the recipe's summary
    return attribute
