"""How one network's representational similarity matrix acts on the other's eigenvectors.

CKA paper sec. 6.4, Fig. 8, eq. 14: with ``u_i`` the eigenvectors of ``K_X = X X^T`` (X
centred), linear CKA is ``sum_i lambda_i^X u_i^T K_Y u_i / (||K_X||_F ||K_Y||_F)``. Where
``K_Y u_i`` points along ``u_i`` (cosine near 1) with a similar scale, both networks share
that direction over the examples; the number of such directions is the shared dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_fraction, check_positive_int
from ..errors import DegenerateInputError, UnknownOptionError
from ._arrays import centred_svd, checked_pair

__all__ = ["EigenAction", "rsm_eigen_action"]


@dataclass(frozen=True)
class EigenAction:
    """Result of :func:`rsm_eigen_action`, float64.

    Attributes
    ----------
    eigenvalues : ndarray of shape (k,)
        ``lambda_i = ||K_X u_i||``, the eigenvalues of ``K_X = Xc Xc^T``, descending.
    scale_by_y : ndarray of shape (k,)
        ``||K_Y u_i||``: how strongly Y's RSM acts on X's i-th eigenvector.
    cosine : ndarray of shape (k,)
        ``u_i^T K_Y u_i / ||K_Y u_i||`` in [0, 1]: 1 when ``u_i`` is an eigenvector of
        ``K_Y`` too.
    """

    eigenvalues: np.ndarray
    scale_by_y: np.ndarray
    cosine: np.ndarray

    def shared_dim(self, cos_tol: float = 0.7) -> int:
        """Number of X's eigenvectors whose cosine with their image under ``K_Y`` is at least
        `cos_tol` (the paper gives no tolerance; 0.7 is ours, claims.md K13)."""
        cos_tol = check_fraction("cos_tol", cos_tol)
        return int(np.sum(self.cosine >= cos_tol))


def rsm_eigen_action(X: Any, Y: Any, *, k: int | None = None) -> EigenAction:
    """Eigenvalues of X's RSM and the action of Y's RSM on its eigenvectors (CKA eq. 14, Fig. 8).

    ``Xc = U diag(s) V^T`` (centred, numerical rank r): ``u_i = U[:, i]``,
    ``lambda_i = s_i^2``; ``K_Y u_i = Yc (Yc^T u_i)``, never forming an n x n matrix.

    Parameters
    ----------
    X : array-like of shape (n, p_x)
    Y : array-like of shape (n, p_y)
        The same examples in the same order.
    k : int, optional
        Keep the top `k` eigenvectors (at most the rank of centred X). Default: all r.

    Returns
    -------
    EigenAction

    Notes
    -----
    Cost ``O(n p_x^2 + n p_y k)``. Eigenvectors of tied eigenvalues are defined only up to
    a rotation within the tie, so their cosines are too.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> X, Y = rl.analyses.synthetic_shared_pair(400, 3, 5, noise_var=0.01)
    >>> rl.analyses.rsm_eigen_action(X, Y).shared_dim()
    3
    """
    x, y = checked_pair(X, Y, min_examples=3, reason="an RSM needs several examples")
    u, s, _ = centred_svd(x)
    if s.size == 0:
        raise DegenerateInputError("X has no variance after centring (every column constant); its RSM has "
                                   "no eigenvectors. Pass a layer whose activations vary over the examples.")
    if k is not None:
        k = check_positive_int("k", k)
        if k > s.size:
            raise UnknownOptionError(f"k must be at most the rank of centred X, {s.size}; got k={k}. "
                                     f"Pass a smaller k or leave it out.")
        u, s = u[:, :k], s[:k]
    yc = y - y.mean(axis=0)
    action = yc @ (yc.T @ u)
    scale = np.linalg.norm(action, axis=0)
    along = np.einsum("ni,ni->i", u, action)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(scale > 0, along / np.where(scale > 0, scale, 1.0), 0.0)
    return EigenAction(eigenvalues=s**2, scale_by_y=scale, cosine=cosine)
