"""Helpers for populations of networks of different widths (PWCCA sec. 3.2, CKA sec. 6.2).

* :func:`subsample_units`: a fixed random subset of ``m`` units (or conv channels) of a
  layer. Morcos et al. (2018, sec. 3.2, footnote 8) compare networks of different widths on
  "a random subset of 128 filters from the final layer", so that every comparison has the
  same number of units and CCA's size bias cancels.
* :func:`distance_accuracy_correlation`: Pearson's r between test accuracy and the distance
  between identical networks trained from different seeds (PWCCA Fig. 4b: "-0.96").
* :func:`gram_factor`: an ``(n, r)`` matrix ``F = X V`` (``r = rank X <= n``) with
  ``F F^T = X X^T``: an orthogonal map of the features, so that linear CKA and its
  jackknife are unchanged while costing ``O(n r^2)`` instead of ``O(n p q)`` per pair.
* :func:`mean_jackknife`: the jackknife of a mean of per-pair statistics over the same
  left-out examples (CKA Fig. 6: "shaded regions reflect jackknife standard error").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_positive_int
from ..errors import ShapeError, TooFewExamplesError, UnknownOptionError
from ..stats.jackknife import JackknifeResult, jackknife_summary
from .network_groups import group_labels, one_distance_matrix

__all__ = ["DistanceAccuracy", "distance_accuracy_correlation", "gram_factor", "mean_jackknife",
           "subsample_units"]

OVER = ("pairs", "networks")
"""What :func:`distance_accuracy_correlation` correlates: one point per pair or per network."""


def subsample_units(acts: Any, m: int, *, seed: int) -> np.ndarray:
    """A fixed random subset of `m` units of a layer (axis 1), kept in their original order.

    Parameters
    ----------
    acts : array-like of shape (n, p) or (n, c, ...)
        A layer: axis 1 holds the units (the channels of an NCHW conv layer, so that a
        subset of filters keeps every spatial position of each).
    m : int
        Units to keep, at most ``acts.shape[1]`` (PWCCA sec. 3.2: 128 filters).
    seed : int
        Seeds :func:`numpy.random.default_rng`, which draws the subset without replacement;
        the same seed gives the same subset.

    Returns
    -------
    ndarray of shape (n, m, ...)
        ``acts[:, idx]`` with ``idx`` the sorted subset (the array's dtype is kept).

    Raises
    ------
    ShapeError
        `acts` has fewer than 2 dimensions or fewer than `m` units.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(12.0).reshape(2, 6)
    >>> subsample_units(x, 6, seed=0).tolist() == x.tolist()
    True
    >>> subsample_units(x, 2, seed=0).shape
    (2, 2)
    """
    acts = np.asarray(acts)
    m = check_positive_int("m", m)
    if acts.ndim < 2:
        raise ShapeError(f"acts must be (n, units) or (n, channels, ...); got shape {acts.shape}.")
    if m > acts.shape[1]:
        raise ShapeError(f"cannot keep m = {m} units of a layer with {acts.shape[1]}; pass m <= "
                         f"{acts.shape[1]} (the narrowest network's width).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    idx = np.sort(np.random.default_rng(int(seed)).choice(acts.shape[1], size=m, replace=False))
    return acts[:, idx]


@dataclass(frozen=True)
class DistanceAccuracy:
    """Result of :func:`distance_accuracy_correlation`.

    Attributes
    ----------
    r : float
        Pearson's correlation between ``accuracy`` and ``distance`` (NaN when either is constant).
    accuracy, distance : ndarray of shape (k,)
        The points correlated: one per within-group pair (the pair's mean accuracy and its
        distance) or one per network (its accuracy and its mean distance to the other
        members of its group).
    over : {"pairs", "networks"}
    """

    r: float
    accuracy: np.ndarray
    distance: np.ndarray
    over: str


def distance_accuracy_correlation(D: Any, accuracy: Any, *, groups: Mapping[str, Any] | Sequence[Any] | None = None,
                                  over: str = "pairs") -> DistanceAccuracy:
    """Pearson's r between test accuracy and the distance between networks of one group.

    Morcos et al. (2018, sec. 3.2, Fig. 4b) find that "across pairs of networks, the
    correlation between test accuracy and the pairwise CCA distance was -0.96". With
    ``D[i, j]`` the distance of networks i and j and ``a_i`` the accuracy of i:

    * ``over="pairs"``: one point per unordered pair ``i < j`` of the same group,
      ``((a_i + a_j) / 2, D[i, j])``;
    * ``over="networks"``: one point per network, ``(a_i, mean_{j != i, same group} D[i, j])``.

    Parameters
    ----------
    D : (N, N) array, Distances, or mapping with exactly one layer
        Distances between the N networks (e.g. ``Population.distances("pwcca")[layer]``).
    accuracy : array-like of shape (N,)
        Each network's test accuracy, in the order of D.
    groups : mapping name -> label or sequence of N labels, optional
        Only pairs within a group count (identical networks from different seeds); default:
        every pair.
    over : {"pairs", "networks"}, default "pairs"

    Returns
    -------
    DistanceAccuracy

    Raises
    ------
    ShapeError
        D is not one square matrix, or `accuracy` has not one value per network.
    TooFewExamplesError
        Fewer than 3 points to correlate.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0, .2, .9, .9], [.2, 0, .9, .9], [.9, .9, 0, .6], [.9, .9, .6, 0]])
    >>> res = distance_accuracy_correlation(D, [.9, .9, .5, .7], groups=[0, 0, 1, 1], over="networks")
    >>> res.distance.tolist(), round(res.r, 6)
    ([0.2, 0.2, 0.6, 0.6], -0.904534)
    """
    if over not in OVER:
        raise UnknownOptionError(f"over must be one of {', '.join(map(repr, OVER))}; got {over!r}.")
    matrix, names = one_distance_matrix(D)
    n = matrix.shape[0]
    acc = np.asarray(accuracy, dtype=np.float64).reshape(-1)
    if acc.shape[0] != n:
        raise ShapeError(f"accuracy must hold one value per network of D ({n}); got {acc.shape[0]}.")
    labels = [0] * n if groups is None else group_labels(groups, n, names)
    same = np.array([[labels[i] == labels[j] for j in range(n)] for i in range(n)]) & ~np.eye(n, dtype=bool)
    if over == "pairs":
        i, j = np.nonzero(np.triu(same, k=1))
        x, y = (acc[i] + acc[j]) / 2.0, matrix[i, j]
    else:
        keep = same.any(axis=1)
        x = acc[keep]
        y = np.array([matrix[i, same[i]].mean() for i in np.flatnonzero(keep)])
    if x.shape[0] < 3:
        raise TooFewExamplesError(f"distance_accuracy_correlation needs at least 3 points; got {x.shape[0]} "
                                  f"({over}). Pass more networks per group or more groups.")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        r = float("nan")
    else:
        r = float(np.corrcoef(x, y)[0, 1])
    return DistanceAccuracy(r, x, y, over)


def gram_factor(x: Any) -> np.ndarray:
    """An (n, r) matrix with the same Gram matrix as `x` flattened per example: ``F = X V``.

    With the thin SVD ``X = U S V^T`` of the flattened (n, p) layer and ``r = rank X``,
    ``F = U_r S_r = X V_r``: the features rotated onto X's row space and the null directions
    dropped, so ``F F^T = X X^T`` and, since ``V_r`` has orthonormal columns, the centred
    Gram matrix of every subset of rows is that of X too. Linear CKA (invariant to
    orthogonal maps; Kornblith et al. 2019, sec. 3) and its leave-one-out jackknife are
    therefore unchanged, while a pair costs ``O(n r_x r_y)`` instead of ``O(n p q)``.

    Parameters
    ----------
    x : array-like of shape (n, ...)
        A layer; conv layers are flattened per example (CKA's "flatten" view).

    Returns
    -------
    ndarray of shape (n, r), float64

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((5, 40))
    >>> f = gram_factor(x)
    >>> f.shape, bool(np.allclose(f @ f.T, x @ x.T))
    ((5, 5), True)
    """
    flat = np.asarray(x, dtype=np.float64)
    if flat.ndim < 2:
        raise ShapeError(f"x must be (n, features) or (n, channels, ...); got shape {flat.shape}.")
    flat = flat.reshape(flat.shape[0], -1)
    u, s, _ = np.linalg.svd(flat, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(flat.shape) * np.finfo(np.float64).eps
    return u[:, keep] * s[keep]


def mean_jackknife(results: Sequence[JackknifeResult]) -> JackknifeResult:
    """The jackknife of the mean of several statistics, each jackknifed over the same examples.

    For pairs k = 1..K jackknifed over the same g left-out examples, the mean over pairs
    with example i left out is ``mean_k theta_k,(i)``; its standard error and bias follow
    from the usual formulas (:func:`replens.stats.jackknife`; Efron & Tibshirani 1993
    ch. 11). This is the standard error of, e.g., the mean CKA between the networks of one
    width (Kornblith et al. 2019, Fig. 6).

    Parameters
    ----------
    results : sequence of JackknifeResult
        From :func:`replens.stats.jackknife` on the same examples (one value per example each).

    Returns
    -------
    JackknifeResult
        ``statistic`` the mean of the statistics, ``values`` the mean leave-one-out values,
        ``se`` and ``bias`` of the mean.

    Examples
    --------
    >>> import numpy as np
    >>> from replens.stats import JackknifeResult
    >>> a = JackknifeResult(1.0, 0.0, 0.0, np.array([1.0, 1.0, 1.0]), "m")
    >>> b = JackknifeResult(0.0, 0.0, 0.0, np.array([0.0, 0.0, 3.0]), "m")
    >>> res = mean_jackknife([a, b])
    >>> res.statistic, res.values.tolist(), round(res.se, 6)
    (0.5, [0.5, 0.5, 2.0], 1.0)
    """
    results = list(results)
    if not results:
        raise ShapeError("mean_jackknife needs at least one JackknifeResult; got none.")
    shapes = {r.values.shape for r in results}
    if len(shapes) != 1:
        raise ShapeError(f"every JackknifeResult must leave out the same examples; got values of shapes "
                         f"{sorted(shapes)}.")
    statistic = float(np.mean([r.statistic for r in results]))
    values = np.mean(np.stack([np.asarray(r.values, dtype=np.float64) for r in results]), axis=0)
    se, bias = jackknife_summary(np.float64(statistic), values)
    labels = sorted({r.measure for r in results})
    return JackknifeResult(statistic, float(se), float(bias), values, "/".join(labels))
