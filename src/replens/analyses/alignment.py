"""Principal angles between the top principal-component subspaces of two representations.

CKA paper sec. 2.1, Fig. 1: networks from different initialisations develop similar large
principal components. The PCs of two networks live in different neuron spaces, so they are
compared over the examples: the PC scores ``U_k`` (left singular vectors of the centred
layer) span a k-dimensional subspace of R^n, and the principal angles between the two
subspaces (Bjorck & Golub 1973) do not depend on how PCs rotate within near-equal
eigenvalues, which index-by-index correlations do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_positive_int
from ..errors import UnknownOptionError
from ._arrays import centred_svd, checked_pair

__all__ = ["PCAlignment", "pc_alignment"]


@dataclass(frozen=True)
class PCAlignment:
    """Result of :func:`pc_alignment`, float64.

    Attributes
    ----------
    cosines : ndarray of shape (k,)
        Cosines of the principal angles between the top-k PC subspaces, descending.
    angles : ndarray of shape (k,)
        The angles in radians, ascending.
    correlation : ndarray of shape (k, k)
        ``|corr(PC_i of X, PC_j of Y)|`` over the examples.
    explained_x, explained_y : ndarray of shape (k,)
        Fraction of each layer's variance on each of its top-k PCs.
    """

    cosines: np.ndarray
    angles: np.ndarray
    correlation: np.ndarray
    explained_x: np.ndarray
    explained_y: np.ndarray

    @property
    def k(self) -> int:
        """The number of PCs compared."""
        return int(self.cosines.shape[0])


def pc_alignment(X: Any, Y: Any, *, k: int = 10) -> PCAlignment:
    """Principal angles between the top-`k` principal-component subspaces of X and Y.

    ``cos theta_i = sigma_i(U_x[:, :k]^T U_y[:, :k])`` with ``U`` the left singular vectors
    of the centred layers (the PC scores normalised to unit length, so ``|U_x^T U_y|`` is
    the matrix of absolute correlations between PC scores).

    Parameters
    ----------
    X : array-like of shape (n, p_x)
    Y : array-like of shape (n, p_y)
    k : int, default 10
        Number of top PCs of each layer, at most both numerical ranks.

    Returns
    -------
    PCAlignment

    Notes
    -----
    Cost ``O(n p^2)`` for the two SVDs, ``O(n k^2)`` after.

    Examples
    --------
    >>> import replens as rl
    >>> X, Y = rl.analyses.synthetic_shared_pair(500, 3, 20, noise_var=0.01)
    >>> bool(rl.analyses.pc_alignment(X, Y, k=3).cosines.min() > 0.99)
    True
    """
    k = check_positive_int("k", k)
    x, y = checked_pair(X, Y, min_examples=3, reason="principal components need several examples")
    u_x, s_x, _ = centred_svd(x)
    u_y, s_y, _ = centred_svd(y)
    rank = min(s_x.size, s_y.size)
    if k > rank:
        raise UnknownOptionError(f"k must be at most the smaller numerical rank of centred X and Y, {rank} "
                                 f"(X {s_x.size}, Y {s_y.size}); got k={k}. Pass a smaller k.")
    cross = u_x[:, :k].T @ u_y[:, :k]
    cosines = np.clip(np.linalg.svd(cross, compute_uv=False), 0.0, 1.0)  # rounding only: singular values of a product of orthonormal bases
    return PCAlignment(cosines=cosines, angles=np.arccos(cosines), correlation=np.abs(cross),
                       explained_x=s_x[:k] ** 2 / np.sum(s_x**2), explained_y=s_y[:k] ** 2 / np.sum(s_y**2))
