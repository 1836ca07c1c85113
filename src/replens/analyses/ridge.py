"""Canonical ridge: one index that runs from CCA through linear regression to linear CKA.

CKA paper sec. 5 (its App. D.1, with the normalisation, is missing from our copy; claims.md
K15). Ridge-whitening each side, ``K_X(kappa) = Xc (Xc^T Xc + kappa I)^{-1} Xc^T``, has the
eigenvalues ``s_i^2 / (s_i^2 + kappa)`` on X's left singular vectors: a projector at
``kappa = 0`` (CCA's whitening) and ``Xc Xc^T / kappa`` as ``kappa -> inf`` (no
whitening). We normalise as CKA does:

    R_CR = tr(K_X K_Y) / (||K_X||_F ||K_Y||_F),

so that the endpoints are exactly (with ``p_x``, ``p_y`` the numerical ranks):

* ``kappa_x = kappa_y = 0``: ``CKA(Q_X Q_X^T, Q_Y Q_Y^T) = R^2_CCA * sqrt(p_min^2 / (p_x p_y))``,
  i.e. R^2_CCA (eq. 7) when the ranks agree (CKA eq. 11).
* ``kappa_x = 0, kappa_y = inf``: ``CKA(Q_X Q_X^T, Yc Yc^T)``, which is linear-regression
  R^2 of Y on X times ``||Yc||_F^2 / (sqrt(p_x) ||Yc^T Yc||_F)`` (CKA eq. 12, with the
  factor corrected as in claims.md sec. 0).
* ``kappa_x = kappa_y = inf``: linear CKA (eq. 6).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import is_real_scalar
from ..errors import DegenerateInputError, UnknownOptionError
from ._arrays import centred_svd, checked_pair

__all__ = ["canonical_ridge"]


def canonical_ridge(X: Any, Y: Any, kappa_x: float, kappa_y: float) -> float:
    """Canonical-ridge similarity of X and Y with ridge penalties `kappa_x`, `kappa_y`.

    ``R_CR = sum_ij a_i b_j (u_i^T v_j)^2 / sqrt(sum_i a_i^2 sum_j b_j^2)`` with
    ``a_i = s_i^2 / (s_i^2 + kappa_x)`` on the left singular vectors ``u_i`` of centred X
    (``a_i = s_i^2`` for ``kappa_x = inf``, the scale cancelling), and likewise ``b_j``,
    ``v_j`` for Y. See the module docstring for the endpoints.

    Parameters
    ----------
    X : array-like of shape (n, p_x)
    Y : array-like of shape (n, p_y)
    kappa_x, kappa_y : float
        Ridge penalties, ``>= 0`` or ``math.inf``, in the units of ``Xc^T Xc`` (sums of
        squares over the examples; scale-free choices are multiples of ``s_1^2``).

    Returns
    -------
    float
        ``R_CR`` in [0, 1].

    Notes
    -----
    Cost ``O(n p^2)`` for the two SVDs and ``O(n p_x p_y)`` for ``U^T V``. No matrix is
    inverted.

    Examples
    --------
    >>> import math, numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); Y = X @ rng.standard_normal((5, 3)) + rng.standard_normal((100, 3))
    >>> v = rl.analyses.canonical_ridge(X, Y, math.inf, math.inf)
    >>> bool(abs(v - rl.cka(X, Y)) < 1e-12)
    True
    """
    kappa_x = _check_kappa("kappa_x", kappa_x)
    kappa_y = _check_kappa("kappa_y", kappa_y)
    x, y = checked_pair(X, Y)
    u, s_x, _ = centred_svd(x)
    v, s_y, _ = centred_svd(y)
    for name, s in (("X", s_x), ("Y", s_y)):
        if s.size == 0:
            raise DegenerateInputError(f"{name} has no variance after centring (every column constant); the "
                                       f"canonical ridge index is undefined. Pass activations that vary.")
    a = _shrunk(s_x, kappa_x)
    b = _shrunk(s_y, kappa_y)
    overlap = (u.T @ v) ** 2
    return float(a @ overlap @ b / math.sqrt(float(a @ a) * float(b @ b)))


def _shrunk(s: np.ndarray, kappa: float) -> np.ndarray:
    squared = s**2
    if math.isinf(kappa):
        return squared / squared[0]
    return squared / (squared + kappa)


def _check_kappa(name: str, value: Any) -> float:
    if not is_real_scalar(value) or math.isnan(float(value)) or float(value) < 0:
        raise UnknownOptionError(f"{name} must be a number >= 0 or math.inf; got {value!r}. "
                                 f"0 whitens fully (CCA), inf not at all (CKA).")
    return float(value)
