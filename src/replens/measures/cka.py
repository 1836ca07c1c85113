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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .._backend import Array, as_float64, device_of, matmul_into, namespace_of, to_float, to_numpy
from .._backend import median as backend_median
from .._validate import (
    check_option,
    check_pair,
    check_positive_number,
    finite_result,
    rescaled,
    scaled_result,
    unit_bounded,
)
from ..errors import DegenerateInputError, ShapeError, UnknownOptionError
from . import registry
from ._subspace import UNIT_ROUNDING, centre, centre_informative
from .registry import DTYPE, ISOTROPIC_SCALING, ORTHOGONAL, TRANSLATION, Option, Plan

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


def rbf_gram(xp: Any, x: Array, bandwidth: float = DEFAULT_RBF_BANDWIDTH, name: str = "X") -> Array:
    """RBF Gram matrix with the CKA paper's bandwidth rule.

    ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))`` with
    ``sigma = bandwidth * sqrt(median of all n^2 squared distances)`` (zeros on the
    diagonal included), as in Kornblith et al.'s reference code. Distances are computed
    from the centred data, which changes nothing mathematically and loses less to rounding.
    """
    return xp.exp(-_rbf_exponents(xp, x, bandwidth, name))


def _rbf_exponents(xp: Any, x: Array, bandwidth: float, name: str) -> Array:
    """``d_ij^2 / (2 sigma^2)`` of the bandwidth rule, for any scale of `x` and any bandwidth.

    The data are first rescaled by a power of two (which leaves every ratio ``d^2 / median``
    bit for bit unchanged), and the bandwidth is divided out in two steps, so that a tiny
    bandwidth gives ``+inf`` (kernel 0) off the diagonal, never ``0 / 0``.
    """
    x, _ = rescaled(xp, x)
    centred = centre(xp, x)
    dots = centred @ centred.T
    norms = xp.linalg.diagonal(dots)
    squared = norms[:, None] + norms[None, :] - 2 * dots
    squared = xp.maximum(squared, xp.zeros_like(squared))  # rounding can go below zero
    median = backend_median(squared)
    if median <= 0:
        raise DegenerateInputError(
            f"the median squared distance between examples of {name} is 0 (at least half of "
            f"the example pairs are identical), so the RBF bandwidth rule gives sigma = 0. "
            f"Remove duplicate examples or pass a kernel callable.")
    with np.errstate(over="ignore", under="ignore"):
        return ((squared / median) / bandwidth) / bandwidth * 0.5


# Below this largest exponent, exp(-t) - 1 = -t to within t / 2 < eps: the kernel's variable
# part is the (scaled) squared distance, the exact large-bandwidth limit.
_LINEAR_LIMIT = 2.0**-60


def rbf_kernel_part(xp: Any, x: Array, bandwidth: float, name: str = "X") -> tuple[Array, float]:
    """``(G, k)`` with the RBF Gram matrix ``K = 1 1^T + 2**k G``, accurate at any bandwidth.

    Centring removes ``1 1^T`` exactly (``H 1 = 0``, and U-centring maps it to 0), so HSIC and
    CKA are computed from ``G = expm1(-t)`` (``k = 0``), which keeps every digit of
    ``K - 1`` when the bandwidth is large, where ``exp(-t)`` rounds to 1. When
    ``max t < 2**-60`` (a huge bandwidth) ``expm1(-t) = -t`` to rounding and ``t`` itself would
    underflow: then ``G = -d^2 / median`` and ``2**k = 1 / (2 bandwidth^2)``, the exact limit
    (linear CKA of the centred data, up to the factor). A tiny bandwidth gives ``K = I`` (for
    distinct examples), also exactly.
    """
    exponents = _rbf_exponents(xp, x, 1.0, name)  # d^2 / (2 median)
    largest = float(xp.max(exponents))
    with np.errstate(over="ignore", under="ignore"):
        scaled_largest = largest / bandwidth / bandwidth
    if scaled_largest < _LINEAR_LIMIT:
        return -exponents, -2.0 * math.log2(bandwidth)
    with np.errstate(over="ignore", under="ignore"):
        return xp.expm1(-((exponents / bandwidth) / bandwidth)), 0.0


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
    off_diagonal = 1 - xp.eye(n, dtype=gram.dtype, device=device_of(gram))
    zeroed = gram * off_diagonal
    means = xp.sum(zeroed, axis=0) / (n - 2)
    means = means - xp.sum(means) / (2 * (n - 1))
    return (zeroed - means[None, :] - means[:, None]) * off_diagonal


@dataclass(frozen=True)
class KernelLayer:
    """Per-layer work of HSIC and CKA (the "prepare" half).

    Exactly one of `features` (linear kernel, feature space) and `gram` (any kernel, Gram
    space) is set; two layers can be scored together when they were prepared alike.

    Attributes
    ----------
    n : int
        Number of examples.
    features : array of shape (n, p) or None
        Centred activations ``Xc``.
    gram : array of shape (n, n) or None
        Centred ``H K H`` (biased) or U-centred ``K`` (debiased) Gram matrix.
    row_norms : array of shape (n,) or None
        ``diag(Xc Xc^T)``, for the debiased linear estimator.
    self_term : float
        The unnormalised ``HSIC(X, X)``: ``(n-1)^2`` or ``n (n-3)`` times the estimate.
    debiased : bool
        Whether the unbiased estimator is used.
    log2_scale : float
        The layer's kernel is ``2**log2_scale`` times the one stored (its data were rescaled
        by a power of two, or the RBF kernel is at its large-bandwidth limit): HSIC values
        put the factor back, CKA does not need it.
    """

    n: int
    features: Array | None
    gram: Array | None
    row_norms: Array | None
    self_term: float
    debiased: bool
    log2_scale: float = 0.0


def debiased_hsic_term(dot: float, norms_a: Array, norms_b: Array, xp: Any, n: int) -> float:
    """``n (n - 3) HSIC_unbiased`` from linear-kernel terms on centred features.

    `norms_a`, `norms_b` are the Gram diagonals ``diag(K)``, ``diag(L)``; see
    :func:`debiased_hsic_from_sums` for the formula.
    """
    return debiased_hsic_from_sums(dot, to_float(xp.sum(norms_a * norms_b)),
                                   to_float(xp.sum(norms_a)), to_float(xp.sum(norms_b)), n)


def debiased_hsic_from_sums(dot: float, diagonal_dot: float, trace_a: float, trace_b: float,
                            n: int) -> float:
    """``n (n - 3) HSIC_unbiased`` (Song et al. 2012) of centred linear kernels, from sums.

    With centred features ``K 1 = 0``, so the estimator reduces to
    ``tr(K L) - n/(n-2) diag(K).diag(L) + tr(K) tr(L) / ((n-1)(n-2))``, with ``dot = tr(K L)``
    and ``diagonal_dot = diag(K).diag(L)``.
    """
    return dot - n / (n - 2) * diagonal_dot + trace_a * trace_b / ((n - 1) * (n - 2))


def frobenius_inner(xp: Any, a: Array, b: Array) -> float:
    """``<A, B>_F = sum_ij A_ij B_ij`` as one BLAS dot product, with no n x n temporary."""
    return to_float(xp.reshape(a, (-1,)) @ xp.reshape(b, (-1,)))


def squared_frobenius(xp: Any, a: Array) -> float:
    return frobenius_inner(xp, a, a)


def prepare_kernel(
    xp: Any,
    x: Array,
    *,
    kernel: Kernel = "linear",
    debiased: bool = False,
    bandwidth: float | None = None,
    space: str = "features",
    name: str = "X",
) -> KernelLayer:
    """Centre one layer and compute what HSIC and CKA need of it alone.

    `space` is "features" (linear kernel only: keep ``Xc``, cost ``O(n p^2)``) or "gram"
    (form the n x n centred Gram matrix, cost ``O(n^2 p)``, memory ``n^2`` numbers).
    Options are assumed checked and `x` validated and cast.
    """
    n = x.shape[0]
    if kernel == "rbf":
        centre_informative(xp, rescaled(xp, x)[0], name)  # the check: every column constant
        part, log2_scale = rbf_kernel_part(xp, x, bandwidth, name)
        gram = _centre_gram(xp, part, unbiased=debiased)
        return KernelLayer(n, None, gram, None, squared_frobenius(xp, gram), debiased, log2_scale)
    if kernel == "linear":
        x, exponent = rescaled(xp, x)
    centred = centre_informative(xp, x, name)
    if kernel == "linear":
        row_norms = xp.sum(centred * centred, axis=1) if debiased else None
        if space == "features":
            features, gram = centred, None
            self_dot = squared_frobenius(xp, centred.T @ centred)
        else:
            features, gram = None, centred @ centred.T
            self_dot = squared_frobenius(xp, gram)
        self_term = debiased_hsic_term(self_dot, row_norms, row_norms, xp, n) if debiased else self_dot
        return KernelLayer(n, features, gram, row_norms, self_term, debiased, 2.0 * exponent)
    gram = _callable_gram(xp, kernel, x, name)
    gram = _centre_gram(xp, gram, unbiased=debiased)
    return KernelLayer(n, None, gram, None, squared_frobenius(xp, gram), debiased)


def score_hsic(xp: Any, a: KernelLayer, b: KernelLayer) -> float:
    """The unnormalised ``HSIC(X, Y)`` of two prepared layers (the "score" half).

    Two layers prepared in feature space meet there (``||Xc^T Yc||_F^2``); otherwise in
    Gram space, forming ``Xc Xc^T`` for a layer that was prepared in feature space.
    """
    if a.features is not None and b.features is not None:
        dot = squared_frobenius(xp, a.features.T @ b.features)
    else:
        dot = frobenius_inner(xp, _gram_of(a), _gram_of(b))
    if a.row_norms is not None and b.row_norms is not None:
        return debiased_hsic_term(dot, a.row_norms, b.row_norms, xp, a.n)
    return dot


def _gram_of(layer: KernelLayer) -> Array:
    return layer.gram if layer.gram is not None else layer.features @ layer.features.T


def hsic_value(xp: Any, a: KernelLayer, b: KernelLayer) -> float:
    """The HSIC estimate of two prepared layers, their scale factors put back (see
    :func:`replens._validate.scaled_result`: an estimate beyond float64's range is an error)."""
    return scaled_result(score_hsic(xp, a, b) / hsic_scale(a.n, a.debiased), a.log2_scale + b.log2_scale,
                         "HSIC")


def hsic_scale(n: int, debiased: bool) -> float:
    """The divisor that turns an unnormalised HSIC into the estimate."""
    return float(n * (n - 3)) if debiased else float((n - 1) ** 2)


def score_cka(xp: Any, a: KernelLayer, b: KernelLayer) -> float:
    """CKA of two prepared layers: ``HSIC(X, Y) / sqrt(HSIC(X, X) HSIC(Y, Y))``."""
    return cka_from_hsic(score_hsic(xp, a, b), a.self_term, b.self_term, a.debiased)


def cka_from_hsic(cross: float, self_x: float, self_y: float, debiased: bool) -> float:
    """``HSIC(X, Y) / sqrt(HSIC(X, X) HSIC(Y, Y))`` from unnormalised HSIC terms (eq. 4).

    The biased value is a cosine between centred Gram matrices, at most 1 by
    Cauchy-Schwarz: rounding above 1 by a few ulp is reported as 1, more raises
    ArithmeticError (a bug). The debiased value has no such bound and is never clamped. A NaN
    term raises NumericalRangeError: it never becomes a number.
    """
    cross, self_x, self_y = (finite_result(term, "an HSIC term of CKA") for term in (cross, self_x, self_y))
    if self_x <= 0 or self_y <= 0:
        raise DegenerateInputError(
            f"the debiased self-similarity estimate is not positive (n(n-3) HSIC(X, X) = "
            f"{self_x:.3g}, n(n-3) HSIC(Y, Y) = {self_y:.3g}), so CKA is undefined; "
            f"use more examples or debiased=False.")
    value = finite_result(cross / (self_x**0.5 * self_y**0.5), "CKA")
    if debiased:
        return value
    return unit_bounded(value, UNIT_ROUNDING, "CKA")


def gram_inner_products(
    xp: Any, left: Sequence[Array], right: Sequence[Array] | None = None, *, block_rows: int,
    on_rows: Callable[[int], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frobenius inner products of linear Gram matrices, built one row block at a time.

    For centred layers ``A_i`` (n x p_i) and ``B_j`` (n x q_j), with ``K_i = A_i A_i^T`` and
    ``L_j = B_j B_j^T``, returns ``cross[i, j] = <K_i, L_j>_F = ||A_i^T B_j||_F^2`` (the
    unnormalised linear HSIC, CKA paper eq. 6) and the self terms ``<K_i, K_i>_F``,
    ``<L_j, L_j>_F``. `right` None means B = A (then `cross` is symmetric).

    No n x n matrix is held: rows ``s:s+b`` of every Gram matrix are formed for columns
    ``>= s`` only (Gram matrices are symmetric), the diagonal block counted once and the
    block to its right twice, and their inner products across layers taken with one matrix
    product per block. Cost ``n^2 (sum_i p_i) / 2`` multiply-adds for the Gram rows (as one
    symmetric rank-k update per layer) plus ``n^2 / 2`` per pair; memory
    ``layers x block_rows x n`` numbers. ``on_rows(k)`` is called after each block of k rows
    (a progress bar's update).
    """
    layers = list(left) + ([] if right is None else list(right))
    n_left, n = len(left), int(layers[0].shape[0])
    where = device_of(layers[0])
    total = xp.zeros((n_left, n_left if right is None else len(layers) - n_left), dtype=xp.float64,
                     device=where)
    self_terms = xp.zeros((len(layers),), dtype=xp.float64, device=where)
    rows = max(1, min(int(block_rows), n))
    buffer = xp.empty((len(layers), rows * n), dtype=layers[0].dtype, device=where)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        for columns, weight in (((start, stop), 1.0), ((stop, n), 2.0)):
            size = (stop - start) * (columns[1] - columns[0])
            if size == 0:
                continue
            for k, a in enumerate(layers):
                matmul_into(a[start:stop], a[columns[0]:columns[1]].T, buffer[k, :size],
                             (stop - start, columns[1] - columns[0]))
            block = buffer[:, :size]
            # Accumulators stay on the inputs' device, in float64 whatever the working dtype.
            if right is None:
                total += weight * as_float64(block @ block.T)
            else:
                total += weight * as_float64(block[:n_left] @ block[n_left:].T)
                self_terms += weight * as_float64(xp.sum(block * block, axis=1))
        if on_rows is not None:
            on_rows(stop - start)
    total = to_numpy(total)
    if right is None:
        return total, np.diag(total).copy(), np.diag(total).copy()
    self_terms = to_numpy(self_terms)
    return total, self_terms[:n_left], self_terms[n_left:]


def kernel_space(kernel: Kernel, n: int, widths: list[int]) -> str:
    """"features" when a linear kernel is cheaper in feature space, else "gram".

    For one pair, feature space costs ``n (p_x + p_y)^2`` and Gram space
    ``n^2 (p_x + p_y)``.
    """
    return "features" if kernel == "linear" and sum(widths) < n else "gram"


def _prepare_pair(
    x: Array, y: Array, kernel: Kernel, debiased: bool, bandwidth: float | None, dtype: Any
) -> tuple[Any, KernelLayer, KernelLayer]:
    bandwidth = _check_kernel_options(kernel, bandwidth)
    xp, x, y = check_pair(x, y, min_examples=4 if debiased else 2, dtype=dtype,
                          reason="the debiased estimator divides by n (n - 3)" if debiased else None)
    options = dict(kernel=kernel, debiased=debiased, bandwidth=bandwidth,
                   space=kernel_space(kernel, x.shape[0], [x.shape[1], y.shape[1]]))
    return xp, prepare_kernel(xp, x, name="X", **options), prepare_kernel(xp, y, name="Y", **options)


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
        maps and translation. Symmetric. Inputs of any scale are rescaled exactly (by powers
        of two) before the products and the factor is put back, so the value is exact for
        scales up to float64's range; an estimate beyond that range (say both inputs scaled
        by 1e100) raises NumericalRangeError instead of returning inf or 0.0.
    """
    xp, a, b = _prepare_pair(x, y, kernel, debiased, bandwidth, dtype)
    return hsic_value(xp, a, b)


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
        (or above 1 by rounding: it is a cosine of U-centred Gram matrices, so it lies in
        [-1, 1] up to rounding) for nearly unrelated inputs; it is never clamped.

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
    xp, a, b = _prepare_pair(x, y, kernel, debiased, bandwidth, dtype)
    return score_cka(xp, a, b)


# ----------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class GramTerms:
    """What :func:`replens.compare`'s blocked Gram pass gives for one pair of centred layers.

    ``cross = <K, L>_F``, ``self_a = <K, K>_F``, ``self_b = <L, L>_F`` (unnormalised linear
    HSIC terms, eq. 6) and the Gram diagonals ``norms_a = diag K``, ``norms_b = diag L``, all
    of the layers rescaled by ``2**exponent_a`` and ``2**exponent_b`` (so that nothing
    overflows; see :func:`replens._validate.rescaled`); the kernels are ``2**(2 exponent)``
    times these.
    """

    xp: Any
    n: int
    cross: float
    self_a: float
    self_b: float
    norms_a: Array
    norms_b: Array
    exponent_a: int = 0
    exponent_b: int = 0


def scaled_centred_layers(xp: Any, matrices: Sequence[Array], names: Sequence[str]
                          ) -> tuple[list[Array], list[int]]:
    """:func:`centred_layers` of the layers rescaled by powers of two, and the exponents."""
    scaled = [rescaled(xp, m) for m in matrices]
    return centred_layers(xp, [m for m, _ in scaled], names), [e for _, e in scaled]


def centred_layers(xp: Any, matrices: Sequence[Array], names: Sequence[str]) -> list[Array]:
    """Each layer centred (columns of mean zero), checked to vary: the input of the Gram pass."""
    return [centre_informative(xp, m, name) for m, name in zip(matrices, names)]


def _linear_prepare(debiased: bool) -> Callable[..., KernelLayer]:
    def prepare(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> KernelLayer:
        space = plan.space or ("features" if x.shape[1] < x.shape[0] else "gram")
        return prepare_kernel(xp, x, debiased=debiased, space=space, name=name)

    return prepare


def _rbf_prepare(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> KernelLayer:
    return prepare_kernel(xp, x, kernel="rbf", bandwidth=options["bandwidth"], space="gram", name=name)


def _score_cka(xp: Any, a: KernelLayer, b: KernelLayer, options: Any, memo: dict) -> float:
    return score_cka(xp, a, b)


def _score_linear_hsic(xp: Any, a: KernelLayer, b: KernelLayer, options: Any, memo: dict) -> float:
    return hsic_value(xp, a, b)


def _linear_hsic_from_gram(t: GramTerms, options: Any) -> float:
    return scaled_result(t.cross / hsic_scale(t.n, False), 2.0 * (t.exponent_a + t.exponent_b), "linear_hsic")


def _debiased_from_gram(t: GramTerms, options: Any) -> float:
    return cka_from_hsic(debiased_hsic_term(t.cross, t.norms_a, t.norms_b, t.xp, t.n),
                         debiased_hsic_term(t.self_a, t.norms_a, t.norms_a, t.xp, t.n),
                         debiased_hsic_term(t.self_b, t.norms_b, t.norms_b, t.xp, t.n), True)


_SIMILARITY = (ORTHOGONAL, ISOTROPIC_SCALING, TRANSLATION)

registry.builtin(
    "linear_cka", "CKA with a linear kernel, biased HSIC", "Kornblith et al. 2019 eq. 6", (0.0, 1.0),
    True, _SIMILARITY,
    pair=lambda x, y, dtype=None: cka(x, y, dtype=dtype),
    prepare=_linear_prepare(False), score=_score_cka,
    preparation=lambda options: ("linear_kernel",),
    from_gram=lambda t, options: cka_from_hsic(t.cross, t.self_a, t.self_b, False))
registry.builtin(
    "debiased_linear_cka",
    "CKA with a linear kernel, unbiased HSIC (Song et al. 2012); may be slightly negative",
    "Kornblith et al. 2019 eq. 4 with the unbiased estimator", (None, 1.0), True, _SIMILARITY,
    min_examples=4,
    pair=lambda x, y, dtype=None: cka(x, y, debiased=True, dtype=dtype),
    prepare=_linear_prepare(True), score=_score_cka,
    preparation=lambda options: ("debiased_linear_kernel",),
    from_gram=_debiased_from_gram)
registry.builtin(
    "rbf_cka", "CKA with an RBF kernel, sigma = bandwidth x median distance",
    "Kornblith et al. 2019 sec. 4", (0.0, 1.0), True, _SIMILARITY,
    options=(Option("bandwidth", DEFAULT_RBF_BANDWIDTH, lambda value: check_positive_number("bandwidth", value)),
             DTYPE),
    pair=lambda x, y, bandwidth=DEFAULT_RBF_BANDWIDTH, dtype=None: cka(
        x, y, kernel="rbf", bandwidth=bandwidth, dtype=dtype),
    prepare=_rbf_prepare, score=_score_cka,
    preparation=lambda options: ("rbf_kernel", options["bandwidth"]))
registry.builtin(
    "linear_hsic", "HSIC with a linear kernel, tr(KHLH)/(n-1)^2",
    "Gretton et al. 2005; Kornblith et al. 2019 eq. 3", (0.0, None), True, (ORTHOGONAL, TRANSLATION),
    pair=lambda x, y, dtype=None: hsic(x, y, dtype=dtype),
    prepare=_linear_prepare(False), score=_score_linear_hsic,
    preparation=lambda options: ("linear_kernel",),
    from_gram=_linear_hsic_from_gram)
