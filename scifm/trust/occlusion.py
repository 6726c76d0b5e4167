"""Occlusion attributions: how much the prediction changes when one unit of the input is masked.

The *units* of an input are what an explanation talks about: the heavy atoms of a molecule, the
residues of a sequence, the words of a text (:class:`Units`, chosen from the modality's spec by
:func:`units_for`, never by its name). The attribution of unit ``i`` is

    ``f(input) - f(input with unit i masked)``

where ``f`` is the explained output (:class:`Output`). The model is used as a black box through
``Predictor.predict``, so every family is explained the same way (LightGBM, XGBoost, forests,
linear models, ensembles, transformers). Masking keeps a valid input:

* **atoms**: the atom becomes a dummy atom ``*`` (RDKit ``RWMol``: atomic number 0, no charge,
  no hydrogens, bonds and aromaticity kept) and the edited molecule is written back as SMILES and
  re-featurised by the model — its fingerprint bits / descriptors then no longer see that element;
* **residues**: replaced by a neutral letter the run's validator accepts and that is not one of
  the standard letters (``N`` for DNA, ``X`` for protein), else deleted;
* **words**: deleted.

All masked variants of a chunk of inputs go to the model in one ``predict`` call.

:func:`sampled_occlusion` is the alternative for units that act together (RISE, Petsiuk et al.
2018): many random masks, each hiding a ``fraction`` of the units; the attribution of unit ``i``
is the mean output of the masks that keep ``i`` minus the mean of those that hide it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scifm.data.datapoints import Datapoint, InvalidInput
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

__all__ = ["AtomUnits", "Output", "ResidueUnits", "Units", "WordUnits", "occlude",
           "parse_molecule", "predict_masked", "sampled_occlusion", "units_for"]

_ATOM_TOKEN = re.compile(r"\[[^\]]+\]|Br|Cl|[BCNOSPFI]|[bcnosp]|\*")
"""An atom of a SMILES string: bracket atom, organic-subset atom (two-letter halogens first)."""

BATCH = 4_000
"""Inputs (originals + masked variants) per ``predict`` call."""


def parse_molecule(smiles: str):  # noqa: ANN201 - rdkit.Chem.Mol or None
    """RDKit molecule of a canonical SMILES (no CXSMILES extensions; ``None`` when unparsable).

    Attributions and drawings both parse through here, so atom indices agree.
    """
    from rdkit import Chem, rdBase

    params = Chem.SmilesParserParams()
    params.allowCXSMILES = False
    _quiet = rdBase.BlockLogs()  # noqa: F841 - a parse error is an answer here
    try:
        return Chem.MolFromSmiles(str(smiles), params)
    except Exception:  # noqa: BLE001 - unparsable: no units
        return None


class Units:
    """How an input splits into units and how units are masked (base: whitespace words)."""

    kind = "word"
    """What a unit is, in the outputs (``atom``, ``residue``, ``word``)."""

    def split(self, primary: str) -> list[str]:
        """The units' labels, in order (atom symbols, residues, words)."""
        return primary.split()

    def spans(self, primary: str) -> list[tuple[int, int]]:
        """Character span ``(start, end)`` of each unit in ``primary`` (empty when unknown)."""
        return [m.span() for m in re.finditer(r"\S+", primary)]

    def mask(self, primary: str, idx: Sequence[int]) -> str:
        """``primary`` with the units ``idx`` masked."""
        drop = set(int(i) for i in idx)
        return " ".join(w for i, w in enumerate(primary.split()) if i not in drop)

    def contexts(self, primary: str) -> list[str]:
        """Per unit, what the global view counts across inputs (words: lower-cased, stripped
        of punctuation)."""
        return [w.strip(".,;:!?()[]{}\"'").lower() or w for w in primary.split()]


class WordUnits(Units):
    """Words of a text (split on whitespace); masking deletes them."""


class ResidueUnits(Units):
    """Letters of a sequence; masking replaces them by ``letter`` (``None``: deletes them)."""

    kind = "residue"

    def __init__(self, letter: str | None) -> None:
        self.letter = letter

    def split(self, primary: str) -> list[str]:
        return list(primary)

    def spans(self, primary: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i in range(len(primary))]

    def contexts(self, primary: str) -> list[str]:
        """The 3-mer centred on each residue (clipped at the ends)."""
        return [primary[max(0, i - 1):i + 2] for i in range(len(primary))]

    def mask(self, primary: str, idx: Sequence[int]) -> str:
        chars = list(primary)
        for i in idx:
            chars[int(i)] = self.letter or ""
        return "".join(chars)


class AtomUnits(Units):
    """Heavy atoms of a molecule (RDKit order of the canonical SMILES); masking turns them into
    dummy atoms ``*``."""

    kind = "atom"

    def split(self, primary: str) -> list[str]:
        mol = parse_molecule(primary)
        return [] if mol is None else [a.GetSymbol() for a in mol.GetAtoms()]

    def spans(self, primary: str) -> list[tuple[int, int]]:
        """Atoms are numbered in the order they are written, so the i-th atom token of the
        SMILES is atom i (empty when the count disagrees with RDKit's)."""
        found = [m.span() for m in _ATOM_TOKEN.finditer(primary)]
        return found if len(found) == len(self.split(primary)) else []

    def contexts(self, primary: str) -> list[str]:
        """The radius-1 environment of each atom as SMILES (the atom, its bonds, neighbours)."""
        from rdkit import Chem

        mol = parse_molecule(primary)
        if mol is None:
            return []
        out = []
        for atom in mol.GetAtoms():
            atoms = [atom.GetIdx()] + [n.GetIdx() for n in atom.GetNeighbors()]
            bonds = [b.GetIdx() for b in atom.GetBonds()]
            try:
                out.append(Chem.MolFragmentToSmiles(mol, atomsToUse=atoms,
                                                    bondsToUse=bonds or None, canonical=True))
            except Exception:  # noqa: BLE001 - fall back to the element
                out.append(atom.GetSymbol())
        return out

    def mask(self, primary: str, idx: Sequence[int]) -> str:
        from rdkit import Chem, rdBase

        mol = parse_molecule(primary)
        if mol is None:
            return primary
        _quiet = rdBase.BlockLogs()  # noqa: F841
        rw = Chem.RWMol(mol)
        for i in idx:
            atom = rw.GetAtomWithIdx(int(i))
            atom.SetAtomicNum(0)
            atom.SetFormalCharge(0)
            atom.SetIsotope(0)
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(True)
        try:
            return Chem.MolToSmiles(rw)
        except Exception as err:  # noqa: BLE001 - an unwritable edit masks nothing
            logger.debug("could not mask atoms %s of %s: %s", list(idx), primary, err)
            return primary


def units_for(spec: object, validator: Callable[[str], str]) -> Units:
    """The units of a modality, read from its spec: molecules RDKit draws -> atoms; modalities
    with a k-mer alphabet -> residues (masked by ``N`` or ``X``, whichever ``validator`` accepts
    and is not a standard letter); anything else -> words."""
    if getattr(spec, "draws_molecules", False):
        return AtomUnits()
    alphabet = getattr(spec, "kmer_alphabet", None)
    if alphabet is None:
        return WordUnits()
    standard = sorted(alphabet[0])
    for letter in "NX":
        if letter in standard:
            continue
        try:
            if validator(standard[0] * 3 + letter).endswith(letter):
                return ResidueUnits(letter)
        except InvalidInput:
            continue
    return ResidueUnits(None)


@dataclass
class Output:
    """The scalar an explanation explains: binary -> the positive-class probability of
    ``target``; regression -> the value of ``target``; multiclass -> the probability of the class
    predicted for the unmasked input (``predicted`` holds it per input)."""

    task: TaskSpec
    target: int = 0
    """Column of the prediction array (binary / regression)."""

    def __call__(self, pred: np.ndarray, predicted: np.ndarray | None = None) -> np.ndarray:
        """``pred``: ``n x n_outputs``; ``predicted``: class per row (multiclass) -> ``n``."""
        pred = np.asarray(pred, dtype=float).reshape(len(pred), -1)
        if self.task.task_type != "multiclass":
            return pred[:, self.target]
        cls = np.argmax(pred, axis=1) if predicted is None else predicted
        return pred[np.arange(len(pred)), cls]


def _with_primary(record: Datapoint | str, primary: str) -> Datapoint | str:
    return Datapoint(primary, record.extras) if isinstance(record, Datapoint) else primary


def predict_masked(predict: Callable[[list], np.ndarray], output: Output,
                   records: Sequence[Datapoint | str], variants: Sequence[list[str]],
                   predicted: np.ndarray | None = None) -> list[np.ndarray]:
    """The explained output of every masked variant, batched into few ``predict`` calls.

    Parameters
    ----------
    predict
        ``Predictor.predict``.
    records
        The inputs (their further columns travel with every variant).
    variants
        Per input, masked primary strings.
    predicted
        Multiclass: the class explained per input.

    Returns
    -------
    list of numpy.ndarray
        Per input, the output of each variant (shape ``len(variants[i])``).
    """
    flat = [(r, _with_primary(rec, v)) for r, (rec, vs) in enumerate(zip(records, variants,
                                                                       strict=True)) for v in vs]
    values = np.empty(len(flat))
    for start in range(0, len(flat), BATCH):
        part = flat[start:start + BATCH]
        pred = predict([x for _, x in part])
        cls = None if predicted is None else predicted[[r for r, _ in part]]
        values[start:start + len(part)] = output(pred, cls)
    out, pos = [], 0
    for vs in variants:
        out.append(values[pos:pos + len(vs)])
        pos += len(vs)
    return out


def occlude(predict: Callable[[list], np.ndarray], output: Output, units: Units,
            records: Sequence[Datapoint | str], base: np.ndarray,
            predicted: np.ndarray | None = None) -> list[np.ndarray]:
    """Occlusion attribution of every unit of every input: ``base - f(masked unit)``.

    ``base`` is the explained output of the unmasked inputs (shape ``n``); returns per input an
    array of one attribution per unit (empty when the input has no units).
    """
    variants = []
    for rec in records:
        primary = str(rec)
        variants.append([units.mask(primary, [i]) for i in range(len(units.split(primary)))])
    masked = predict_masked(predict, output, records, variants, predicted)
    return [b - m for b, m in zip(base, masked, strict=True)]


def _sample_attributions(hidden: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``mean(values | unit kept) - mean(values | unit hidden)`` per unit (0 where a unit was
    always or never hidden); ``hidden``: ``n_samples x n_units`` booleans."""
    h = hidden.astype(float)
    n_hidden, n_kept = h.sum(axis=0), (1 - h).sum(axis=0)
    ok = (n_hidden > 0) & (n_kept > 0)
    out = np.zeros(h.shape[1])
    out[ok] = ((1 - h).T @ values)[ok] / n_kept[ok] - (h.T @ values)[ok] / n_hidden[ok]
    return out


def sampled_occlusion(predict: Callable[[list], np.ndarray], output: Output, units: Units,
                      records: Sequence[Datapoint | str], predicted: np.ndarray | None = None,
                      fraction: float = 0.2, n_samples: int = 128,
                      seed: int = 0) -> list[np.ndarray]:
    """Attributions from random masks that each hide ``fraction`` of an input's units (RISE).

    Parameters
    ----------
    predict, output, units, records, predicted
        As for :func:`occlude`.
    fraction
        Share of the units each mask hides (at least one).
    n_samples
        Masks per input (``n_samples`` predictions per input).
    seed
        Seed of the masks (a stream of its own, apart from the deletion test's draws).

    Returns
    -------
    list of numpy.ndarray
        Per input, one attribution per unit (``f`` kept minus ``f`` hidden, averaged).
    """
    rng = np.random.default_rng([seed, 1])
    hidden, variants = [], []
    for rec in records:
        primary = str(rec)
        n = len(units.split(primary))
        k = max(1, int(round(fraction * n)))
        draws = [rng.choice(n, size=k, replace=False) for _ in range(n_samples if n else 0)]
        mask = np.zeros((len(draws), n), dtype=bool)
        for j, d in enumerate(draws):
            mask[j, d] = True
        hidden.append(mask)
        variants.append([units.mask(primary, d) for d in draws])
    values = predict_masked(predict, output, records, variants, predicted)
    return [_sample_attributions(h, v) if h.size else np.zeros(0)
            for h, v in zip(hidden, values, strict=True)]
