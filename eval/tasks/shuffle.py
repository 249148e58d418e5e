"""Dinucleotide shuffle that keeps every dinucleotide count exactly (Altschul & Erickson 1985).

A shuffled negative has the positive's exact base and dinucleotide composition, so GC content,
CpG and every 2-mer are useless for telling them apart. The method is the one of ushuffle
(Jiang et al. 2008) and of tangermeme's ``dinucleotide_shuffle``: the sequence is an Eulerian
path through the graph whose vertices are letters and whose edges are its dinucleotides; a
uniformly random spanning arborescence rooted at the last letter is drawn (Wilson's loop-erased
random walk), each vertex's tree edge is put last among its out-edges, the others are shuffled,
and walking the edges from the first letter spells a uniformly random sequence with the same
dinucleotide counts. Neither library is installed here; this module is their method in numpy.
"""

from __future__ import annotations

import numpy as np


def dinuc_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``codes`` (any small-integer alphabet, e.g. A0 C1 G2 T3 N4) shuffled so that the
    first letter, the last letter and the count of every ordered pair of neighbours are kept."""
    seq = np.asarray(codes)
    n = seq.size
    if n < 3:
        return seq.copy()
    letters = seq.tolist()
    edges: dict[int, list[int]] = {}
    for a, b in zip(letters[:-1], letters[1:], strict=True):
        edges.setdefault(a, []).append(b)
    last = letters[-1]
    # Wilson's algorithm: a uniform random arborescence pointing at `last`.
    in_tree = {last}
    choice: dict[int, int] = {}
    for v in sorted(edges):
        u = v
        while u not in in_tree:
            choice[u] = int(rng.integers(len(edges[u])))
            u = edges[u][choice[u]]
        u = v
        while u not in in_tree:
            in_tree.add(u)
            u = edges[u][choice[u]]
    order: dict[int, list[int]] = {}
    for v, out in edges.items():
        if v == last:
            order[v] = [out[i] for i in rng.permutation(len(out))]
            continue
        tree_edge = out[choice[v]]
        rest = out[: choice[v]] + out[choice[v] + 1 :]
        order[v] = [rest[i] for i in rng.permutation(len(rest))] + [tree_edge]
    result = [letters[0]]
    pos = dict.fromkeys(order, 0)
    u = letters[0]
    for _ in range(n - 1):
        nxt = order[u][pos[u]]
        pos[u] += 1
        result.append(nxt)
        u = nxt
    return np.asarray(result, dtype=seq.dtype)


def dinuc_counts(codes: np.ndarray, alphabet: int = 5) -> np.ndarray:
    """``[alphabet, alphabet]`` counts of ordered neighbour pairs (for checks and tests)."""
    seq = np.asarray(codes, dtype=np.int64)
    return np.bincount(seq[:-1] * alphabet + seq[1:], minlength=alphabet * alphabet).reshape(
        alphabet, alphabet
    )
