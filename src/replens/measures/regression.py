"""Linear regression fit between representations (CKA paper eq. 5 and Table 1)."""

from __future__ import annotations

import warnings
from typing import Any

from .._backend import Array, to_float
from .._validate import check_pair
from ..errors import UninformativeWarning
from ._subspace import centre_informative, project
from .cca import prepare_cca


def linear_regression_r2(x: Array, y: Array, *, dtype: Any = None) -> float:
    """Fraction of X's variance explained by a least-squares linear fit from Y.

    ``R^2_LR = 1 - min_B ||Xc - Yc B||_F^2 / ||Xc||_F^2 = ||Q_Y^T Xc||_F^2 / ||Xc||_F^2``
    (CKA paper eq. 5), with ``Q_Y`` an orthonormal basis of the centred Y's column space.

    Parameters
    ----------
    x : array-like of shape (n_examples, n_features_x)
        The representation being predicted.
    y : array-like of shape (n_examples, n_features_y)
        The predictor, for the same examples in the same order.
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    float
        In [0, 1]. Not symmetric. Invariant to orthogonal maps and isotropic scaling of
        either input and to any invertible linear map of Y. When Y's centred rank reaches
        n - 1 every X is fitted exactly (value 1) and an UninformativeWarning says so.
    """
    xp, x, y = check_pair(x, y, dtype=dtype)
    xc = centre_informative(xp, x, "X")
    basis_y = prepare_cca(xp, y, "Y")
    n = x.shape[0]
    if basis_y.rank >= n - 1:
        warnings.warn(
            f"linear_regression_r2 is uninformative here: centred Y has rank {basis_y.rank} "
            f"with only {n} examples, so it fits any X exactly. Use more examples than "
            f"features.",
            UninformativeWarning,
            stacklevel=2,
        )
    explained = project(basis_y, xc)
    return min(1.0, to_float(xp.sum(explained * explained)) / to_float(xp.sum(xc * xc)))
