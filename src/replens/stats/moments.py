"""Exact moments of the permutation distribution of ``T = <K, P L P^T>`` and a Pearson III p-value.

For a uniformly random permutation P of n examples and symmetric n x n matrices K, L,

    E[T^m] = sum over set partitions s of the 2m index positions of
             inj_K(s) inj_L(s) / (n)_{|s|}

where ``inj_K(s)`` sums ``prod K[i_1 i_2] K[i_3 i_4] ...`` over index tuples whose equal
positions are exactly those of s, and ``(n)_r = n (n-1) ... (n-r+1)``: a permutation maps the
r distinct indices of a tuple to r distinct indices, uniformly. ``inj`` follows from the
unrestricted contractions (``numpy.einsum``) by Moebius inversion over the partition lattice.
With m <= 3 this gives the mean, variance and skewness that Kazi-Aoual et al. (1995) derived
for the RV coefficient (and Josse, Pages & Husson 2008 use for a Pearson type III p-value),
for any centred Gram matrices: linear HSIC / CKA and RBF CKA alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

_LETTERS = "abcdefgh"


def _partitions(size: int) -> Iterator[tuple[int, ...]]:
    """Set partitions of ``range(size)`` as restricted growth strings."""
    def grow(prefix: tuple[int, ...], blocks: int) -> Iterator[tuple[int, ...]]:
        if len(prefix) == size:
            yield prefix
            return
        for label in range(blocks + 1):
            yield from grow(prefix + (label,), max(blocks, label + 1))

    yield from grow((), 0)


def _canonical(labels: tuple[int, ...]) -> tuple[int, ...]:
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(label, len(seen)) for label in labels)


@lru_cache(maxsize=None)
def _inversion(size: int) -> dict[tuple[int, ...], list[tuple[float, tuple[int, ...]]]]:
    """For each partition s of ``range(size)``: ``[(mu(s, t), t) for every coarsening t of s]``."""
    table = {}
    for finer in _partitions(size):
        blocks = max(finer) + 1
        terms = []
        for merge in _partitions(blocks):
            coarser = _canonical(tuple(merge[label] for label in finer))
            counts = np.bincount(merge)
            mu = math.prod((-1) ** (k - 1) * math.factorial(k - 1) for k in counts)
            terms.append((float(mu), coarser))
        table[finer] = terms
    return table


def _contraction(matrix: np.ndarray, labels: tuple[int, ...]) -> float:
    """``sum prod_e M[i_{2e}, i_{2e+1}]`` over all indices, positions with equal labels tied."""
    operands = [_LETTERS[labels[2 * e]] + _LETTERS[labels[2 * e + 1]] for e in range(len(labels) // 2)]
    return float(np.einsum(",".join(operands) + "->", *([matrix] * len(operands)), optimize=True))


@lru_cache(maxsize=None)
def _graph(labels: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """The multigraph of a contraction (edges = matrix factors) under its canonical labelling:
    equal graphs give equal sums for a symmetric matrix, so each is computed once."""
    vertices = max(labels) + 1
    edges = [(labels[2 * e], labels[2 * e + 1]) for e in range(len(labels) // 2)]
    return min(tuple(sorted(tuple(sorted((order[u], order[v]))) for u, v in edges))
               for order in itertools.permutations(range(vertices)))


def _raw_moment(a: np.ndarray, b: np.ndarray, order: int, cache: dict) -> float:
    n = a.shape[0]
    size = 2 * order
    table = _inversion(size)

    def free(matrix: np.ndarray, side: str, labels: tuple[int, ...]) -> float:
        key = (side, _graph(labels))
        if key not in cache:
            cache[key] = _contraction(matrix, labels)
        return cache[key]

    free_a = {p: free(a, "a", p) for p in table}
    free_b = {p: free(b, "b", p) for p in table}
    total = 0.0
    for partition, terms in table.items():
        blocks = max(partition) + 1
        if blocks > n:
            continue
        injective_a = sum(mu * free_a[coarser] for mu, coarser in terms)
        injective_b = sum(mu * free_b[coarser] for mu, coarser in terms)
        total += injective_a * injective_b / math.perm(n, blocks)
    return total


def permutation_moments(gram_a: Any, gram_b: Any) -> tuple[float, float, float]:
    """Mean, variance and skewness of ``T = <K, P L P^T>_F`` over all n! permutations P.

    Parameters
    ----------
    gram_a, gram_b : array-like of shape (n, n)
        Symmetric (e.g. centred Gram) matrices K and L, float64.

    Returns
    -------
    (mean, variance, skewness) : tuple of float
        Exact up to rounding. Cost: the distinct contraction graphs of up to three factors
        (a few dozen) per matrix, one of them ``O(n^3)`` (``tr(K^3)``), the others ``O(n^2)``.
    """
    a, b = np.asarray(gram_a, dtype=np.float64), np.asarray(gram_b, dtype=np.float64)
    cache: dict = {}
    m1, m2, m3 = (_raw_moment(a, b, order, cache) for order in (1, 2, 3))
    variance = max(m2 - m1**2, 0.0)
    third = m3 - 3 * m1 * m2 + 2 * m1**3
    skewness = third / variance**1.5 if variance > 0 else 0.0
    return m1, variance, skewness


def pearson3_tail(value: float, mean: float, variance: float, skewness: float, upper: bool) -> float:
    """``P(T >= value)`` (or ``<=``) for the Pearson type III law with these three moments.

    A gamma law shifted and scaled to the mean, variance and skewness (shape ``4 / g^2``);
    mirrored for negative skewness; normal when the skewness is below 1e-8.
    """
    from scipy.special import gammainc, gammaincc, ndtr

    sd = math.sqrt(variance)
    if sd == 0:
        return 1.0
    z = (value - mean) / sd
    if abs(skewness) < 1e-8:
        return float(ndtr(-z) if upper else ndtr(z))
    sign = 1.0 if skewness > 0 else -1.0
    shape = 4.0 / skewness**2
    # X = mean + sd (G - shape) / sqrt(shape) * sign with G ~ Gamma(shape, 1)
    g = max(shape + sign * z * math.sqrt(shape), 0.0)
    above = (sign > 0) == upper
    return float(gammaincc(shape, g) if above else gammainc(shape, g))
