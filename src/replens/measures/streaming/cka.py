"""Streaming linear CKA: exact full-data CKA from co-moments, and minibatch CKA.

References
----------
Kornblith et al. (2019), "Similarity of neural network representations revisited". Song et
al. (2012), "Feature selection via dependence maximization". Nguyen, Raghu & Kornblith
(2021), "Do wide and deep networks learn the same things?".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._backend import Array
from ..._validate import check_option, finite_result, rescaled, times_power_of_two
from ...errors import DegenerateInputError, TooFewExamplesError
from .._subspace import centre
from ..cka import (
    cka_from_hsic,
    debiased_hsic_from_sums,
    frobenius_inner,
    kernel_space,
    squared_frobenius,
)
from ._estimator import CoMomentEstimator, StreamingEstimator
from ._moments import Moments

__all__ = ["LinearCKA", "MinibatchCKA"]


# ----------------------------------------------------------------------------- linear CKA


def _linear_cka(m: Moments, debiased: bool) -> float:
    dot_xy = float(np.sum(m.ab * m.ab))
    dot_xx, dot_yy = float(np.sum(m.aa * m.aa)), float(np.sum(m.bb * m.bb))
    if debiased:
        n, s = m.n, m.norms
        trace_x, trace_y = float(np.trace(m.aa)), float(np.trace(m.bb))
        cross = debiased_hsic_from_sums(dot_xy, float(s.uv), trace_x, trace_y, n)
        self_x = debiased_hsic_from_sums(dot_xx, float(s.uu), trace_x, trace_x, n)
        self_y = debiased_hsic_from_sums(dot_yy, float(s.vv), trace_y, trace_y, n)
        return cka_from_hsic(cross, self_x, self_y, debiased=True)
    return cka_from_hsic(dot_xy, dot_xx, dot_yy, debiased=False)


class LinearCKA(CoMomentEstimator):
    """Exact linear CKA over a stream of batches (Kornblith et al. 2019, eq. 6).

    Equals ``replens.cka(X, Y, debiased=debiased)`` on all the examples at once, to
    rounding. From the co-moments of the centred data (notes in
    :mod:`replens.measures.streaming._moments`):

    * biased: ``CKA = ||S_ab||_F^2 / (||S_aa||_F ||S_bb||_F)``, since
      ``tr(K H L H) = ||Yc^T Xc||_F^2``;
    * debiased (Song et al. 2012 in numerator and both normalisers): with
      ``K = Xc Xc^T`` (so ``K 1 = 0``, ``diag(K)_i = u_i``, ``tr K = tr S_aa``),
      ``n (n - 3) HSIC(K, L) = ||S_ab||_F^2 - n/(n-2) S_uv + tr S_aa tr S_bb / ((n-1)(n-2))``,
      and the same with ``S_aa, S_uu`` or ``S_bb, S_vv`` for the normalisers.

    Parameters
    ----------
    debiased : bool, default False
        Use the unbiased HSIC estimator; :meth:`compute` then needs at least 4 examples.

    Notes
    -----
    Memory: ``p_x^2 + p_y^2 + p_x p_y`` float64 numbers (plus ``2 (p_x + p_y) + 3`` when
    debiased), whatever the number of examples. Cost: ``O(b (p_x + p_y)^2)`` per batch of
    ``b`` examples, ``O((p_x + p_y)^2)`` per merge. Accumulators live on the first batch's
    device (device policy in :mod:`replens.measures.streaming._estimator`).

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1000, 8)); y = x @ rng.standard_normal((8, 4))
    >>> est = rl.streaming.LinearCKA()
    >>> for start in range(0, 1000, 128):
    ...     est = est.update(x[start:start + 128], y[start:start + 128])
    >>> bool(abs(est.compute() - rl.cka(x, y)) < 1e-12)
    True
    """

    def __init__(self, *, debiased: bool = False) -> None:
        check_option("debiased", debiased, (False, True))
        super().__init__()
        self.debiased = bool(debiased)
        self._with_norms = self.debiased

    def _options(self) -> dict[str, Any]:
        return {"debiased": self.debiased}

    def compute(self) -> float:
        """Linear CKA of all the examples seen so far.

        Returns
        -------
        float
            In [0, 1] for the biased estimator; the debiased value can be slightly negative
            and is never clamped.

        Raises
        ------
        TooFewExamplesError
            Fewer than 2 examples (4 when debiased).
        DegenerateInputError
            Every column of X (or Y) constant, or a non-positive debiased self term.
        """
        if self.debiased:
            moments = self._numpy_moments(4, "the debiased estimator divides by n (n - 3)")
        else:
            moments = self._numpy_moments(2)
        return _linear_cka(moments, self.debiased)


# ----------------------------------------------------------------------------- minibatch CKA


def _unbiased_linear_hsic(xp: Any, x: Array, y: Array) -> tuple[float, float, float]:
    """Song et al.'s unbiased HSIC of one batch: ``(HSIC(X, Y), HSIC(X, X), HSIC(Y, Y))``.

    Linear kernel. Computed on the centred batch, which leaves the estimator unchanged (its
    U-centring removes ``f 1^T + 1 f^T`` terms) and loses less to offsets; then ``K 1 = 0``
    and ``b (b - 3) HSIC = tr(K L) - b/(b-2) diag(K).diag(L) + tr K tr L / ((b-1)(b-2))``.
    ``tr(K L)`` is taken in feature space or from b x b Gram matrices, whichever is cheaper.
    """
    b = int(x.shape[0])
    a, c = centre(xp, x), centre(xp, y)  # callers pass batches rescaled by powers of two
    u, v = xp.sum(a * a, axis=1), xp.sum(c * c, axis=1)
    if kernel_space("linear", b, [int(x.shape[1]), int(y.shape[1])]) == "features":
        dots = (squared_frobenius(xp, a.T @ c), squared_frobenius(xp, a.T @ a),
                squared_frobenius(xp, c.T @ c))
    else:
        gram_x, gram_y = a @ a.T, c @ c.T
        dots = (frobenius_inner(xp, gram_x, gram_y), squared_frobenius(xp, gram_x),
                squared_frobenius(xp, gram_y))
    trace_x, trace_y = float(xp.sum(u)), float(xp.sum(v))
    pairs = ((u, v, trace_x, trace_y), (u, u, trace_x, trace_x), (v, v, trace_y, trace_y))
    return tuple(
        debiased_hsic_from_sums(dot, float(norms_a @ norms_b), t_a, t_b, b) / (b * (b - 3))
        for dot, (norms_a, norms_b, t_a, t_b) in zip(dots, pairs))


class MinibatchCKA(StreamingEstimator):
    """Minibatch linear CKA of Nguyen, Raghu & Kornblith (2021), eq. (2).

    Each batch ``i`` of ``b_i >= 4`` examples gives Song et al.'s unbiased HSIC with linear
    kernels ``K_i = X_i X_i^T``, ``L_i = Y_i Y_i^T`` (``HSIC_1``); over ``k`` batches

        CKA_minibatch = mean_i HSIC_1(K_i, L_i)
                        / sqrt(mean_i HSIC_1(K_i, K_i) * mean_i HSIC_1(L_i, L_i))

    with every batch weighted equally, whatever its size (the paper uses one batch size).

    This is *not* full-data CKA. Each term is an unbiased estimate of the population HSIC,
    so the ratio is a consistent estimate of population CKA that does not need all
    examples at once, but on a finite data set it differs from both :func:`replens.cka`
    and ``replens.cka(..., debiased=True)`` on the concatenated batches, and it depends on
    how the examples are split into batches. For exact full-data CKA use :class:`LinearCKA`.

    Notes
    -----
    Memory: three running sums. Cost per batch: ``O(b (p_x + p_y)^2)`` in feature space or
    ``O(b^2 (p_x + p_y))`` with Gram matrices, whichever is cheaper; it runs on the batch's
    device and brings three numbers back. Invariant to orthogonal maps, isotropic scaling
    and translation of each input.

    References
    ----------
    Nguyen, Raghu & Kornblith (2021), "Do wide and deep networks learn the same things?
    Uncovering how neural network representations vary with width and depth", ICLR, sec. 3.1.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1024, 16)); y = np.tanh(x)
    >>> est = rl.streaming.MinibatchCKA()
    >>> for start in range(0, 1024, 256):
    ...     est = est.update(x[start:start + 256], y[start:start + 256])
    >>> round(est.compute(), 4), round(rl.cka(x, y, debiased=True), 4)  # close, not equal
    (0.9308, 0.9304)
    """

    def __init__(self) -> None:
        super().__init__()
        self._sums = (0.0, 0.0, 0.0)  # sum over batches of HSIC_1(X, Y), (X, X), (Y, Y)
        # The sums are in units of 2**(2 e_x + 2 e_y), 2**(4 e_x), 2**(4 e_y): each batch is
        # rescaled by its own powers of two and its terms brought to these units (see _add).
        self._exponents: tuple[int, int] | None = None
        self._n_examples = 0

    @property
    def n_examples(self) -> int:
        """Number of examples (rows) seen so far, merged estimators included."""
        return self._n_examples

    @property
    def nbytes(self) -> int:
        """Memory held by the accumulators, in bytes: three float64 sums."""
        return 8 * len(self._sums)

    def update(self, x_batch: Array, y_batch: Array) -> MinibatchCKA:
        """Add one minibatch: its unbiased HSIC terms join the running sums.

        Parameters
        ----------
        x_batch : array-like of shape (b, n_features_x)
            Activations of the first layer, ``b >= 4``: numpy array or torch tensor on any
            device, float or integer.
        y_batch : array-like of shape (b, n_features_y)
            Activations of the second layer for the same examples, in the same order.

        Returns
        -------
        self

        Raises
        ------
        TooFewExamplesError
            ``b < 4``: the unbiased HSIC divides by ``b (b - 3)``.
        ShapeError, DtypeError, NonFiniteError
            As for :meth:`LinearCKA.update`.
        """
        xp, x, y = self._checked_batch(
            x_batch, y_batch, min_examples=4,
            reason="the unbiased HSIC of each minibatch divides by b (b - 3)")
        (x, e_x), (y, e_y) = rescaled(xp, x), rescaled(xp, y)
        self._add(_unbiased_linear_hsic(xp, x, y), (e_x, e_y))
        self._n_batches += 1
        self._n_examples += int(x.shape[0])
        return self

    def merge(self, other: MinibatchCKA) -> MinibatchCKA:
        """Add the minibatches another MinibatchCKA has seen; `other` is not changed.

        Returns
        -------
        self
        """
        self._check_merge(other)
        if other._exponents is not None:
            self._add(other._sums, other._exponents)
        self._n_batches += other._n_batches
        self._n_examples += other._n_examples
        return self

    def _add(self, terms: tuple[float, float, float], exponents: tuple[int, int]) -> None:
        """Add HSIC terms in units set by `exponents`, rebasing the sums to the larger units
        (exact powers of two; the smaller terms then lose only what float64 cannot hold)."""
        if self._exponents is None:
            self._exponents = exponents
        mine = self._exponents
        target = (max(mine[0], exponents[0]), max(mine[1], exponents[1]))

        def moved(values: tuple[float, ...], source: tuple[int, int]) -> tuple[float, ...]:
            dx, dy = source[0] - target[0], source[1] - target[1]
            return tuple(float(times_power_of_two(value, shift)) for value, shift in
                         zip(values, (2 * dx + 2 * dy, 4 * dx, 4 * dy)))

        self._sums = tuple(a + b for a, b in zip(moved(self._sums, mine), moved(terms, exponents)))
        self._exponents = target

    def __repr__(self) -> str:
        return (f"MinibatchCKA(n_batches={self.n_batches}, n_examples={self.n_examples}, "
                f"n_features={self.n_features})")

    def compute(self) -> float:
        """Minibatch CKA over the batches seen so far.

        Returns
        -------
        float
            Usually in [0, 1]; being a ratio of unbiased estimates it can leave that range
            slightly, and is never clamped.

        Raises
        ------
        TooFewExamplesError
            No batch yet.
        DegenerateInputError
            The mean ``HSIC_1(K, K)`` or ``HSIC_1(L, L)`` is not positive.
        """
        if self._n_batches == 0:
            raise TooFewExamplesError(
                "no minibatch yet: pass at least one batch of 4 or more examples to update() "
                "before compute().")
        mean_xy, mean_xx, mean_yy = (finite_result(total / self._n_batches, "a minibatch HSIC term")
                                     for total in self._sums)
        if mean_xx <= 0 or mean_yy <= 0:
            raise DegenerateInputError(
                f"the mean unbiased HSIC over {self._n_batches} minibatch(es) is not positive "
                f"(HSIC(X, X) = {mean_xx:.3g}, HSIC(Y, Y) = {mean_yy:.3g}), so minibatch CKA is "
                f"undefined; check that the batches vary (e.g. not every column constant) or "
                f"use more batches.")
        return finite_result(mean_xy / (math.sqrt(mean_xx) * math.sqrt(mean_yy)), "minibatch CKA")
