"""Permutation tests: is the similarity of two representations above what chance gives?

Under the null hypothesis that the rows of X and Y are unrelated (the examples of Y could be
paired with those of X in any order), every re-pairing ``Y[pi]`` is as likely as the observed
one, so the rank of the observed statistic among re-paired ones gives an exact p-value
(Phipson & Smyth 2010): ``p = (1 + #{null >= statistic}) / (1 + N)``, never 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array
from .._validate import check_pair
from ..errors import ShapeError, UninformativeWarning, UnknownOptionError
from ._checks import ALTERNATIVES, GROUP_MODES, Groups, check_groups, count, generator, measure_of, option
from ._grids import kernel_spec, make_grid

# Permutations are drawn in chunks of this many, so the stream (and every result) depends on
# the seed only, never on how a path batches its work.
CHUNK = 64
# Relative tolerance when counting null values that reach the statistic: the same value
# computed by another sequence of floating-point operations may differ in the last bits.
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PermutationResult:
    """Result of :func:`permutation_test`.

    Attributes
    ----------
    statistic : float
        The measure on the observed pairing, ``m(X, Y)``.
    pvalue : float
        ``(1 + #{null >= statistic}) / (1 + N)`` for ``alternative="greater"``
        (``<=`` for "less"; twice the smaller one-sided value, at most 1, for "two-sided").
    null : ndarray of shape (N,)
        The measure on every permuted pairing ``m(X, Y[pi_k])``, in the order drawn.
    n_permutations : int
        N.
    alternative : str
        "greater", "less" or "two-sided".
    measure : str
        The measure's label.
    groups_mode : str or None
        "between" or "within" when groups were given, else None.
    method : str
        "monte_carlo" (random permutations) or "moments" (Pearson type III from the exact
        moments; ``null`` is then empty and ``n_permutations`` 0).
    null_moments : (mean, variance, skewness) or None
        The exact moments of the permutation distribution ("moments" only).
    """

    statistic: float
    pvalue: float
    null: np.ndarray
    n_permutations: int
    alternative: str
    measure: str
    groups_mode: str | None = None
    method: str = "monte_carlo"
    null_moments: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class _Scheme:
    """How permutations are drawn: free, whole groups exchanged, or rows shuffled within groups."""

    n: int
    mode: str | None
    classes: tuple[np.ndarray, ...] = ()   # between: (k, size) row indices of same-size groups
    labels: np.ndarray | None = None       # within: group of each row


def scheme(n: int, groups: Groups | None, mode: str) -> _Scheme:
    """Check that `groups` allow a permutation in `mode`; raise ShapeError otherwise."""
    if groups is None:
        return _Scheme(n, None)
    sizes = groups.sizes
    if mode == "within":
        if np.all(sizes == 1):
            raise ShapeError("groups_mode='within' shuffles rows inside each group, but every group holds "
                             "one example, so no permutation is possible. Use groups_mode='between' or "
                             "groups=None.")
        return _Scheme(n, mode, labels=groups.labels)
    classes = []
    for size in np.unique(sizes):
        same = [groups.members[k] for k in np.flatnonzero(sizes == size)]
        if len(same) > 1:
            classes.append(np.stack(same))
    if not classes:
        raise ShapeError(
            f"groups_mode='between' exchanges whole groups of equal size (row k of one group with row k "
            f"of the other), but no two of the {groups.n_groups} groups have the same size (sizes "
            f"{sorted(set(sizes.tolist()))}). Give groups equal sizes, or use groups_mode='within'.")
    return _Scheme(n, mode, classes=tuple(classes))


def _draw(rng: np.random.Generator, plan: _Scheme, size: int) -> np.ndarray:
    n = plan.n
    if plan.mode is None:
        return rng.permuted(np.broadcast_to(np.arange(n), (size, n)), axis=1)
    out = np.broadcast_to(np.arange(n), (size, n)).copy()
    if plan.mode == "within":
        base = np.lexsort((np.arange(n), plan.labels))
        for k in range(size):
            out[k, base] = np.lexsort((rng.random(n), plan.labels))
        return out
    for k in range(size):
        for rows in plan.classes:
            out[k, rows] = rows[rng.permutation(rows.shape[0])]
    return out


def stream(rng: np.random.Generator, plan: _Scheme, total: int) -> Iterator[np.ndarray]:
    """Chunks of permutations (rows of Y paired with rows 0..n-1 of X), `total` in all."""
    for start in range(0, total, CHUNK):
        yield _draw(rng, plan, min(CHUNK, total - start))


def permutations(n: int, n_permutations: int, *, seed: Any = 0, groups: Any = None,
                 groups_mode: str = "between") -> np.ndarray:
    """The permutations :func:`permutation_test` and :func:`replens.stats.compare` use.

    Parameters
    ----------
    n : int
        Number of examples.
    n_permutations : int
        How many to draw.
    seed, groups, groups_mode
        As in :func:`permutation_test`.

    Returns
    -------
    ndarray of shape (n_permutations, n), int
        Row ``k`` pairs example ``i`` of X with example ``out[k, i]`` of Y. Drawn in chunks
        of 64 from ``numpy.random.default_rng(seed)``, so the same seed gives the same
        permutations whatever the measure or path. Cost ``O(N n)`` (``O(N n log n)`` within
        groups).
    """
    n = count("n", n, minimum=2)
    n_permutations = count("n_permutations", n_permutations, minimum=1)
    option("groups_mode", groups_mode, GROUP_MODES)
    plan = scheme(n, check_groups(groups, n), groups_mode)
    return np.concatenate(list(stream(generator(seed), plan, n_permutations)))


def pvalue(statistic: Any, null: np.ndarray, alternative: str) -> Any:
    """``(1 + #{null >= statistic}) / (1 + N)`` (or ``<=``, or two-sided), ties within rounding.

    `statistic` may be an array (..., ) with `null` of shape (N, ...).
    """
    statistic = np.asarray(statistic, dtype=np.float64)
    tolerance = TIE_TOLERANCE * np.maximum(np.abs(statistic), 1e-300)
    total = null.shape[0]
    greater = (1 + np.sum(null >= statistic - tolerance, axis=0)) / (1 + total)
    less = (1 + np.sum(null <= statistic + tolerance, axis=0)) / (1 + total)
    if alternative == "greater":
        return greater
    if alternative == "less":
        return less
    return np.minimum(1.0, 2 * np.minimum(greater, less))


def permutation_test(
    x: Array,
    y: Array,
    *,
    measure: Any = "linear_cka",
    n_permutations: int = 1000,
    seed: Any = 0,
    groups: Any = None,
    groups_mode: str = "between",
    alternative: str = "greater",
    method: str = "monte_carlo",
) -> PermutationResult:
    """Permutation test of the similarity of X and Y against unrelated pairings.

    The null distribution is ``m(X, Y[pi])`` over N random permutations ``pi`` of the
    examples of Y, and ``pvalue = (1 + #{null >= m(X, Y)}) / (1 + N)`` (exact: uniform
    under the null, never 0). Values within a relative 1e-12 of the statistic count as
    reaching it (the same number computed by another order of operations).

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order (numpy or torch, any device).
    measure : str, Measure or callable, default "linear_cka"
        A registered name, a configured ``rl.measure(...)`` or any ``f(X, Y) -> float``.
    n_permutations : int, default 1000
        N >= 1. The smallest possible p-value is ``1 / (N + 1)``.
    seed : int, numpy Generator or None, default 0
        Where the permutations come from (:func:`permutations` returns them); the global
        random state is never used.
    groups : array-like of shape (n_examples,) of int, optional
        A label per example (every augmentation of one image, every token of one sentence).
    groups_mode : {"between", "within"}, default "between"
        "between": whole groups are exchanged (row k of a group with row k of another group
        of the same size), which keeps the dependence inside groups; valid when groups, not
        examples, are exchangeable. "within": rows are shuffled only inside each group, which
        tests association beyond what the groups share.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Similarity above chance ("greater") is the usual question.
    method : {"monte_carlo", "moments"}, default "monte_carlo"
        "moments" (linear_cka, linear_hsic and rbf_cka, without groups): no sampling; the
        exact mean, variance and skewness of the distribution of ``<K, P L P^T>`` over all n!
        permutations (Kazi-Aoual et al. 1995; :func:`replens.stats.moments.permutation_moments`)
        give a Pearson type III p-value (Josse, Pages & Husson 2008), an approximation that is
        good in the bulk and cheap for tiny p-values; cost ``O(n^3)`` for ``tr(K^3)``, ``O(n^2)``
        for the rest.

    Returns
    -------
    PermutationResult
        ``statistic``, ``pvalue``, ``null``, ``n_permutations``.

    Notes
    -----
    A small p-value says that X and Y are more similar than unrelated pairings of the same
    examples; it does not say that the two networks compute the same thing.

    Cost: the generic path prepares X once and Y once per permutation. For linear CKA and
    HSIC (biased and debiased) each layer is centred once (``p > n`` layers reduced to n
    coordinates), and a batch of permuted ``Yc`` is one product ``Xc^T [P_1 Yc ... P_B Yc]``,
    ``O(n p q)`` per permutation, the debiased terms ``O(n)``; for RBF CKA (and wide linear
    pairs, ``p q > 64 n``) each permutation re-indexes one centred Gram matrix, ``O(n^2)``.
    Everything runs in the measure's precision (float64 unless it was configured with
    ``dtype="float32"``), in batches of at most 256 MB.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((60, 5))
    >>> r = rl.stats.permutation_test(x, x + rng.standard_normal((60, 5)), n_permutations=99)
    >>> r.pvalue
    0.01
    """
    m = measure_of(measure)
    option("method", method, METHODS)
    if method == "moments":
        _check_moments(m, groups)
    else:
        n_permutations = count("n_permutations", n_permutations, minimum=1)
    option("groups_mode", groups_mode, GROUP_MODES)
    option("alternative", alternative, ALTERNATIVES)
    xp, x, y = check_pair(x, y, min_examples=m.info.min_examples, dtype=m.options.get("dtype"))
    n = int(x.shape[0])
    checked = check_groups(groups, n)
    grid = make_grid(m, xp, [x], [y], ["X"], ["Y"])
    if method == "moments":
        return _moments_test(grid, m.label, alternative)
    plan = scheme(n, checked, groups_mode)
    warn_uninformative(grid, m.label)
    statistic = float(grid.observed()[0, 0])
    null = np.concatenate([grid.permuted(chunk)[:, 0, 0]
                           for chunk in stream(generator(seed), plan, n_permutations)])
    return PermutationResult(statistic, float(pvalue(statistic, null, alternative)), null, n_permutations,
                             alternative, m.label, None if checked is None else groups_mode)


METHODS = ("monte_carlo", "moments")


def _check_moments(m: Any, groups: Any) -> None:
    spec = kernel_spec(m)
    if spec is None or spec.debiased:
        raise UnknownOptionError(
            f"method='moments' has closed forms for linear_cka, linear_hsic and rbf_cka (statistics "
            f"<K, P L P^T> of fixed centred Gram matrices); got {m.label}. Use method='monte_carlo'.")
    if groups is not None:
        raise UnknownOptionError("method='moments' gives the moments over all permutations of the examples; "
                                 "with groups use method='monte_carlo'.")


def _moments_test(grid: Any, label: str, alternative: str) -> PermutationResult:
    from .moments import pearson3_tail

    statistic = float(grid.observed()[0, 0])
    mean, variance, skewness = grid.null_moments()
    greater = pearson3_tail(statistic, mean, variance, skewness, upper=True)
    less = pearson3_tail(statistic, mean, variance, skewness, upper=False)
    value = {"greater": greater, "less": less, "two-sided": min(1.0, 2 * min(greater, less))}[alternative]
    return PermutationResult(statistic, float(value), np.zeros(0), 0, alternative, label, None, "moments",
                             (mean, variance, skewness))


def warn_uninformative(grid: Any, label: str) -> None:
    if grid.uninformative():
        warnings.warn(
            f"{label} is uninformative here: rank X + rank Y > n - 1 forces canonical correlations to 1 "
            f"whatever the pairing (Kornblith et al. 2019, Theorem 1), so the permuted values equal the "
            f"observed one and the p-value is 1. Use more examples than features, or CKA.",
            UninformativeWarning, stacklevel=3)
