"""Canonical correlation analysis and the indexes built on it: CCA, SVCCA and PWCCA.

All three are exact: canonical correlations are the singular values of ``q_x^T q_y`` for
orthonormal bases ``q_x``, ``q_y`` of the centred column spaces (Bjorck & Golub 1973), with
no covariance inverse and no epsilon. google/svcca's ``cca_core`` instead inverts
epsilon-regularised covariances; its coefficients are about 1e-9 low and it fails on
duplicated neurons (see tests/reference_data/README.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array, machine_epsilon, to_numpy
from .._validate import (
    check_fraction,
    check_option,
    check_pair,
    check_positive_int,
    rescaled,
    unit_bounded,
)
from ..errors import UninformativeWarning
from . import registry
from .registry import DTYPE, INVERTIBLE_LINEAR, ISOTROPIC_SCALING, ORTHOGONAL, TRANSLATION, Option, Plan
from ._subspace import (
    UNIT_ROUNDING,
    Basis,
    centre_informative,
    cross_product,
    orthonormal_basis,
    principal_directions,
)

SVCCA_RULES = ("variance", "singular_values")


def tie_tolerance(eps: float) -> float:
    """Canonical correlations closer than ``sqrt(eps)`` (1.5e-8 in float64) count as tied.

    The variates inside a tied block are defined only up to a rotation, and rounding picks
    one; singular vectors of correlations ``g`` apart move by about ``eps / g`` under
    rounding, so below ``sqrt(eps)`` they are as arbitrary as inside an exact tie.
    """
    return eps**0.5


# A block of correlations spread over at most this much needs no rotation when it holds them all.
_SPREAD_WITHOUT_ROTATION = 1e-12


def tied_blocks(rho: np.ndarray, tolerance: float) -> list[slice]:
    """Runs of at least two descending correlations whose consecutive gaps are <= `tolerance`."""
    blocks, start = [], 0
    for i in range(1, rho.shape[0] + 1):
        if i == rho.shape[0] or rho[i - 1] - rho[i] > tolerance:
            if i - start > 1:
                blocks.append(slice(start, i))
            start = i
    return blocks



@dataclass(frozen=True)
class CanonicalCorrelations:
    """Canonical correlations ``rho`` (descending, float64) and their two summaries."""

    rho: np.ndarray

    @property
    def mean_rho(self) -> float:
        """Mean canonical correlation, SVCCA paper eq. (1): ``(1/k) sum_i rho_i``."""
        return float(np.mean(self.rho))

    @property
    def r2(self) -> float:
        """Mean squared canonical correlation, R^2_CCA of the CKA paper, eq. (7)."""
        return float(np.mean(self.rho**2))


@dataclass(frozen=True)
class CCAResult(CanonicalCorrelations):
    """Result of :func:`cca`.

    Attributes
    ----------
    rho : ndarray of shape (k,)
        Canonical correlations, descending, ``k = min(rank Xc, rank Yc)``; float64.
    rank : tuple of int
        Numerical ranks ``(rank Xc, rank Yc)`` of the centred inputs.
    mean_rho, r2 : float
        Mean of ``rho`` and of ``rho**2``.
    """

    rank: tuple[int, int]


@dataclass(frozen=True)
class SVCCAResult(CanonicalCorrelations):
    """Result of :func:`svcca`.

    Attributes
    ----------
    rho : ndarray of shape (k,)
        Canonical correlations between the kept singular directions, descending,
        ``k = min(kept)``.
    kept : tuple of int
        Number of singular directions kept for X and for Y.
    mean_rho, r2 : float
        Mean of ``rho`` and of ``rho**2``.
    """

    kept: tuple[int, int]


def prepare_cca(xp: Any, x: Array, name: str = "X") -> Basis:
    """Per-layer work of the CCA family: rescale (by a power of two, exactly, when the scale is
    extreme; see :func:`replens._validate.rescaled`), centre, check, and take an orthonormal basis."""
    centred = centre_informative(xp, rescaled(xp, x)[0], name)
    return orthonormal_basis(xp, centred)


@dataclass(frozen=True)
class CanonicalPair:
    """The SVD ``q_x^T q_y = A diag(rho) B^T`` of one pair (the "score" half's core).

    ``left`` (r_x x k) and ``right`` (r_y x k) hold the canonical directions of X and Y
    in their bases when requested (PWCCA needs them), else None.
    """

    rho: np.ndarray
    left: Array | None
    right: Array | None


def warn_if_uninformative(n: int, rank_x: int, rank_y: int, stacklevel: int = 2) -> None:
    """Warn when ``r_x + r_y > n - 1``, so that canonical correlations are forced to 1.

    The centred column spaces then intersect in at least ``r_x + r_y - (n - 1)``
    dimensions, so that many correlations are 1 whatever the data (CKA paper, Theorem 1).
    """
    forced = rank_x + rank_y - (n - 1)
    if forced > 0:
        warnings.warn(
            f"canonical correlations are uninformative here: the centred inputs have ranks "
            f"{rank_x} and {rank_y} but only {n} examples, so at least {forced} canonical "
            f"correlations equal 1 whatever the data (Kornblith et al. 2019, Theorem 1). "
            f"Use more examples than features, reduce dimension first (svcca), or use CKA.",
            UninformativeWarning,
            stacklevel=stacklevel + 1,
        )


def correlate(xp: Any, basis_x: Basis, basis_y: Basis, *, directions: bool = False) -> CanonicalPair:
    """Canonical correlations of two prepared layers: singular values of ``q_x^T q_y``."""
    product = cross_product(basis_x, basis_y)
    if directions:
        left, rho, right_t = xp.linalg.svd(product, full_matrices=False)
        right = right_t.T
    else:
        left, right, rho = None, None, xp.linalg.svdvals(product)
    rho = unit_bounded(to_numpy(rho), UNIT_ROUNDING, "canonical correlation")
    return CanonicalPair(rho, left, right)


def projection_weighted(xp: Any, rho: np.ndarray, directions: Array, basis: Basis) -> float:
    """PWCCA from the canonical directions of the weighting layer in its basis.

    ``<h_i, x_j> = (A^T q^T Xc)_ij = (A^T coords)_ij``: no n-sized work. Tied correlations
    get the canonical variates of :func:`weighted_correlation`.
    """
    eps = machine_epsilon(xp, basis.coords.dtype)
    projections = to_numpy(directions[:, : rho.shape[0]].T @ basis.coords)
    return weighted_correlation(rho, projections, tie_tolerance(eps))


def weighted_correlation(rho: np.ndarray, projections: np.ndarray, tolerance: float) -> float:
    """``sum_i alpha_i rho_i / sum_i alpha_i`` with ``alpha_i = sum_j |projections_ij|``
    (Morcos et al. 2018 sec. 2.2), the variates made canonical inside tied blocks.

    ``projections`` (k x p) holds ``<h_i, x_j>``, the weighting layer's centred neurons on its
    canonical variates. Inside a block of tied correlations (consecutive gaps at most
    `tolerance`, see :func:`tie_tolerance`) any rotation of the variates is as canonical as
    another, and the weights (sums of absolute values) depend on which: the block's variates
    are therefore replaced by the principal axes of the neurons projected onto the block
    (left singular vectors of that block of ``projections``), which depend only on the
    block's span. Each rotated variate ``h`` keeps its own correlation with the other layer,
    ``sqrt(sum_i c_i^2 rho_i^2)`` for ``h = sum_i c_i h_i`` (exact ties: the tied value).
    Unique up to signs (which the absolute values ignore) when the block's principal axes
    are distinct.
    """
    projections = np.array(projections, dtype=np.float64)
    correlations = np.array(rho, dtype=np.float64)
    for block in tied_blocks(correlations, tolerance):
        spread = float(correlations[block.start] - correlations[block.stop - 1])
        if block.stop - block.start == correlations.shape[0] and spread <= _SPREAD_WITHOUT_ROTATION:
            # One block holding every correlation, all equal to 1e-12 (a layer against itself):
            # any weights give their common value to within the spread, so no rotation is needed.
            break
        axes, _, _ = np.linalg.svd(projections[block], full_matrices=False)
        projections[block] = axes.T @ projections[block]
        correlations[block] = np.sqrt((axes**2).T @ correlations[block] ** 2)
    weights = np.sum(np.abs(projections), axis=1)
    # A weighted mean of correlations <= 1 may round above 1 by an ulp, which is reported as 1.
    return unit_bounded(np.sum(weights * correlations) / np.sum(weights), UNIT_ROUNDING, "PWCCA")


def cca(x: Array, y: Array, *, dtype: Any = None) -> CCAResult:
    """Canonical correlation analysis of two representations, computed exactly.

    Centres the columns, takes orthonormal bases ``q_x`` (n x r_x) and ``q_y`` (n x r_y)
    of the centred column spaces (r = numerical rank), and returns the singular values of
    ``q_x^T q_y``: the canonical correlations ``rho_1 >= ... >= rho_k``,
    ``k = min(r_x, r_y)`` (SVCCA paper sec. 2; CKA paper eq. 7 for ``R^2_CCA``).

    Parameters
    ----------
    x : array-like of shape (n_examples, n_features_x)
        Activations of the first layer: numpy array or torch tensor (any device).
    y : array-like of shape (n_examples, n_features_y)
        Activations of the second layer for the same examples, in the same order.
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    CCAResult
        ``rho``, ``mean_rho`` (rho-bar, SVCCA paper eq. 1), ``r2`` (mean rho^2) and
        ``rank``.

    Notes
    -----
    Invariant to invertible linear maps of either input's features, hence to orthogonal
    maps, isotropic scaling and translation (CKA paper Table 1). Symmetric. With
    ``r_x + r_y > n - 1`` (e.g. more features than examples) at least ``r_x + r_y - n + 1``
    correlations are forced to 1: the value is exact but uninformative, and an
    :class:`~replens.UninformativeWarning` says so. Cost: ``O(n p^2)`` per input for the
    bases plus ``O(n r_x r_y)`` for the pair.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> x = np.random.default_rng(0).standard_normal((100, 5))
    >>> r = rl.cca(x, 2 * x @ np.eye(5)[::-1] + 1)
    >>> np.allclose(r.rho, 1)
    True
    """
    xp, x, y = check_pair(x, y, dtype=dtype)
    basis_x, basis_y = prepare_cca(xp, x, "X"), prepare_cca(xp, y, "Y")
    warn_if_uninformative(x.shape[0], basis_x.rank, basis_y.rank)
    return CCAResult(rho=correlate(xp, basis_x, basis_y).rho, rank=(basis_x.rank, basis_y.rank))


def kept_directions(
    singular_values: np.ndarray, threshold: float, rule: str, keep: int | None, name: str
) -> int:
    rank = singular_values.shape[0]
    if keep is not None:
        if keep > rank:
            warnings.warn(
                f"svcca keep={keep} exceeds the rank {rank} of centred {name}; keeping all "
                f"{rank} directions.",
                UninformativeWarning,
                stacklevel=4,
            )
        return min(keep, rank)
    energy = singular_values**2 if rule == "variance" else singular_values
    fraction = np.cumsum(energy) / np.sum(energy)
    fraction[-1] = 1.0  # the whole spectrum reaches any threshold <= 1, rounding aside
    return int(np.argmax(fraction >= threshold)) + 1


def svcca(
    x: Array,
    y: Array,
    *,
    threshold: float = 0.99,
    rule: str = "variance",
    keep: int | None = None,
    dtype: Any = None,
) -> SVCCAResult:
    """Singular Vector CCA (Raghu et al. 2017): SVD truncation, then CCA.

    Each centred input ``Xc = U diag(s) V^T`` is reduced to its top ``k`` singular
    directions ``U_k diag(s_k)``, then CCA compares the two reductions. Since CCA is
    invariant to invertible maps, this equals the singular values of ``U_kx^T U_ky``.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order.
    threshold : float in (0, 1], default 0.99
        Fraction of the spectrum to keep.
    rule : {"variance", "singular_values"}, default "variance"
        ``"variance"``: the fewest top directions whose squared singular values reach
        `threshold` of their total (fraction of variance explained).
        ``"singular_values"``: the same on the singular values themselves, as the SVCCA
        paper's appendix states it literally.
    keep : int, optional
        Keep exactly this many top directions per input instead (capped at the rank,
        with a warning).
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    SVCCAResult
        ``rho``, ``mean_rho``, ``r2`` and ``kept = (k_x, k_y)``.

    Notes
    -----
    Invariant to orthogonal maps, isotropic scaling and translation, not to general
    invertible maps (the truncation depends on the spectrum). Symmetric.
    """
    check_option("rule", rule, SVCCA_RULES)
    threshold = check_fraction("threshold", threshold)
    if keep is not None:
        keep = check_positive_int("keep", keep)
    xp, x, y = check_pair(x, y, dtype=dtype)
    options = dict(threshold=threshold, rule=rule, keep=keep)
    top_x, top_y = prepare_svcca(xp, x, name="X", **options), prepare_svcca(xp, y, name="Y", **options)
    warn_if_uninformative(x.shape[0], top_x.rank, top_y.rank)
    return SVCCAResult(rho=correlate(xp, top_x, top_y).rho, kept=(top_x.rank, top_y.rank))


def prepare_svcca(
    xp: Any, x: Array, *, threshold: float, rule: str, keep: int | None, name: str = "X"
) -> Basis:
    """Per-layer work of SVCCA: the basis of the kept top singular directions."""
    principal = principal_directions(xp, prepare_cca(xp, x, name))
    return principal.top(kept_directions(to_numpy(principal.s), threshold, rule, keep, name))


def pwcca(x: Array, y: Array, *, threshold: float | None = None, dtype: Any = None) -> float:
    """Projection-weighted CCA (Morcos et al. 2018, sec. 2.2), as the paper defines it.

    With canonical correlations ``rho_i`` and the unit-norm canonical variates of the
    *first* argument ``h_i = q_x a_i`` (orthonormal by construction), the weights are

        alpha_i = sum_j |<h_i, x_j>|        (x_j: the centred neurons of X)
        PWCCA   = sum_i alpha_i rho_i / sum_i alpha_i

    so directions that account for more of X's neurons count more.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order; the weights come from `x`.
    threshold : float in (0, 1], optional
        First reduce each centred input to its fewest top singular directions that keep this
        fraction of its variance (as :func:`svcca` does), "thresholding to remove low variance
        noise" as Morcos et al. do for their comparisons of networks (sec. 3.1); the weights
        then come from X's neurons projected on its kept directions. None (default): no
        truncation, the definition of sec. 2.2.
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    float
        In [0, 1]. Not symmetric: ``pwcca(x, y) != pwcca(y, x)`` in general; symmetrise
        as their mean if needed.

    Notes
    -----
    google/svcca's ``pwcca.py`` computes a different number: the directions it
    orthonormalises are the rotated centred activations with the neuron means added back
    (the covariance whitening is missing), and it projects the uncentred activations; its
    value then depends on the arbitrary signs of singular vectors, and its second branch
    reads the wrong array. Here the canonical variates are the exact ones, so the value
    agrees with the paper's description to rounding.

    **Tied correlations.** Where canonical correlations tie (skip connections: a layer that
    copies part of its input gives several correlations of exactly 1), the canonical variates
    inside the tied block are defined only up to a rotation, and the weights depend on which
    one rounding picks (by up to 0.01 under rotations of Y). Correlations whose consecutive
    gaps are at most ``sqrt(eps)`` (1.5e-8 in float64) count as tied, and inside each tied
    block the variates are the principal axes of X's centred neurons projected onto the
    block (the left singular vectors of ``A_block^T q_x^T Xc``), each weighted with its own
    correlation with Y (the tied value). The result depends only on the block's span, so
    rotations, rescalings and invertible maps of Y leave it unchanged to rounding. The same
    rule covers correlations forced to 1 when ``r_x + r_y > n - 1`` (see :func:`cca`; an
    UninformativeWarning says so).
    """
    if threshold is not None:
        threshold = check_fraction("threshold", threshold)
    xp, x, y = check_pair(x, y, dtype=dtype)
    if threshold is None:
        basis_x, basis_y = prepare_cca(xp, x, "X"), prepare_cca(xp, y, "Y")
    else:
        options = dict(threshold=threshold, rule="variance", keep=None)
        basis_x, basis_y = prepare_svcca(xp, x, name="X", **options), prepare_svcca(xp, y, name="Y", **options)
    warn_if_uninformative(x.shape[0], basis_x.rank, basis_y.rank)
    pair = correlate(xp, basis_x, basis_y, directions=True)
    return projection_weighted(xp, pair.rho, pair.left, basis_x)


# ----------------------------------------------------------------------------- the registry

def canonical_pair(xp: Any, a: Basis, b: Basis, memo: dict, *, directions: bool) -> CanonicalPair:
    """:func:`correlate` of one pair, computed once for every measure scoring it (`memo`)."""
    key = ("canonical", id(a), id(b))
    pair = memo.get(key)
    if pair is None or (directions and pair.left is None):
        pair = memo[key] = correlate(xp, a, b, directions=directions)
    return pair


def _mean_rho(xp: Any, a: Basis, b: Basis, options: Any, memo: dict) -> float:
    return float(np.mean(canonical_pair(xp, a, b, memo, directions=False).rho))


def _r2(xp: Any, a: Basis, b: Basis, options: Any, memo: dict) -> float:
    return float(np.mean(canonical_pair(xp, a, b, memo, directions=False).rho ** 2))


def _pwcca(xp: Any, a: Basis, b: Basis, options: Any, memo: dict) -> float:
    pair = canonical_pair(xp, a, b, memo, directions=True)
    return projection_weighted(xp, pair.rho, pair.left, a)


def _pwcca_both(xp: Any, a: Basis, b: Basis, options: Any, memo: dict) -> tuple[float, float]:
    pair = canonical_pair(xp, a, b, memo, directions=True)
    return (projection_weighted(xp, pair.rho, pair.left, a),
            projection_weighted(xp, pair.rho, pair.right, b))


def _prepare_basis(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> Basis:
    return prepare_cca(xp, x, name)


def _prepare_truncated(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> Basis:
    return prepare_svcca(xp, x, threshold=options["threshold"], rule=options["rule"],
                         keep=options["keep"], name=name)


def _full_basis(xp: Any, basis: Basis, options: Any, name: str) -> Basis:
    return basis


def _truncation(options: Any) -> dict[str, Any]:
    """PWCCA's ``threshold`` as SVCCA's truncation options."""
    return dict(threshold=options["threshold"], rule="variance", keep=None)


def _prepare_pwcca(xp: Any, x: Array, options: Any, name: str, plan: Plan) -> Basis:
    if options["threshold"] is None:
        return prepare_cca(xp, x, name)
    return prepare_svcca(xp, x, name=name, **_truncation(options))


def _pwcca_from_basis(xp: Any, basis: Basis, options: Any, name: str) -> Basis:
    if options["threshold"] is None:
        return basis
    return _truncated_basis(xp, basis, _truncation(options), name)


def _pwcca_preparation(options: Any) -> tuple[Any, ...]:
    # Equal to SVCCA's key for the same truncation: the two measures share the truncated basis.
    return ("cca",) if options["threshold"] is None else ("svcca", options["threshold"], "variance", None)


def _truncated_basis(xp: Any, basis: Basis, options: Any, name: str) -> Basis:
    principal = principal_directions(xp, basis)
    return principal.top(kept_directions(to_numpy(principal.s), options["threshold"], options["rule"],
                                         options["keep"], name))


def ranks_uninformative(a: Basis, b: Basis, n: int) -> bool:
    """CKA paper Theorem 1: ``rank a + rank b > n - 1`` forces canonical correlations to 1."""
    return a.rank + b.rank > n - 1


def _check_rule(value: Any) -> str:
    check_option("rule", value, SVCCA_RULES)
    return value


def _check_keep(value: Any) -> int | None:
    return None if value is None else check_positive_int("keep", value)


_ALL_LINEAR = (ORTHOGONAL, ISOTROPIC_SCALING, INVERTIBLE_LINEAR, TRANSLATION)
_SIMILARITY = (ORTHOGONAL, ISOTROPIC_SCALING, TRANSLATION)
_SVCCA_OPTIONS = (Option("threshold", 0.99, lambda value: check_fraction("threshold", value)),
                  Option("rule", "variance", _check_rule), Option("keep", None, _check_keep), DTYPE)
_BASIS = dict(prepare=_prepare_basis, preparation=lambda options: ("cca",),
              uninformative=ranks_uninformative, from_basis=_full_basis)
_TRUNCATED = dict(prepare=_prepare_truncated, uninformative=ranks_uninformative, from_basis=_truncated_basis,
                  preparation=lambda options: ("svcca", options["threshold"], options["rule"], options["keep"]))

registry.builtin(
    "cca_mean_rho", "mean canonical correlation (rho-bar)", "Raghu et al. 2017 eq. 1", (0.0, 1.0), True,
    _ALL_LINEAR, pair=lambda x, y, dtype=None: cca(x, y, dtype=dtype).mean_rho, score=_mean_rho,
    from_dft=lambda result, options: result.mean_rho, **_BASIS)
registry.builtin(
    "cca_r2", "mean squared canonical correlation (R^2_CCA)", "Kornblith et al. 2019 eq. 7", (0.0, 1.0),
    True, _ALL_LINEAR, pair=lambda x, y, dtype=None: cca(x, y, dtype=dtype).r2, score=_r2,
    from_dft=lambda result, options: result.r2, **_BASIS)
registry.builtin(
    "svcca_mean_rho", "mean canonical correlation after SVD truncation", "Raghu et al. 2017 sec. 2",
    (0.0, 1.0), True, _SIMILARITY, options=_SVCCA_OPTIONS,
    pair=lambda x, y, threshold=0.99, rule="variance", keep=None, dtype=None: svcca(
        x, y, threshold=threshold, rule=rule, keep=keep, dtype=dtype).mean_rho,
    score=_mean_rho, **_TRUNCATED)
registry.builtin(
    "svcca_r2", "mean squared canonical correlation after SVD truncation",
    "Raghu et al. 2017; Kornblith et al. 2019 Table 1", (0.0, 1.0), True, _SIMILARITY, options=_SVCCA_OPTIONS,
    pair=lambda x, y, threshold=0.99, rule="variance", keep=None, dtype=None: svcca(
        x, y, threshold=threshold, rule=rule, keep=keep, dtype=dtype).r2,
    score=_r2, **_TRUNCATED)
_PWCCA_OPTIONS = (Option("threshold", None, lambda value: None if value is None else check_fraction("threshold", value)),
                  DTYPE)

registry.builtin(
    "pwcca", "projection-weighted mean canonical correlation, weights from the row layer",
    "Morcos et al. 2018 sec. 2.2", (0.0, 1.0), False, (ISOTROPIC_SCALING, TRANSLATION), options=_PWCCA_OPTIONS,
    pair=lambda x, y, threshold=None, dtype=None: pwcca(x, y, threshold=threshold, dtype=dtype),
    score=_pwcca, score_both=_pwcca_both, prepare=_prepare_pwcca, preparation=_pwcca_preparation,
    uninformative=ranks_uninformative, from_basis=_pwcca_from_basis)
