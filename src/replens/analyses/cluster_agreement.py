"""How well clusters of networks agree with a labelling, and how well they separate points.

PWCCA sec. 3.3 (Fig. 5): the clusters of the PWCCA distance matrix "corresponded with the
learning rate" and "aligned nearly perfectly" with the groups seen in the plane of ablation
robustness against generalisation error. Two numbers make that checkable:

* :func:`adjusted_rand` -- the adjusted Rand index (Hubert & Arabie 1985) of two labellings:
  ``ARI = (RI - E[RI]) / (max RI - E[RI])``, 1 for identical partitions (up to renaming),
  about 0 for independent ones, negative below chance (``sklearn.metrics.adjusted_rand_score``).
* :func:`silhouette` -- the mean silhouette (Rousseeuw 1987) of points grouped by labels:
  for point i with mean distance a_i to its own group and b_i to the nearest other group,
  ``s_i = (b_i - a_i) / max(a_i, b_i)`` (0 for a point alone in its group); in [-1, 1],
  > 0 when points are on average nearer their own group (``sklearn.metrics.silhouette_score``,
  Euclidean). With ``standardize=True`` each coordinate is first z-scored, so axes in
  different units (an AUC, an accuracy gap) weigh alike.

scikit-learn is imported when a function is called. Cost: O(N) and O(N^2 d).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._io import optional_import
from ..errors import NonFiniteError, ShapeError, UnknownOptionError

__all__ = ["adjusted_rand", "silhouette"]


def _labels(values: Any, name: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or labels.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D sequence of labels, one per network; got shape "
                         f"{labels.shape}.")
    return labels


def adjusted_rand(a: Any, b: Any) -> float:
    """Adjusted Rand index of two labellings of the same items (any hashable labels).

    Parameters
    ----------
    a, b : sequence (N,)
        E.g. cluster labels and learning rates, one per network.

    Returns
    -------
    float
        1 for the same partition, about 0 for unrelated ones.

    Examples
    --------
    >>> from replens.analyses.cluster_agreement import adjusted_rand
    >>> adjusted_rand([1, 1, 2, 2], ["a", "a", "b", "b"])
    1.0
    """
    left, right = _labels(a, "a"), _labels(b, "b")
    if left.shape != right.shape:
        raise ShapeError(f"a and b must label the same items; got {left.size} and {right.size} labels.")
    metrics = optional_import("sklearn.metrics", "demo", "the adjusted Rand index")
    codes_a = np.unique(left.astype(str), return_inverse=True)[1]
    codes_b = np.unique(right.astype(str), return_inverse=True)[1]
    return float(metrics.adjusted_rand_score(codes_a, codes_b))


def silhouette(points: Any, labels: Any, *, standardize: bool = True) -> float:
    """Mean silhouette of `points` grouped by `labels` (Euclidean).

    Parameters
    ----------
    points : array (N, d)
        One row per item, e.g. (ablation AUC, generalisation gap) per network.
    labels : sequence (N,)
        The group of each item; between 2 and N - 1 distinct groups.
    standardize : bool, default True
        Z-score each column first (a constant column is left at 0).

    Returns
    -------
    float
        In [-1, 1]; > 0 when items are nearer their own group than the nearest other one.

    Examples
    --------
    >>> from replens.analyses.cluster_agreement import silhouette
    >>> round(silhouette([[0, 0], [0, 1], [10, 0], [10, 1]], [0, 0, 1, 1], standardize=False), 4)
    0.9002
    """
    if not isinstance(standardize, bool):
        raise UnknownOptionError(f"standardize must be True or False; got {standardize!r}.")
    values = np.asarray(points, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ShapeError(f"points must be an (N, d) array; got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise NonFiniteError("points hold NaN or infinite values; drop or fix those items first.")
    groups = _labels(labels, "labels")
    if groups.size != values.shape[0]:
        raise ShapeError(f"labels must give one group per point; got {groups.size} labels for "
                         f"{values.shape[0]} points.")
    codes = np.unique(groups.astype(str), return_inverse=True)[1]
    n_groups = int(codes.max()) + 1
    if not 2 <= n_groups <= values.shape[0] - 1:
        raise ShapeError(f"the silhouette needs between 2 and N - 1 = {values.shape[0] - 1} groups; the labels "
                         f"form {n_groups}.")
    if standardize:
        spread = values.std(axis=0)
        values = (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    metrics = optional_import("sklearn.metrics", "demo", "the silhouette score")
    return float(metrics.silhouette_score(values, codes, metric="euclidean"))
