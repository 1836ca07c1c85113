"""Hilbert-Schmidt independence criterion and centered kernel alignment (Kornblith et al. 2019).

Notation: ``K``, ``L`` are n x n Gram matrices of X and Y, ``H = I - 11^T / n``.

* biased HSIC (Gretton et al. 2005; CKA paper eq. 3): ``tr(K H L H) / (n - 1)^2``;
* unbiased HSIC (Song et al. 2012), with ``K~``, ``L~`` the Gram matrices with zeroed
  diagonals: ``[tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3))``;
* CKA (eq. 4): ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.

For the linear kernel everything is computed in feature space when that is cheaper:
``tr(K H L H) = ||Yc^T Xc||_F^2`` with centred ``Xc``, ``Yc`` (CKA paper eq. 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
from array_api_compat import device

from .._backend import Array, namespace_of, to_float
from .._validate import check_option, check_pair, check_positive_number
from ..errors import DegenerateInputError, ShapeError, UnknownOptionError
from ._subspace import centre, check_not_constant

KERNELS = ("linear", "rbf")
Kernel = Union[str, Callable[[Array], Array]]
DEFAULT_RBF_BANDWIDTH = 1.0


def _check_kernel_options(kernel: Kernel, bandwidth: float | None) -> float | None:
    if not callable(kernel):
        check_option("kernel", kernel, KERNELS + ("<a callable returning an n x n Gram matrix>",))
    if kernel != "rbf":
        if bandwidth is not None:
            raise UnknownOptionError(
                f"bandwidth applies only to kernel='rbf'; got bandwidth={bandwidth!r} with "
                f"kernel={kernel!r}. Drop bandwidth or use kernel='rbf'.")
        return None
    if bandwidth is None:
        return DEFAULT_RBF_BANDWIDTH
    return check_positive_number("bandwidth", bandwidth)


def _median(xp: Any, values: Array) -> float:
    """Median of all entries; the mean of the two middle ones when their count is even."""
    flat = xp.reshape(values, (-1,))
    if isinstance(flat, np.ndarray):
        return float(np.median(flat))
    ordered = xp.sort(flat)
    m = ordered.shape[0]
    return 0.5 * (float(ordered[(m - 1) // 2]) + float(ordered[m // 2]))


def rbf_gram(xp: Any, x: Array, bandwidth: float = DEFAULT_RBF_BANDWIDTH, name: str = "X") -> Array:
    """RBF Gram matrix with the CKA paper's bandwidth rule.

    ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))`` with
    ``sigma = bandwidth * sqrt(median of all n^2 squared distances)`` (zeros on the
    diagonal included), as in Kornblith et al.'s reference code. Distances are computed
    from the centred data, which changes nothing mathematically and loses less to rounding.
    """
    centred = centre(xp, x)
    dots = centred @ centred.T
    norms = xp.linalg.diagonal(dots)
    squared = norms[:, None] + norms[None, :] - 2 * dots
    squared = xp.maximum(squared, xp.zeros_like(squared))  # rounding can go below zero
    median = _median(xp, squared)
    if median <= 0:
        raise DegenerateInputError(
            f"the median squared distance between examples of {name} is 0 (at least half of "
            f"the example pairs are identical), so the RBF bandwidth rule gives sigma = 0. "
            f"Remove duplicate examples or pass a kernel callable.")
    return xp.exp(squared / (-2.0 * bandwidth**2 * median))


def _callable_gram(xp: Any, kernel: Callable[[Array], Array], x: Array, name: str) -> Array:
    gram = kernel(x)
    _, (gram, _) = namespace_of(gram, x)
    n = x.shape[0]
    if tuple(gram.shape) != (n, n):
        raise ShapeError(
            f"the kernel callable must return an (n, n) = ({n}, {n}) Gram matrix for {name}; "
            f"it returned shape {tuple(gram.shape)}.")
    gram = xp.astype(gram, x.dtype)
    if not bool(xp.all(xp.isfinite(gram))):
        raise DegenerateInputError(f"the kernel callable returned NaN or infinite values for {name}.")
    return gram


def _centre_gram(xp: Any, gram: Array, unbiased: bool) -> Array:
    """``H K H`` (biased) or the U-centred ``K`` of Song et al. (unbiased).

    U-centring zeroes the diagonal and subtracts row and column means so that
    ``<U(K), U(L)> = n (n - 3) HSIC_unbiased(K, L)``.
    """
    n = gram.shape[0]
    if not unbiased:
        column_means = xp.mean(gram, axis=0)
        total_mean = xp.mean(column_means)
        return gram - column_means[None, :] - column_means[:, None] + total_mean
    off_diagonal = 1 - xp.eye(n, dtype=gram.dtype, device=device(gram))
    zeroed = gram * off_diagonal
    means = xp.sum(zeroed, axis=0) / (n - 2)
    means = means - xp.sum(means) / (2 * (n - 1))
    return (zeroed - means[None, :] - means[:, None]) * off_diagonal


def _debias(dot: float, diag_a: Array, diag_b: Array, xp: Any, n: int) -> float:
    """``n (n - 3) HSIC_unbiased`` from the linear-kernel terms.

    With centred features ``K 1 = 0``, so the unbiased estimator reduces to
    ``tr(K L) - n/(n-2) diag(K).diag(L) + tr(K) tr(L) / ((n-1)(n-2))``.
    """
    cross = to_float(xp.sum(diag_a * diag_b))
    trace_a, trace_b = to_float(xp.sum(diag_a)), to_float(xp.sum(diag_b))
    return dot - n / (n - 2) * cross + trace_a * trace_b / ((n - 1) * (n - 2))


def _squared_frobenius(xp: Any, a: Array) -> float:
    return to_float(xp.sum(a * a))


def _linear_terms(xp: Any, xc: Array, yc: Array, debiased: bool, with_self: bool) -> tuple[float, ...]:
    """Unnormalised HSIC(X, Y) and, if `with_self`, HSIC(X, X) and HSIC(Y, Y)."""
    n, p_x = xc.shape
    p_y = yc.shape[1]
    if p_x + p_y < n:  # feature space: O(n (p_x + p_y)^2) instead of O(n^2 (p_x + p_y))
        terms = [_squared_frobenius(xp, xc.T @ yc)]
        if with_self:
            terms += [_squared_frobenius(xp, xc.T @ xc), _squared_frobenius(xp, yc.T @ yc)]
    else:
        k, l = xc @ xc.T, yc @ yc.T
        terms = [to_float(xp.sum(k * l))]
        if with_self:
            terms += [_squared_frobenius(xp, k), _squared_frobenius(xp, l)]
    if not debiased:
        return tuple(terms)
    diag_x, diag_y = xp.sum(xc * xc, axis=1), xp.sum(yc * yc, axis=1)
    pairs = [(diag_x, diag_y), (diag_x, diag_x), (diag_y, diag_y)]
    return tuple(_debias(t, a, b, xp, n) for t, (a, b) in zip(terms, pairs))


def _kernel_terms(
    xp: Any, x: Array, y: Array, kernel: Kernel, bandwidth: float | None, debiased: bool,
    with_self: bool,
) -> tuple[float, ...]:
    grams = []
    for name, data in (("X", x), ("Y", y)):
        if kernel == "rbf":
            gram = rbf_gram(xp, data, bandwidth, name)
        else:
            gram = _callable_gram(xp, kernel, data, name)
        grams.append(_centre_gram(xp, gram, unbiased=debiased))
    k, l = grams
    terms = [to_float(xp.sum(k * l))]
    if with_self:
        terms += [_squared_frobenius(xp, k), _squared_frobenius(xp, l)]
    return tuple(terms)


def _hsic_terms(
    x: Array, y: Array, kernel: Kernel, debiased: bool, bandwidth: float | None, dtype: Any,
    with_self: bool,
) -> tuple[int, tuple[float, ...]]:
    bandwidth = _check_kernel_options(kernel, bandwidth)
    xp, x, y = check_pair(x, y, min_examples=4 if debiased else 2, dtype=dtype,
                          reason="the debiased estimator divides by n (n - 3)" if debiased else None)
    xc, yc = centre(xp, x), centre(xp, y)
    check_not_constant(xp, "X", xc)
    check_not_constant(xp, "Y", yc)
    if kernel == "linear":
        return x.shape[0], _linear_terms(xp, xc, yc, debiased, with_self)
    return x.shape[0], _kernel_terms(xp, x, y, kernel, bandwidth, debiased, with_self)


def hsic(
    x: Array,
    y: Array,
    *,
    kernel: Kernel = "linear",
    debiased: bool = False,
    bandwidth: float | None = None,
    dtype: Any = None,
) -> float:
    """Hilbert-Schmidt independence criterion between two representations.

    Biased: ``tr(K H L H) / (n - 1)^2`` (CKA paper eq. 3). Debiased: the unbiased
    estimator of Song et al. (2012), ``<U(K), U(L)> / (n (n - 3))`` with ``U`` the
    U-centring; it can be negative.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order.
    kernel : {"linear", "rbf"} or callable, default "linear"
        A callable receives one (n, p) array and returns its (n, n) Gram matrix.
    debiased : bool, default False
        Use the unbiased estimator (needs n >= 4).
    bandwidth : float, optional
        RBF only: sigma as a fraction of the median distance (default 1.0).
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    float
        Linear HSIC scales with ``c^2`` when X is scaled by ``c``; invariant to orthogonal
        maps and translation. Symmetric.
    """
    n, (xy,) = _hsic_terms(x, y, kernel, debiased, bandwidth, dtype, with_self=False)
    return xy / (n * (n - 3)) if debiased else xy / (n - 1) ** 2


def cka(
    x: Array,
    y: Array,
    *,
    kernel: Kernel = "linear",
    debiased: bool = False,
    bandwidth: float | None = None,
    dtype: Any = None,
) -> float:
    """Centered kernel alignment (Kornblith et al. 2019, eq. 4).

    ``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``. For the linear kernel this is
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` (eq. 6), computed in feature space
    when ``p_x + p_y < n`` and from Gram matrices otherwise.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order.
    kernel : {"linear", "rbf"} or callable, default "linear"
        ``"rbf"``: ``exp(-d^2 / (2 sigma^2))`` with ``sigma = bandwidth * sqrt(median
        squared distance)``; a callable receives one (n, p) array and returns its (n, n)
        Gram matrix.
    debiased : bool, default False
        Use the unbiased HSIC estimator (Song et al. 2012) in the numerator and both
        normalisers, as Kornblith et al.'s code does; needs n >= 4.
    bandwidth : float, optional
        RBF only: fraction of the median distance (default 1.0; the paper uses 0.2-0.8).
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    float
        In [0, 1] for the biased estimator. The debiased value can be slightly negative
        (or, rarely, above 1) for nearly unrelated inputs; it is never clamped.

    Notes
    -----
    Linear and RBF CKA are invariant to orthogonal maps, isotropic scaling and
    translation, and *not* to general invertible maps or non-isotropic scaling (CKA
    paper Table 1). Symmetric. Cost: ``O(n (p_x + p_y)^2)`` in feature space,
    ``O(n^2 (p_x + p_y))`` with Gram matrices.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> x = np.random.default_rng(0).standard_normal((200, 10))
    >>> round(rl.cka(x, 3 * x + 1), 12)
    1.0
    """
    n, (xy, xx, yy) = _hsic_terms(x, y, kernel, debiased, bandwidth, dtype, with_self=True)
    if xx <= 0 or yy <= 0:
        raise DegenerateInputError(
            f"the debiased self-similarity estimate is not positive (HSIC(X, X) ~ {xx:.3g}, "
            f"HSIC(Y, Y) ~ {yy:.3g} before scaling), so CKA is undefined; use more examples "
            f"or debiased=False.")
    return xy / (xx**0.5 * yy**0.5)
