"""Linear regression fit between representations (CKA paper eq. 5 and Table 1)."""

from __future__ import annotations

import warnings
from typing import Any

from .._backend import Array, to_float
from .._validate import check_pair, rescaled, unit_bounded
from ..errors import UninformativeWarning
from . import registry
from ._subspace import UNIT_ROUNDING, Basis, centre_informative, cross_product, project
from .cca import prepare_cca
from .registry import ISOTROPIC_SCALING, ORTHOGONAL, TRANSLATION, Plan


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
    xc = centre_informative(xp, rescaled(xp, x)[0], "X")
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
    return explained_fraction(xp, xc, to_float(xp.sum(xc * xc)), basis_y)


def explained_fraction(xp: Any, centred: Array, total: float, predictor: Basis) -> float:
    """``||Q_Y^T Xc||_F^2 / ||Xc||_F^2``: the fraction of X's variance that Y's span explains.

    A projection cannot exceed the whole: rounding above 1 by a few ulp is reported as 1 (more
    is a bug and raises ArithmeticError); a NaN raises NumericalRangeError, never becomes 1.
    """
    explained = project(predictor, centred)
    return unit_bounded(to_float(xp.sum(explained * explained)) / total, UNIT_ROUNDING,
                        "linear_regression_r2")


def _score(xp: Any, target: Basis, predictor: Basis, options: Any, memo: dict) -> float:
    total = to_float(xp.sum(target.coords * target.coords))
    if target.blocked is not None:
        # Bases from row blocks: Q_Y^T Xc = (Q_Y^T Q_X)(Q_X^T Xc), Q_X being X's full basis.
        explained = cross_product(predictor, target) @ target.coords
        return unit_bounded(to_float(xp.sum(explained * explained)) / total, UNIT_ROUNDING, "linear_regression_r2")
    return explained_fraction(xp, target.centred, total, predictor)


def _score_both(xp: Any, a: Basis, b: Basis, options: Any, memo: dict) -> tuple[float, float]:
    return _score(xp, a, b, options, memo), _score(xp, b, a, options, memo)


def _prepare(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> Basis:
    return prepare_cca(xp, x, name)


registry.builtin(
    "linear_regression_r2", "fraction of the row layer's variance explained by the column layer",
    "Kornblith et al. 2019 eq. 5", (0.0, 1.0), False, (ORTHOGONAL, ISOTROPIC_SCALING, TRANSLATION),
    pair=lambda x, y, dtype=None: linear_regression_r2(x, y, dtype=dtype), prepare=_prepare,
    score=_score, score_both=_score_both, preparation=lambda options: ("cca",),
    from_basis=lambda xp, basis, options, name: basis)
