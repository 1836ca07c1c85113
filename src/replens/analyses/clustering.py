"""Clusters of networks from their distances (PWCCA Fig. 5: learning-rate clusters).

Morcos et al. (2018) cluster 200 networks by their pairwise PWCCA distance and find five
clusters. Here: agglomerative clustering (``scipy.cluster.hierarchy.linkage`` on the
condensed distance matrix, average linkage by default), cut into `n_clusters` flat clusters
(``fcluster(..., criterion="maxclust")``). Cost O(N^2) memory and O(N^2 log N) time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_option
from ..errors import ShapeError, UnknownOptionError
from .network_groups import one_distance_matrix

METHODS = ("average", "complete", "single", "weighted")


@dataclass(frozen=True)
class NetworkClusters:
    """Flat clusters of networks and the tree they were cut from.

    ``labels[i]`` (1 .. n_clusters) is the cluster of ``names[i]``; ``linkage`` the (N - 1, 4)
    scipy linkage matrix; ``distances`` the (N, N) matrix clustered.
    """

    labels: np.ndarray
    linkage: np.ndarray
    names: tuple[str, ...]
    n_clusters: int
    method: str
    distances: np.ndarray

    def plot(self, *, figsize: tuple[float, float] = (9.0, 4.5)) -> Any:
        """A matplotlib Figure: the dendrogram beside the distance heatmap in leaf order."""
        from matplotlib.figure import Figure
        from scipy.cluster.hierarchy import dendrogram

        figure = Figure(figsize=figsize)
        tree_ax, heat_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
        leaves = dendrogram(self.linkage, ax=tree_ax, orientation="left", labels=list(self.names),
                            no_labels=len(self.names) > 40)["leaves"]
        tree_ax.set_title(f"{self.method} linkage")
        shown = heat_ax.imshow(self.distances[np.ix_(leaves, leaves)][::-1], cmap="viridis")
        heat_ax.set_title(f"distances, {self.n_clusters} clusters")
        heat_ax.set_xticks([])
        heat_ax.set_yticks([])
        figure.colorbar(shown, ax=heat_ax, label="distance")
        return figure


def cluster_networks(D: Any, n_clusters: int, *, method: str = "average") -> NetworkClusters:
    """Agglomerative clusters of networks from an (N, N) distance matrix.

    Parameters
    ----------
    D : (N, N) array or Distances
        Symmetric distances with a zero diagonal (e.g. ``res.distances("pwcca", layer="fc1")``).
    n_clusters : int
        Number of flat clusters, 1 <= n_clusters <= N.
    method : {"average", "complete", "single", "weighted"}, default "average"

    Returns
    -------
    NetworkClusters

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> D = np.array([[0, .1, .9, .8], [.1, 0, .9, .9], [.9, .9, 0, .2], [.8, .9, .2, 0]])
    >>> rl.analyses.cluster_networks(D, 2).labels.tolist()
    [1, 1, 2, 2]
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    check_option("method", method, METHODS)
    values, names = one_distance_matrix(D)
    n = values.shape[0]
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or not 1 <= n_clusters <= n:
        raise UnknownOptionError(f"n_clusters must be an integer from 1 to the {n} networks; got {n_clusters!r}.")
    if n < 2:
        raise ShapeError(f"clustering needs at least 2 networks; D holds {n}.")
    if not np.allclose(values, values.T, rtol=0, atol=1e-12):
        raise ShapeError("D must be symmetric; symmetrize it first (SweepResult.distances(..., symmetrize='mean')).")
    if np.abs(np.diag(values)).max() > 1e-12:
        raise ShapeError(f"D must have a zero diagonal (a network's distance to itself); the largest diagonal "
                         f"entry is {np.abs(np.diag(values)).max():.3g}.")
    if values.min() < -1e-12:
        raise ShapeError(f"D holds negative distances (minimum {values.min():.3g}); distances must be >= 0.")
    symmetric = (values + values.T) / 2
    np.fill_diagonal(symmetric, 0.0)
    tree = linkage(squareform(np.maximum(symmetric, 0.0), checks=False), method=method)
    labels = fcluster(tree, t=int(n_clusters), criterion="maxclust")
    names = names if names is not None else tuple(str(i) for i in range(n))
    return NetworkClusters(labels.astype(np.int64), tree, names, int(n_clusters), method, values)
