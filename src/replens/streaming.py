"""Streaming estimators: similarity measures over data seen one batch at a time.

Each estimator is a small accumulator with the same protocol::

    est = LinearCKA()               # or LinearCKA(debiased=True), CCA(), MinibatchCKA()
    for x_batch, y_batch in batches:
        est.update(x_batch, y_batch)
    est.merge(other)                # another estimator that saw other (disjoint) examples
    est.compute()

:class:`LinearCKA` and :class:`CCA` are *exact*: their result equals the in-memory
:func:`replens.cka` / :func:`replens.cca` (and :func:`replens.svcca`, :func:`replens.pwcca`)
on all the examples at once, to rounding, whatever the batch sizes and merge order. They
keep float64 sums whose size depends on the feature counts only, never on the number of
examples. :class:`MinibatchCKA` is a different quantity: the minibatch estimator of
Nguyen, Raghu & Kornblith (2021).

Notation. For the examples seen so far, ``m_x`` and ``m_y`` are the column means,
``a_i = x_i - m_x`` and ``b_i = y_i - m_y`` the centred examples, ``u_i = ||a_i||^2`` and
``v_i = ||b_i||^2`` their squared norms. The accumulators are the co-moments

    S_aa = sum_i a_i a_i^T,    S_bb = sum_i b_i b_i^T,    S_ab = sum_i a_i b_i^T

and, for debiased CKA only, the moments of the squared norms

    S_uu = sum u_i^2, S_vv = sum v_i^2, S_uv = sum u_i v_i        (scalars)
    S_ua = sum u_i a_i, S_va = sum v_i a_i  (p_x),  S_vb = sum v_i b_i, S_ub = sum u_i b_i  (p_y)

all *centred at the running means*, never raw sums: with raw sums, an offset of 1e6 on
unit-scale activations would cancel about 12 of the 16 digits of S_aa and all of S_uu.

Updates follow Chan, Golub & LeVeque (1979). Moments centred at ``m`` are re-centred at
``m + d`` exactly, since ``sum_i a_i = 0`` (with ``c = ||d_x||^2``, ``t = tr S_aa``, and the
``y`` terms alike)::

    S_aa <- S_aa + n d_x d_x^T                 S_ab <- S_ab + n d_x d_y^T
    S_ua <- S_ua - 2 S_aa d_x - (t_x + n c_x) d_x
    S_va <- S_va - 2 S_ab d_y - (t_y + n c_y) d_x
    S_uu <- S_uu - 4 d_x.S_ua + 4 d_x^T S_aa d_x + 2 c_x t_x + n c_x^2
    S_uv <- S_uv - 2 d_x.S_va - 2 d_y.S_ub + 4 d_x^T S_ab d_y + c_x t_y + c_y t_x + n c_x c_y

(all right-hand sides use the old values). Two sets of moments over disjoint examples, with
``n_1`` and ``n_2`` examples and means ``m_1``, ``m_2``, merge by re-centring both at the
pooled mean ``m = m_1 + (n_2 / n) (m_2 - m_1)`` and adding. For ``S_aa`` this is Chan's
``S_1 + S_2 + (n_1 n_2 / n) delta delta^T``. A batch is turned into moments about its own
mean, then merged, so the shifts ``d`` are differences of means (the spread of the data,
not its offset) and large offsets cost no precision.

Device policy. ``update`` accepts numpy arrays and torch tensors on any device. The
accumulators are float64 and live in the backend and on the device of the first non-empty
batch: the ``O(b p^2)`` work of a batch runs there, with no per-batch copy to the host.
Later batches and merged estimators are moved to that device. ``compute`` copies the
``O(p^2)`` accumulators to CPU numpy once and finishes there. Estimators pickle, so shards
can be accumulated in other processes and merged.

References
----------
Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise algorithm for computing
sample variances". Kornblith et al. (2019), "Similarity of neural network representations
revisited". Song et al. (2012), "Feature selection via dependence maximization". Nguyen,
Raghu & Kornblith (2021), "Do wide and deep networks learn the same things?".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_torch_array

from ._backend import Array, to_numpy
from ._validate import check_fraction, check_option, check_pair, check_positive_int
from .errors import (
    DegenerateInputError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UninformativeWarning,
    UnknownOptionError,
)
from .measures._subspace import centre
from .measures.cca import SVCCA_RULES, CCAResult, SVCCAResult, kept_directions, warn_if_uninformative
from .measures.cka import (
    cka_from_hsic,
    debiased_hsic_from_sums,
    frobenius_inner,
    kernel_space,
    squared_frobenius,
)

__all__ = ["LinearCKA", "CCA", "MinibatchCKA"]

EPS = float(np.finfo(np.float64).eps)

# Canonical correlations from co-moments are accurate to about eps * cond(S_aa); past this
# bound a warning says how many digits are left.
ACCURACY_WARNING = 1e-6

# Biased CKA and canonical correlations are at most 1; rounding can exceed it by a few ulp,
# reported as 1 (the in-memory measures do the same). More would be a bug.
_UNIT_ROUNDING = 1e-8


# ----------------------------------------------------------------------------- accumulators


@dataclass(frozen=True)
class _NormMoments:
    """Centred moments of the squared row norms ``u_i``, ``v_i`` (see the module notes)."""

    uu: Array
    vv: Array
    uv: Array
    ua: Array
    va: Array
    vb: Array
    ub: Array


@dataclass(frozen=True)
class _Moments:
    """Everything one pass keeps: ``n``, the means and the centred (co-)moments.

    ``norms`` is None unless the row-norm moments of debiased CKA are accumulated. The
    arrays ``aa``, ``bb``, ``ab`` of an estimator's moments are updated in place
    (:func:`_absorbed`): each estimator owns its own.
    """

    n: int
    mean_x: Array
    mean_y: Array
    aa: Array
    bb: Array
    ab: Array
    norms: _NormMoments | None

    def arrays(self) -> list[Array]:
        arrays = [self.mean_x, self.mean_y, self.aa, self.bb, self.ab]
        if self.norms is not None:
            arrays += [getattr(self.norms, f.name) for f in fields(self.norms)]
        return arrays


def _centred_batch(xp: Any, x: Array) -> tuple[Array, Array]:
    """Column means of a batch and the centred batch.

    A column constant within the batch gets its value itself as the mean and exact zeros
    as centred values (not ``x - mean(x)``, which can be an ulp off): a column constant
    over the whole stream then contributes exact zeros, as in the in-memory measures.
    """
    constant = xp.all(x == x[0:1, :], axis=0)
    mean = xp.where(constant, x[0, :], xp.mean(x, axis=0))
    centred = xp.where(constant[None, :], xp.zeros_like(x), x - mean[None, :])
    return mean, centred


def _batch_moments(xp: Any, x: Array, y: Array, with_norms: bool) -> _Moments:
    """Moments of one batch about its own means: ``O(b (p_x + p_y)^2)``."""
    mean_x, a = _centred_batch(xp, x)
    mean_y, b = _centred_batch(xp, y)
    norms = None
    if with_norms:
        u, v = xp.sum(a * a, axis=1), xp.sum(b * b, axis=1)
        norms = _NormMoments(uu=u @ u, vv=v @ v, uv=u @ v,
                             ua=a.T @ u, va=a.T @ v, vb=b.T @ v, ub=b.T @ u)
    return _Moments(int(x.shape[0]), mean_x, mean_y, a.T @ a, b.T @ b, a.T @ b, norms)


def _outer(left: Array, right: Array) -> Array:
    return left[:, None] * right[None, :]


def _recentred_norms(m: _Moments, shift_x: Array, shift_y: Array) -> _NormMoments:
    """The row-norm moments of `m` about ``mean + shift`` (module notes).

    `m` is centred at its means, so ``sum_i a_i = 0``; every right-hand side uses the
    moments about the old means.
    """
    xp = array_namespace(m.aa)
    n, s = m.n, m.norms
    c_x, c_y = shift_x @ shift_x, shift_y @ shift_y
    t_x, t_y = xp.sum(xp.linalg.diagonal(m.aa)), xp.sum(xp.linalg.diagonal(m.bb))
    aa_dx, bb_dy = m.aa @ shift_x, m.bb @ shift_y
    ab_dy, ba_dx = m.ab @ shift_y, shift_x @ m.ab
    return _NormMoments(
        uu=s.uu - 4 * (shift_x @ s.ua) + 4 * (shift_x @ aa_dx) + 2 * c_x * t_x + n * c_x * c_x,
        vv=s.vv - 4 * (shift_y @ s.vb) + 4 * (shift_y @ bb_dy) + 2 * c_y * t_y + n * c_y * c_y,
        uv=(s.uv - 2 * (shift_x @ s.va) - 2 * (shift_y @ s.ub) + 4 * (shift_x @ ab_dy)
            + c_x * t_y + c_y * t_x + n * c_x * c_y),
        ua=s.ua - 2 * aa_dx - (t_x + n * c_x) * shift_x,
        va=s.va - 2 * ab_dy - (t_y + n * c_y) * shift_x,
        vb=s.vb - 2 * bb_dy - (t_y + n * c_y) * shift_y,
        ub=s.ub - 2 * ba_dx - (t_x + n * c_x) * shift_y,
    )


def _absorbed(total: _Moments, part: _Moments) -> _Moments:
    """Moments of the union of two disjoint sets of examples (Chan et al. 1979).

    Both are re-centred at the pooled mean ``m_1 + (n_2 / n) delta`` and added; for the
    co-moments that is Chan's ``S_1 + S_2 + (n_1 n_2 / n) delta delta^T``, added *in place*
    to the arrays of `total` (large fresh arrays per batch would cost more than the batch's
    own products); `part` is only read. A delta of exactly zero (a column constant
    everywhere) keeps that column's zeros exact.
    """
    n = total.n + part.n
    delta_x, delta_y = part.mean_x - total.mean_x, part.mean_y - total.mean_y
    to_total, to_part = part.n / n, -total.n / n
    norms = None
    if total.norms is not None:  # first: it reads the co-moments about the old means
        left = _recentred_norms(total, to_total * delta_x, to_total * delta_y)
        right = _recentred_norms(part, to_part * delta_x, to_part * delta_y)
        norms = _NormMoments(**{f.name: getattr(left, f.name) + getattr(right, f.name)
                                for f in fields(left)})
    weight = total.n * part.n / n
    for mine, theirs, left_delta, right_delta in ((total.aa, part.aa, delta_x, delta_x),
                                                  (total.bb, part.bb, delta_y, delta_y),
                                                  (total.ab, part.ab, delta_x, delta_y)):
        mine += theirs
        mine += _outer(weight * left_delta, right_delta)
    return _Moments(n, total.mean_x + to_total * delta_x, total.mean_y + to_total * delta_y,
                    total.aa, total.bb, total.ab, norms)


def _moved(m: _Moments, convert) -> _Moments:
    norms = None
    if m.norms is not None:
        norms = _NormMoments(**{f.name: convert(getattr(m.norms, f.name)) for f in fields(m.norms)})
    return _Moments(m.n, convert(m.mean_x), convert(m.mean_y), convert(m.aa), convert(m.bb),
                    convert(m.ab), norms)


def _converter_to(reference: Array):
    """A function moving an array to the backend and device of `reference`."""
    if not is_torch_array(reference):
        return to_numpy
    import torch

    target = reference.device

    def convert(a: Array) -> Array:
        if is_torch_array(a):
            return a.to(target)
        a = np.asarray(a)
        return torch.as_tensor(np.ascontiguousarray(a) if a.ndim else a, device=target)

    return convert


def _copy(a: Array) -> Array:
    return a.clone() if is_torch_array(a) else np.array(a, copy=True)


def _nbytes(a: Array) -> int:
    if is_torch_array(a):
        return a.element_size() * a.nelement()
    return int(np.asarray(a).nbytes)


# ----------------------------------------------------------------------------- shared protocol


class _CoMomentEstimator:
    """update / merge / n_examples for the estimators built on :class:`_Moments`."""

    _with_norms = False

    def __init__(self) -> None:
        self._moments: _Moments | None = None
        self._n_features: tuple[int, int] | None = None
        self._n_batches = 0

    @property
    def n_examples(self) -> int:
        """Number of examples (rows) seen so far, merged estimators included."""
        return 0 if self._moments is None else self._moments.n

    @property
    def n_batches(self) -> int:
        """Number of non-empty batches passed to :meth:`update`, merged estimators included."""
        return self._n_batches

    @property
    def n_features(self) -> tuple[int, int] | None:
        """``(p_x, p_y)``, fixed by the first batch; None before it."""
        return self._n_features

    @property
    def nbytes(self) -> int:
        """Memory held by the accumulators, in bytes: ``O((p_x + p_y)^2)``, independent of n."""
        return 0 if self._moments is None else sum(_nbytes(a) for a in self._moments.arrays())

    def update(self, x_batch: Array, y_batch: Array):
        """Add a batch of examples.

        Parameters
        ----------
        x_batch : array-like of shape (b, n_features_x)
            Activations of the first layer for `b` examples: numpy array or torch tensor on
            any device, float or integer. An empty batch (``b = 0``) changes nothing.
        y_batch : array-like of shape (b, n_features_y)
            Activations of the second layer for the same examples, in the same order.

        Returns
        -------
        self

        Raises
        ------
        ShapeError
            Not 2-D, different numbers of rows, or feature counts that differ from the
            earlier batches'.
        DtypeError, NonFiniteError
            Not real numbers, or NaN / infinite values.
        """
        xp, x, y = check_pair(x_batch, y_batch, min_examples=0, names=("x_batch", "y_batch"))
        self._n_features = _checked_features(self._n_features, x, y)
        if x.shape[0] == 0:
            return self
        if self._moments is not None:
            convert = _converter_to(self._moments.aa)
            x, y = convert(x), convert(y)
            xp = array_namespace(x, y)
        batch = _batch_moments(xp, x, y, self._with_norms)
        self._moments = batch if self._moments is None else _absorbed(self._moments, batch)
        self._n_batches += 1
        return self

    def merge(self, other):
        """Add the examples another estimator of the same kind has seen.

        The two must have seen disjoint examples (shards, or parallel passes); the result
        equals one pass over all of them, to rounding. `other` is not changed; its
        accumulators are moved to this estimator's device if needed.

        Returns
        -------
        self
        """
        _check_mergeable(self, other)
        self._n_features = self._n_features or other._n_features
        if other._moments is not None:
            if self._moments is None:
                self._moments = _moved(other._moments, _copy)  # owned: updated in place later
            else:
                moved = _moved(other._moments, _converter_to(self._moments.aa))
                self._moments = _absorbed(self._moments, moved)
        self._n_batches += other._n_batches
        return self

    def _options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        options = "".join(f"{k}={v!r}, " for k, v in self._options().items())
        return (f"{type(self).__name__}({options}n_examples={self.n_examples}, "
                f"n_features={self.n_features})")

    def _numpy_moments(self, min_examples: int, reason: str | None = None) -> _Moments:
        """The accumulators as CPU numpy float64, after the checks every compute shares."""
        n = self.n_examples
        if n < min_examples:
            why = f" ({reason})" if reason else ""
            raise TooFewExamplesError(
                f"need at least {min_examples} examples (rows) in total{why}; got {n} over "
                f"{self._n_batches} batch(es). Pass more batches to update() before compute().")
        moments = _moved(self._moments, to_numpy)
        for name, comoment in (("X", moments.aa), ("Y", moments.bb)):
            # Constant columns accumulate exact zeros, so a zero trace means all are constant.
            if not np.trace(comoment) > 0:
                raise DegenerateInputError(
                    f"every column of {name} is constant over the {n} examples seen, so it "
                    f"carries no information to compare. Check that the batches hold the "
                    f"layer's activations for different inputs (shape (examples, features)).")
        return moments


def _checked_features(expected: tuple[int, int] | None, x: Array, y: Array) -> tuple[int, int]:
    received = (int(x.shape[1]), int(y.shape[1]))
    if expected is not None and received != expected:
        name, got, want, array = next(
            (name, r, e, a) for name, r, e, a in zip(("x_batch", "y_batch"), received, expected, (x, y))
            if r != e)
        raise ShapeError(
            f"{name} has {got} features (columns) but earlier batches had {want}; got {name} of "
            f"shape {tuple(array.shape)}. Every batch must hold the same layers' activations.")
    return received


def _check_mergeable(estimator: Any, other: Any) -> None:
    kind = type(estimator).__name__
    if type(other) is not type(estimator):
        raise ReplensError(
            f"{kind}.merge needs another {kind}; got {type(other).__name__}.")
    if other is estimator:
        raise ReplensError(
            f"cannot merge a {kind} with itself: merge adds another estimator's examples, "
            f"and these would be counted twice. Merge estimators that saw disjoint data.")
    for option, value in estimator._options().items():
        if other._options()[option] != value:
            raise UnknownOptionError(
                f"cannot merge {kind}s with different options: this one has {option}={value!r}, "
                f"other has {option}={other._options()[option]!r}.")
    if None not in (estimator.n_features, other.n_features) and estimator.n_features != other.n_features:
        raise ShapeError(
            f"cannot merge {kind}s fed different layers: n_features (p_x, p_y) is "
            f"{estimator.n_features} here and {other.n_features} in other.")


# ----------------------------------------------------------------------------- linear CKA


def _linear_cka(m: _Moments, debiased: bool) -> float:
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


class LinearCKA(_CoMomentEstimator):
    """Exact linear CKA over a stream of batches (Kornblith et al. 2019, eq. 6).

    Equals ``replens.cka(X, Y, debiased=debiased)`` on all the examples at once, to
    rounding. From the co-moments of the centred data (module notes):

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
    device (module notes).

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


# ----------------------------------------------------------------------------- CCA family


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

    That is numpy's ``matrix_rank`` rule for the symmetric p x p matrix: eigenvalues below
    it are indistinguishable from the rounding in ``S_aa`` itself.
    """
    values, vectors = np.linalg.eigh(comoment)
    values, vectors = values[::-1], vectors[:, ::-1]
    rank = int(np.sum(values > values[0] * comoment.shape[0] * EPS))
    return _PrincipalAxes(values[:rank], vectors[:, :rank])


def _canonical_svd(m: _Moments, axes_x: _PrincipalAxes, axes_y: _PrincipalAxes, *, directions: bool,
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
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
    excess = float(rho.max() - 1.0) if rho.size else 0.0
    if excess > max(_UNIT_ROUNDING, 100 * accuracy):
        raise ArithmeticError(f"canonical correlation exceeds 1 by {excess:.3g}; please report this")
    return np.minimum(rho, 1.0), left


def _svcca_axes(axes: _PrincipalAxes, name: str, *, threshold: float, rule: str,
                keep: int | None) -> _PrincipalAxes:
    """The leading directions SVCCA keeps, by the rule of :func:`replens.svcca`."""
    if keep is not None and keep > axes.rank:
        # Warned here rather than by the shared rule, so that the warning points at the caller.
        warnings.warn(
            f"svcca keep={keep} exceeds the rank {axes.rank} of centred {name}; keeping all "
            f"{axes.rank} directions.",
            UninformativeWarning,
            stacklevel=3,
        )
        keep = axes.rank
    return axes.top(kept_directions(np.sqrt(axes.values), threshold, rule, keep, name))


class CCA(_CoMomentEstimator):
    """Exact CCA, SVCCA and PWCCA over a stream of batches, from accumulated co-moments.

    The data cannot be QR-factorised batch by batch, so the centred co-moments
    ``S_aa = Xc^T Xc``, ``S_bb = Yc^T Yc`` and ``S_ab = Xc^T Yc`` are accumulated
    (module notes) and whitened at the end by eigendecomposition:
    ``S_aa = V diag(lambda) V^T`` and ``q_x = Xc V diag(lambda)^(-1/2)`` is an orthonormal
    basis of X's centred column space, so the canonical correlations, the singular values
    of ``q_x^T q_y`` (SVCCA paper sec. 2), are those of
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
    ``eps * cond(S_aa)`` exceeds 1e-6, a ``RuntimeWarning`` gives it. Correlations above 1
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
        need no data. See :func:`replens.pwcca`.

        Returns
        -------
        float
            In [0, 1]; not symmetric in X and Y.
        """
        moments, axes_x, axes_y = self._axes()
        warn_if_uninformative(moments.n, axes_x.rank, axes_y.rank, stacklevel=2)
        rho, left = _canonical_svd(moments, axes_x, axes_y, directions=True, stacklevel=2)
        weights = np.sum(np.abs(left[:, : rho.shape[0]].T @ axes_x.coords), axis=1)
        return float(np.sum(weights * rho) / np.sum(weights))

    def _axes(self) -> tuple[_Moments, _PrincipalAxes, _PrincipalAxes]:
        moments = self._numpy_moments(2)
        return moments, _principal_axes(moments.aa), _principal_axes(moments.bb)


# ----------------------------------------------------------------------------- minibatch CKA


def _unbiased_linear_hsic(xp: Any, x: Array, y: Array) -> tuple[float, float, float]:
    """Song et al.'s unbiased HSIC of one batch: ``(HSIC(X, Y), HSIC(X, X), HSIC(Y, Y))``.

    Linear kernel. Computed on the centred batch, which leaves the estimator unchanged (its
    U-centring removes ``f 1^T + 1 f^T`` terms) and loses less to offsets; then ``K 1 = 0``
    and ``b (b - 3) HSIC = tr(K L) - b/(b-2) diag(K).diag(L) + tr K tr L / ((b-1)(b-2))``.
    ``tr(K L)`` is taken in feature space or from b x b Gram matrices, whichever is cheaper.
    """
    b = int(x.shape[0])
    a, c = centre(xp, x), centre(xp, y)
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


class MinibatchCKA:
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
        self._sums = (0.0, 0.0, 0.0)  # sum over batches of HSIC_1(X, Y), (X, X), (Y, Y)
        self._n_batches = 0
        self._n_examples = 0
        self._n_features: tuple[int, int] | None = None

    @property
    def n_examples(self) -> int:
        """Number of examples (rows) seen so far, merged estimators included."""
        return self._n_examples

    @property
    def n_batches(self) -> int:
        """Number of batches seen so far, merged estimators included."""
        return self._n_batches

    @property
    def n_features(self) -> tuple[int, int] | None:
        """``(p_x, p_y)``, fixed by the first batch; None before it."""
        return self._n_features

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
        xp, x, y = check_pair(x_batch, y_batch, min_examples=4, names=("x_batch", "y_batch"),
                              reason="the unbiased HSIC of each minibatch divides by b (b - 3)")
        self._n_features = _checked_features(self._n_features, x, y)
        terms = _unbiased_linear_hsic(xp, x, y)
        self._sums = tuple(total + term for total, term in zip(self._sums, terms))
        self._n_batches += 1
        self._n_examples += int(x.shape[0])
        return self

    def merge(self, other: MinibatchCKA) -> MinibatchCKA:
        """Add the minibatches another MinibatchCKA has seen; `other` is not changed.

        Returns
        -------
        self
        """
        _check_mergeable(self, other)
        self._n_features = self._n_features or other._n_features
        self._sums = tuple(mine + theirs for mine, theirs in zip(self._sums, other._sums))
        self._n_batches += other._n_batches
        self._n_examples += other._n_examples
        return self

    def _options(self) -> dict[str, Any]:
        return {}

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
        mean_xy, mean_xx, mean_yy = (total / self._n_batches for total in self._sums)
        if mean_xx <= 0 or mean_yy <= 0:
            raise DegenerateInputError(
                f"the mean unbiased HSIC over {self._n_batches} minibatch(es) is not positive "
                f"(HSIC(X, X) = {mean_xx:.3g}, HSIC(Y, Y) = {mean_yy:.3g}), so minibatch CKA is "
                f"undefined; check that the batches vary (e.g. not every column constant) or "
                f"use more batches.")
        return mean_xy / (math.sqrt(mean_xx) * math.sqrt(mean_yy))
