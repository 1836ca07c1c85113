"""Streaming CCA, SVCCA and PWCCA: exact canonical correlations from accumulated co-moments.

The truncation rule of SVCCA (:func:`replens.measures.cca.kept_directions`), the warning for
uninformative correlations and the rounding allowance above 1 are those of the in-memory
measures in :mod:`replens.measures.cca`; only the rank and accuracy checks are specific to
working from co-moments.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..._backend import machine_epsilon
from ..._validate import check_fraction, check_option, check_positive_int, unit_bounded
from ...errors import AccuracyWarning
from .._subspace import UNIT_ROUNDING, rank_tolerance
from ..cca import (
    SVCCA_RULES,
    CCAResult,
    SVCCAResult,
    kept_directions,
    tie_tolerance,
    warn_if_uninformative,
    weighted_correlation,
)
from ._estimator import CoMomentEstimator
from ._moments import Moments

__all__ = ["CCA"]

# The accumulators are float64 whatever the inputs' dtype.
EPS = machine_epsilon(np, np.float64)

# Canonical correlations from co-moments are accurate to about eps * cond(S_aa); past this
# bound a warning says how many digits are left.
ACCURACY_WARNING = 1e-6


@dataclass(frozen=True)
class _PrincipalAxes:
    """Eigenpairs of ``S_aa = Xc^T Xc`` above the rank tolerance, descending.

    ``values`` are the squared singular values of ``Xc``; ``q = Xc @ transform`` is an
    orthonormal basis of its column space and ``coords = q^T Xc`` the neurons in it.
    """

    values: np.ndarray
    vectors: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.values.shape[0])

    @property
    def transform(self) -> np.ndarray:
        return self.vectors / np.sqrt(self.values)[None, :]

    @property
    def coords(self) -> np.ndarray:
        return np.sqrt(self.values)[:, None] * self.vectors.T

    @property
    def condition(self) -> float:
        """``cond(S_aa)`` on the kept directions, i.e. ``cond(Xc)^2``."""
        return float(self.values[0] / self.values[-1])

    def top(self, k: int) -> _PrincipalAxes:
        return _PrincipalAxes(self.values[:k], self.vectors[:, :k])


def _principal_axes(comoment: np.ndarray) -> _PrincipalAxes:
    """Eigendecomposition of a co-moment matrix, keeping ``lambda_i > lambda_1 p eps``.

    That is numpy's ``matrix_rank`` rule for the symmetric p x p matrix (whose singular
    values are its eigenvalues): eigenvalues below it are indistinguishable from the
    rounding in ``S_aa`` itself.
    """
    values, vectors = np.linalg.eigh(comoment)
    values, vectors = values[::-1], vectors[:, ::-1]
    rank = int(np.sum(values > rank_tolerance(values[0], comoment.shape, EPS)))
    return _PrincipalAxes(values[:rank], vectors[:, :rank])


def _canonical_svd(m: Moments, axes_x: _PrincipalAxes, axes_y: _PrincipalAxes, *, directions: bool,
                   stacklevel: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Singular values (and left vectors) of ``q_x^T q_y = T_x^T S_ab T_y``, checked."""
    product = axes_x.transform.T @ m.ab @ axes_y.transform
    if directions:
        left, rho, _ = np.linalg.svd(product, full_matrices=False)
    else:
        left, rho = None, np.linalg.svd(product, compute_uv=False)
    accuracy = EPS * max(axes_x.condition, axes_y.condition)
    if accuracy > ACCURACY_WARNING:
        warnings.warn(
            f"canonical correlations from accumulated co-moments are accurate only to about "
            f"eps * cond = {accuracy:.1e} here: the kept directions of X and Y have co-moment "
            f"condition numbers {axes_x.condition:.3g} and {axes_y.condition:.3g} "
            f"(cond(Xc)^2). rl.cca on the data itself is accurate to about eps * cond(Xc); "
            f"svcca drops the weak directions.",
            AccuracyWarning,
            stacklevel=stacklevel + 1,
        )
    return unit_bounded(rho, max(UNIT_ROUNDING, 100 * accuracy), "canonical correlation"), left


def _svcca_axes(axes: _PrincipalAxes, name: str, *, threshold: float, rule: str,
                keep: int | None) -> _PrincipalAxes:
    """The leading directions SVCCA keeps, by the rule of :func:`replens.svcca`.

    Must be called from :meth:`CCA.svcca` directly: :func:`kept_directions` warns about a
    `keep` above the rank with the stack depth of ``svcca -> prepare_svcca``, and this call
    chain has the same depth, so the warning points at the caller of ``CCA.svcca``.
    """
    return axes.top(kept_directions(np.sqrt(axes.values), threshold, rule, keep, name))


class CCA(CoMomentEstimator):
    """Exact CCA, SVCCA and PWCCA over a stream of batches, from accumulated co-moments.

    The data cannot be QR-factorised batch by batch, so the centred co-moments
    ``S_aa = Xc^T Xc``, ``S_bb = Yc^T Yc`` and ``S_ab = Xc^T Yc`` are accumulated
    (notes in :mod:`replens.measures.streaming._moments`) and whitened at the end by
    eigendecomposition: ``S_aa = V diag(lambda) V^T`` and ``q_x = Xc V diag(lambda)^(-1/2)``
    is an orthonormal basis of X's centred column space, so the canonical correlations, the
    singular values of ``q_x^T q_y`` (SVCCA paper sec. 2), are those of
    ``diag(lambda_x)^(-1/2) V_x^T S_ab V_y diag(lambda_y)^(-1/2)``. No inverse is formed.

    Notes
    -----
    Rank. Directions with ``lambda_i <= lambda_1 p eps`` (numpy's ``matrix_rank`` rule on
    the p x p matrix ``S_aa``) are dropped: they are within the rounding of ``S_aa``. In
    terms of the singular values of ``Xc`` that keeps ``s_i > s_1 sqrt(p eps)``, about
    ``s_1 / 7e7`` for ``p = 1``, where :func:`replens.cca` keeps ``s_i > s_1 max(n, p) eps``;
    ``.rank`` can therefore be lower here for layers with ``cond(Xc) > 1 / sqrt(p eps)``.

    Accuracy. Forming ``S_aa`` squares the condition number: canonical correlations are
    accurate to about ``eps * cond(Xc)^2`` (``eps * cond(S_aa)`` over the kept directions),
    where :func:`replens.cca`, working on the data, reaches about ``eps * cond(Xc)``. On
    well-conditioned data both agree to 1e-10 or better; when the estimate
    ``eps * cond(S_aa)`` exceeds 1e-6, a :class:`~replens.AccuracyWarning` gives it. Correlations above 1
    by less than the larger of 1e-8 and 100 times that estimate are reported as 1.

    Memory ``p_x^2 + p_y^2 + p_x p_y + p_x + p_y`` float64 numbers; cost ``O(b (p_x + p_y)^2)``
    per batch and ``O(p_x^3 + p_y^3)`` per result.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 6)); y = x @ rng.standard_normal((6, 6)) + 1
    >>> est = rl.streaming.CCA()
    >>> for start in range(0, 500, 100):
    ...     est = est.update(x[start:start + 100], y[start:start + 100])
    >>> np.allclose(est.compute().rho, 1)
    True
    """

    def compute(self) -> CCAResult:
        """Canonical correlations of all the examples seen so far; see :func:`replens.cca`.

        Returns
        -------
        CCAResult
            ``rho`` (descending, ``min(rank)`` entries), ``mean_rho``, ``r2`` and ``rank``.

        Raises
        ------
        TooFewExamplesError
            Fewer than 2 examples.
        DegenerateInputError
            Every column of X (or Y) constant.
        """
        moments, axes_x, axes_y = self._axes()
        warn_if_uninformative(moments.n, axes_x.rank, axes_y.rank, stacklevel=2)
        rho, _ = _canonical_svd(moments, axes_x, axes_y, directions=False, stacklevel=2)
        return CCAResult(rho=rho, rank=(axes_x.rank, axes_y.rank))

    def svcca(
        self, *, threshold: float = 0.99, rule: str = "variance", keep: int | None = None
    ) -> SVCCAResult:
        """SVCCA (Raghu et al. 2017) of all the examples seen so far; see :func:`replens.svcca`.

        The singular values of ``Xc`` are ``sqrt(lambda_i)`` and its left singular vectors
        ``Xc v_i / sqrt(lambda_i)``, so the truncation and the CCA of the kept directions
        come from the same accumulators.

        Parameters
        ----------
        threshold : float in (0, 1], default 0.99
            Fraction of the spectrum to keep.
        rule : {"variance", "singular_values"}, default "variance"
            Threshold the squared singular values (variance explained) or the singular
            values themselves (the SVCCA paper's appendix, literally).
        keep : int, optional
            Keep exactly this many top directions per input instead (capped at the rank,
            with a warning).

        Returns
        -------
        SVCCAResult
            ``rho``, ``mean_rho``, ``r2`` and ``kept = (k_x, k_y)``.
        """
        check_option("rule", rule, SVCCA_RULES)
        threshold = check_fraction("threshold", threshold)
        if keep is not None:
            keep = check_positive_int("keep", keep)
        moments, axes_x, axes_y = self._axes()
        options = dict(threshold=threshold, rule=rule, keep=keep)
        top_x, top_y = _svcca_axes(axes_x, "X", **options), _svcca_axes(axes_y, "Y", **options)
        warn_if_uninformative(moments.n, top_x.rank, top_y.rank, stacklevel=2)
        rho, _ = _canonical_svd(moments, top_x, top_y, directions=False, stacklevel=2)
        return SVCCAResult(rho=rho, kept=(top_x.rank, top_y.rank))

    def pwcca(self) -> float:
        """Projection-weighted CCA (Morcos et al. 2018, sec. 2.2), weights from X.

        With the SVD ``q_x^T q_y = A diag(rho) B^T`` the canonical variates of X are
        ``h_i = q_x a_i``, and ``<h_i, x_j> = (A^T q_x^T Xc)_ij`` where
        ``q_x^T Xc = diag(lambda)^(1/2) V^T``: the weights
        ``alpha_i = sum_j |<h_i, x_j>|`` and ``PWCCA = sum_i alpha_i rho_i / sum_i alpha_i``
        need no data. Tied correlations get the canonical variates of :func:`replens.pwcca`
        (principal axes of X's neurons inside each tied block). See :func:`replens.pwcca`.

        Returns
        -------
        float
            In [0, 1]; not symmetric in X and Y.
        """
        moments, axes_x, axes_y = self._axes()
        warn_if_uninformative(moments.n, axes_x.rank, axes_y.rank, stacklevel=2)
        rho, left = _canonical_svd(moments, axes_x, axes_y, directions=True, stacklevel=2)
        return weighted_correlation(rho, left[:, : rho.shape[0]].T @ axes_x.coords, tie_tolerance(EPS))

    def _axes(self) -> tuple[Moments, _PrincipalAxes, _PrincipalAxes]:
        moments = self._numpy_moments(2)
        return moments, _principal_axes(moments.aa), _principal_axes(moments.bb)
