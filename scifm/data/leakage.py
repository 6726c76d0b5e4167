"""Audit a split for train/test leakage, plus the k-mer similarity machinery for sequences.

:func:`audit_split` counts exact duplicates across splits and measures how similar each test
input is to its nearest train neighbour with the modality plug-in's ``nn_similarity``: ECFP4
Tanimoto for SMILES, k-mer Jaccard for protein (k=3) and DNA (k=5). Text gets exact duplicates
only.

:func:`similarity_groups` (used by the ``similarity`` split) groups near-identical sequences:

1. each sequence becomes its set of overlapping k-mers (sequences shorter than k: one token);
2. a seeded MinHash signature of ``n_hashes`` 32-bit values summarises each set
   (Murmur-mixed codes, then multiply-shift hashing; vectorised with numpy);
3. LSH banding (``b`` bands of ``r`` rows, ``r`` chosen so that a pair at the threshold becomes a
   candidate with probability >= 0.9999) proposes candidate pairs without comparing all pairs;
   within a bucket each member is paired with the bucket's first member and its predecessor;
4. candidates are pre-filtered on the MinHash estimate, then verified with the exact Jaccard
   similarity of the k-mer sets (``>= threshold``);
5. connected components of the verified pairs (union-find) are the groups.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import Inputs, primary_strings

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_LSH_RECALL = 0.9999
_SHORT_FLAG = np.int64(1) << 31


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if len(x) else x


def kmer_codes(seqs: Inputs, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique k-mer codes of every sequence.

    Returns
    -------
    codes, starts
        ``codes[starts[i]:starts[i + 1]]`` are the distinct k-mer codes of ``seqs[i]``
        (6 bits per character; a sequence shorter than ``k`` is one flagged token).
    """
    if not 1 <= k <= 5:
        raise ValueError("k must be in 1..5 (6 bits per character in a 32-bit code)")
    seqs = primary_strings(seqs)
    n = len(seqs)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    buf = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)
    chars = (buf & 63).astype(np.int64)
    seq_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    offset = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    keys = []
    if len(chars) >= k:
        weights = (np.int64(1) << (6 * np.arange(k - 1, -1, -1))).astype(np.int64)
        codes = np.lib.stride_tricks.sliding_window_view(chars, k) @ weights
        pos = np.arange(len(codes))
        ok = pos - offset[seq_of[: len(codes)]] <= lengths[seq_of[: len(codes)]] - k
        keys.append((seq_of[: len(codes)][ok] << 32) | codes[ok])
    short = np.flatnonzero(lengths < k)
    if len(short):
        sc = [int.from_bytes(seqs[i].encode("ascii", "replace"), "big") & 0x7FFFFFFF
              for i in short]
        keys.append((short.astype(np.int64) << 32) | _SHORT_FLAG | np.array(sc, dtype=np.int64))
    allk = _sorted_unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    owner = allk >> 32
    starts = np.searchsorted(owner, np.arange(n + 1))
    return allk & 0xFFFFFFFF, starts


def _mix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads structured k-mer codes over all bits."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def minhash_signatures(codes: np.ndarray, starts: np.ndarray, n_hashes: int = 64,
                       seed: int = 0) -> np.ndarray:
    """``n x n_hashes`` uint32 MinHash signatures of the k-mer sets from :func:`kmer_codes`."""
    rng = np.random.default_rng(int(seed) % 2**32)
    a = rng.integers(1, 2**63, size=n_hashes, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=n_hashes, dtype=np.uint64)
    n = len(starts) - 1
    sig = np.full((n, n_hashes), np.iinfo(np.uint32).max, dtype=np.uint32)
    nonempty = starts[1:] > starts[:-1]
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(starts, starts[lo] + _CHUNK, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        c = _mix64(codes[starts[lo]:starts[hi]].astype(np.uint64))
        if len(c):
            h = ((c[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
            idx = np.arange(lo, hi)[nonempty[lo:hi]]
            sig[idx] = np.minimum.reduceat(h, starts[idx] - starts[lo], axis=0)
        lo = hi
    return sig


def _lsh_rows(threshold: float, n_hashes: int) -> int:
    best = 1
    for r in range(1, n_hashes + 1):
        if 1.0 - (1.0 - threshold**r) ** (n_hashes // r) >= _LSH_RECALL:
            best = r
    return best


def _candidate_pairs(sig: np.ndarray, threshold: float) -> np.ndarray:
    n, n_hashes = sig.shape
    r = _lsh_rows(threshold, n_hashes)
    mult = np.uint64(0x9E3779B97F4A7C15)
    pairs = []
    for band in range(n_hashes // r):
        key = np.zeros(n, dtype=np.uint64)
        for j in range(band * r, (band + 1) * r):
            key = key * mult + sig[:, j].astype(np.uint64)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        same = ks[1:] == ks[:-1]
        if not same.any():
            continue
        run = np.cumsum(np.concatenate([[True], ~same])) - 1
        first = order[np.flatnonzero(np.concatenate([[True], ~same]))][run]
        pos = np.flatnonzero(np.concatenate([[False], same]))
        pairs.append(np.stack([first[pos], order[pos]], axis=1))
        pairs.append(np.stack([order[pos - 1], order[pos]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    p = np.sort(np.concatenate(pairs), axis=1).astype(np.int64)
    p = p[p[:, 0] != p[:, 1]]
    return np.unique(p, axis=0)


def similarity_groups(seqs: Inputs, k: int, threshold: float = 0.9, seed: int = 0,
                      n_hashes: int = 64) -> np.ndarray:
    """Group ids such that sequences with k-mer Jaccard >= ``threshold`` share a group.

    See the module docstring for the method (MinHash + LSH + exact verification + union-find);
    runs in about linear time (50k sequences of length 70 in a few seconds).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(seqs)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    codes, starts = kmer_codes(seqs, k)
    sig = minhash_signatures(codes, starts, n_hashes, seed)
    cand = _candidate_pairs(sig, threshold)
    if len(cand):  # MinHash estimate: drop pairs far (4 sd) below the threshold
        est = np.concatenate([(sig[c[:, 0]] == sig[c[:, 1]]).mean(axis=1)
                              for c in np.array_split(cand, max(1, len(cand) // 50_000))])
        cand = cand[est >= threshold - 4 * np.sqrt(0.25 / n_hashes)]
    sets: dict[int, set[int]] = {}

    def kset(i: int) -> set[int]:
        s = sets.get(i)
        if s is None:
            s = sets[i] = set(codes[starts[i]:starts[i + 1]].tolist())
        return s

    keep = np.zeros(len(cand), dtype=bool)
    for e, (i, j) in enumerate(cand.tolist()):
        a, b = kset(i), kset(j)
        inter = len(a & b)
        keep[e] = inter >= threshold * (len(a) + len(b) - inter) - 1e-12
    edges = cand[keep]
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    logger.info("similarity groups: %d sequences -> %d groups (largest %d; %d candidate pairs, "
                "%d verified)", n, len(sizes), sizes.max(), len(cand), len(edges))
    if sizes.max() > 0.5 * n and n > 10:
        logger.warning("one similarity group holds %d of %d sequences; a similarity split "
                       "cannot separate them", sizes.max(), n)
    return labels.astype(np.int64)


def nn_kmer_jaccard(query: Inputs, reference: Inputs, k: int) -> np.ndarray:
    """Exact k-mer Jaccard similarity of each query to its nearest reference sequence."""
    from scipy.sparse import csr_matrix

    if not len(query) or not len(reference):
        return np.zeros(len(query))
    codes, starts = kmer_codes(list(query) + list(reference), k)
    vocab, cols = np.unique(codes, return_inverse=True)
    rows = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    x = csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)),
                   shape=(len(starts) - 1, len(vocab)))
    nq = len(query)
    xq, xr = x[:nq], x[nq:].T.tocsc()
    size = np.diff(starts).astype(np.float64)
    sq, sr = size[:nq], size[nq:]
    best = np.zeros(nq)
    for lo in range(0, nq, 128):
        inter = (xq[lo:lo + 128] @ xr).toarray()
        union = sq[lo:lo + 128, None] + sr[None, :] - inter
        best[lo:lo + 128] = (inter / np.maximum(union, 1)).max(axis=1)
    return best


def similarity_summary(values: np.ndarray) -> dict[str, Any]:
    """Quantiles, near-duplicate shares and a 20-bin histogram of nearest-neighbour similarities
    (also used by :mod:`scifm.evaluation.evaluation_audit`)."""
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    counts, edges = np.histogram(values, bins=20, range=(0.0, 1.0))
    return {
        "n": int(len(values)), "mean": float(values.mean()), "median": float(q[2]),
        "q05": float(q[0]), "q25": float(q[1]), "q75": float(q[3]), "q95": float(q[4]),
        "frac_ge_0.8": float((values >= 0.8).mean()),
        "frac_eq_1": float((values >= 1.0 - 1e-9).mean()),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        "values": [round(float(v), 4) for v in values],
    }


def audit_split(dataset: Any, splits: dict[str, np.ndarray], modality: str, *,
                max_test: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Leakage audit of a split (JSON-able).

    Parameters
    ----------
    dataset
        A :class:`~scifm.data.clean.CleanDataset`.
    splits
        ``train`` / ``val`` / ``test`` positions into ``dataset``.
    modality
        Its plug-in's ``nn_similarity`` measures near-duplicates (``smiles``: ECFP4 Tanimoto,
        ``protein`` / ``dna``: k-mer Jaccard); without one (``text``) only exact duplicates
        are counted.
    max_test
        At most this many test rows (seeded sample) are compared with train.
    seed
        Seed of that sample.

    Returns
    -------
    dict
        ``n`` per split, ``exact_duplicates`` (distinct inputs shared by train_test, train_val,
        val_test), ``nn_similarity`` (test -> nearest train: mean, median, quantiles,
        ``frac_ge_0.8``, ``frac_eq_1``, ``histogram``, ``values``) or ``None``, ``metric``,
        ``note`` and ``warnings``.
    """
    inputs = np.asarray(dataset.inputs, dtype=object)
    part = {s: inputs[np.asarray(splits.get(s, []), dtype=np.int64)] for s in
            ("train", "val", "test")}
    out = _exact_duplicates(part)
    similarity = MODALITIES.get(modality).nn_similarity
    test, train = part["test"], part["train"]
    if similarity is None:
        out["note"] = (f"near-duplicate detection is not implemented for {modality}; only exact "
                       "duplicates after normalisation are counted")
        return out
    if len(test) == 0 or len(train) == 0:
        out["note"] = "empty train or test split: no nearest-neighbour similarity"
        return out
    if len(test) > max_test:
        test = np.random.default_rng(int(seed) % 2**32).choice(test, max_test, replace=False)
        out["note"] = f"nearest-neighbour similarity on a random sample of {max_test} test rows"
    out["metric"] = similarity.metric
    values = similarity.fn(primary_strings(test), primary_strings(train))
    out["nn_similarity"] = similarity_summary(values)
    frac = out["nn_similarity"]["frac_ge_0.8"]
    if frac >= 0.05:
        out["warnings"].append(f"{frac:.0%} of test {similarity.items} have a train neighbour "
                               f"with {similarity.name} >= 0.8")
    for msg in out["warnings"]:
        logger.warning("leakage audit: %s", msg)
    return out


def _exact_duplicates(part: dict[str, np.ndarray]) -> dict[str, Any]:
    """The audit's skeleton: split sizes and identical inputs shared by two splits."""
    sets = {s: set(v.tolist()) for s, v in part.items()}
    dups = {f"{a}_{b}": len(sets[a] & sets[b]) for a, b in
            (("train", "test"), ("train", "val"), ("val", "test"))}
    out: dict[str, Any] = {"n": {s: len(v) for s, v in part.items()}, "exact_duplicates": dups,
                           "nn_similarity": None, "metric": None, "note": "", "warnings": []}
    for key, count in dups.items():
        if count:
            a, b = key.split("_")
            out["warnings"].append(f"{count} distinct {b} inputs also appear in {a} "
                                   "(exact duplicates)")
    return out

__all__ = ["audit_split", "kmer_codes", "minhash_signatures", "nn_kmer_jaccard",
           "similarity_groups"]
