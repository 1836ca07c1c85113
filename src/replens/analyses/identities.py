"""The algebraic identities of the CKA paper (eqs. 1, 3, 5-7, 10-14) as measured errors.

Each identity is computed both ways on the same pair, the left side by replens' measures and
the right side by the equation written out, and the absolute difference reported. Eq. 12 is
checked with the factor the algebra gives, ``sqrt(p_2)`` (``p_2`` the width of the
regressor Y), not the printed ``sqrt(p_1)`` (claims.md sec. 0); the printed form is
reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import UnknownOptionError
from ..measures.cca import cca
from ..measures.cka import cka, hsic
from ..measures.directions import cca_directions
from ..measures.regression import linear_regression_r2
from ._arrays import centred_svd, checked_pair
from .eigen_action import rsm_eigen_action

__all__ = ["IDENTITIES", "check_identities"]

IDENTITIES = {
    "eq1": "tr(X X^T Y Y^T) = ||Y^T X||_F^2",
    "eq3": "linear HSIC = ||cov(X, Y)||_F^2 = ||Xc^T Yc||_F^2 / (n - 1)^2",
    "eq5": "R2_LR = ||Q_Y^T X||_F^2 / ||X||_F^2",
    "eq6": "linear CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)",
    "eq7": "R2_CCA = ||Q_Y^T Q_X||_F^2 / p_1",
    "eq10": "R2_LR = sum_i a_i rho_i^2 / sum_i a_i, a_i = sum_j <h_i, x_j>^2",
    "eq11": "R2_CCA = CKA(Q_X Q_X^T, Q_Y Q_Y^T) sqrt(p_2 / p_1)",
    "eq12": "R2_LR = CKA(X X^T, Q_Y Q_Y^T) sqrt(p_2) ||X^T X||_F / ||X||_F^2",
    "eq12_printed": "as eq12 with the printed factor sqrt(p_1): expected to fail when p_1 != p_2",
    "eq13": "||Y^T X||_F^2 = sum_ij lambda_X^i lambda_Y^j <u_X^i, u_Y^j>^2",
    "eq14": "linear CKA = sum_i lambda_X^i u_i^T K_Y u_i / (||K_X||_F ||K_Y||_F)",
}
"""Identity name -> the identity, as in the CKA paper (X the explained side, Y the regressor)."""


def check_identities(X: Any, Y: Any) -> Mapping[str, float]:
    """Absolute error of each identity of :data:`IDENTITIES` on the pair (X, Y).

    Parameters
    ----------
    X : array-like of shape (n, p_1)
    Y : array-like of shape (n, p_2), with ``p_1 <= p_2`` and both of full column rank
        after centring (eqs. 7, 10 and 11 hold as written then); ``n > p_2 + 1``.

    Returns
    -------
    mapping of str to float
        Identity name -> ``|left - right|`` (relative to ``||Y^T X||_F^2`` for eq1 and
        eq13, sums of squares of any scale). Every entry but ``eq12_printed`` is at rounding
        level (~1e-14) for any such pair.

    Notes
    -----
    Cost ``O(n p^2)``.
    """
    x, y = checked_pair(X, Y, min_examples=4)
    n, p1 = x.shape
    p2 = y.shape[1]
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    u_x, s_x, _ = centred_svd(x)
    u_y, s_y, _ = centred_svd(y)
    if s_x.size != p1 or s_y.size != p2 or p1 > p2 or n <= p2 + 1:
        raise UnknownOptionError(
            f"check_identities needs p_1 <= p_2, both of full column rank after centring, and n > p_2 + 1; got "
            f"X {x.shape} of rank {s_x.size} and Y {y.shape} of rank {s_y.size}. Swap X and Y or pass more "
            f"examples.")
    cross = float(np.sum((yc.T @ xc) ** 2))
    norm_x, norm_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    linear_cka = cka(x, y)
    r2_lr = linear_regression_r2(x, y)
    r2_cca = float(np.mean(cca(x, y).rho ** 2))
    overlap = u_y.T @ u_x
    cka_projectors = float(np.sum(overlap**2)) / math.sqrt(p1 * p2)
    cka_x_py = float(np.sum((u_y.T @ xc) ** 2)) / (norm_x * math.sqrt(p2))
    directions = cca_directions(x, y)
    alpha = np.sum((directions.variates_x.T @ xc) ** 2, axis=1)
    action = rsm_eigen_action(x, y)
    errors = {
        "eq1": abs(float(np.trace(xc @ xc.T @ yc @ yc.T)) - cross) / cross,
        "eq3": abs(hsic(x, y) - cross / (n - 1) ** 2),
        "eq5": abs(r2_lr - float(np.sum((u_y.T @ xc) ** 2)) / float(np.sum(xc**2))),
        "eq6": abs(linear_cka - cross / (norm_x * norm_y)),
        "eq7": abs(r2_cca - float(np.sum(overlap**2)) / p1),
        "eq10": abs(r2_lr - float(alpha @ directions.rho**2) / float(np.sum(alpha))),
        "eq11": abs(r2_cca - cka_projectors * math.sqrt(p2 / p1)),
        "eq12": abs(r2_lr - cka_x_py * math.sqrt(p2) * norm_x / float(np.sum(xc**2))),
        "eq12_printed": abs(r2_lr - cka_x_py * math.sqrt(p1) * norm_x / float(np.sum(xc**2))),
        "eq13": abs(cross - float(s_x**2 @ (overlap.T**2) @ s_y**2)) / cross,
        "eq14": abs(linear_cka - float(np.sum(action.eigenvalues * action.cosine * action.scale_by_y))
                    / (norm_x * norm_y)),
    }
    return MappingProxyType(errors)
