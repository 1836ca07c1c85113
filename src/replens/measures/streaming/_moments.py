"""Centred co-moments of a stream of example pairs, and their exact update and merge algebra.

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

The arrays live in whatever backend and on whatever device the batches did; this module
never looks at which (see :mod:`replens._backend`).

References
----------
Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise algorithm for computing
sample variances".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from ..._backend import Array, namespace
from ..._validate import times_power_of_two


@dataclass(frozen=True)
class NormMoments:
    """Centred moments of the squared row norms ``u_i``, ``v_i`` (see the module notes)."""

    uu: Array
    vv: Array
    uv: Array
    ua: Array
    va: Array
    vb: Array
    ub: Array


@dataclass(frozen=True)
class Moments:
    """Everything one pass keeps: ``n``, the means and the centred (co-)moments.

    ``norms`` is None unless the row-norm moments of debiased CKA are accumulated. The
    arrays ``aa``, ``bb``, ``ab`` of an estimator's moments are updated in place
    (:func:`absorbed`): each estimator owns its own.
    """

    n: int
    mean_x: Array
    mean_y: Array
    aa: Array
    bb: Array
    ab: Array
    norms: NormMoments | None

    def arrays(self) -> list[Array]:
        arrays = [self.mean_x, self.mean_y, self.aa, self.bb, self.ab]
        if self.norms is not None:
            arrays += [getattr(self.norms, f.name) for f in fields(self.norms)]
        return arrays


def centred_batch(xp: Any, x: Array) -> tuple[Array, Array]:
    """Column means of a batch and the centred batch.

    A column constant within the batch gets its value itself as the mean and exact zeros
    as centred values (not ``x - mean(x)``, which can be an ulp off): a column constant
    over the whole stream then contributes exact zeros, as in the in-memory measures.
    """
    constant = xp.all(x == x[0:1, :], axis=0)
    mean = xp.where(constant, x[0, :], xp.mean(x, axis=0))
    centred = xp.where(constant[None, :], xp.zeros_like(x), x - mean[None, :])
    return mean, centred


def batch_moments(xp: Any, x: Array, y: Array, with_norms: bool) -> Moments:
    """Moments of one batch about its own means: ``O(b (p_x + p_y)^2)``."""
    mean_x, a = centred_batch(xp, x)
    mean_y, b = centred_batch(xp, y)
    norms = None
    if with_norms:
        u, v = xp.sum(a * a, axis=1), xp.sum(b * b, axis=1)
        norms = NormMoments(uu=u @ u, vv=v @ v, uv=u @ v,
                            ua=a.T @ u, va=a.T @ v, vb=b.T @ v, ub=b.T @ u)
    return Moments(int(x.shape[0]), mean_x, mean_y, a.T @ a, b.T @ b, a.T @ b, norms)


def _outer(left: Array, right: Array) -> Array:
    return left[:, None] * right[None, :]


def recentred_norms(m: Moments, shift_x: Array, shift_y: Array) -> NormMoments:
    """The row-norm moments of `m` about ``mean + shift`` (module notes).

    `m` is centred at its means, so ``sum_i a_i = 0``; every right-hand side uses the
    moments about the old means.
    """
    xp = namespace(m.aa)
    n, s = m.n, m.norms
    c_x, c_y = shift_x @ shift_x, shift_y @ shift_y
    t_x, t_y = xp.sum(xp.linalg.diagonal(m.aa)), xp.sum(xp.linalg.diagonal(m.bb))
    aa_dx, bb_dy = m.aa @ shift_x, m.bb @ shift_y
    ab_dy, ba_dx = m.ab @ shift_y, shift_x @ m.ab
    return NormMoments(
        uu=s.uu - 4 * (shift_x @ s.ua) + 4 * (shift_x @ aa_dx) + 2 * c_x * t_x + n * c_x * c_x,
        vv=s.vv - 4 * (shift_y @ s.vb) + 4 * (shift_y @ bb_dy) + 2 * c_y * t_y + n * c_y * c_y,
        uv=(s.uv - 2 * (shift_x @ s.va) - 2 * (shift_y @ s.ub) + 4 * (shift_x @ ab_dy)
            + c_x * t_y + c_y * t_x + n * c_x * c_y),
        ua=s.ua - 2 * aa_dx - (t_x + n * c_x) * shift_x,
        va=s.va - 2 * ab_dy - (t_y + n * c_y) * shift_x,
        vb=s.vb - 2 * bb_dy - (t_y + n * c_y) * shift_y,
        ub=s.ub - 2 * ba_dx - (t_x + n * c_x) * shift_y,
    )


def absorbed(total: Moments, part: Moments) -> Moments:
    """Moments of the union of two disjoint sets of examples (Chan et al. 1979).

    Both are re-centred at the pooled mean ``m_1 + (n_2 / n) delta`` and added; for the
    co-moments that is Chan's ``S_1 + S_2 + (n_1 n_2 / n) delta delta^T``, added *in place*
    to the arrays of `total` (large fresh arrays per batch would cost more than the batch's
    own products); `part` is only read. A delta of exactly zero (a column constant
    everywhere) keeps that column's zeros exact. Both must be in one backend, on one device.
    """
    n = total.n + part.n
    delta_x, delta_y = part.mean_x - total.mean_x, part.mean_y - total.mean_y
    to_total, to_part = part.n / n, -total.n / n
    norms = None
    if total.norms is not None:  # first: it reads the co-moments about the old means
        left = recentred_norms(total, to_total * delta_x, to_total * delta_y)
        right = recentred_norms(part, to_part * delta_x, to_part * delta_y)
        norms = NormMoments(**{f.name: getattr(left, f.name) + getattr(right, f.name)
                               for f in fields(left)})
    weight = total.n * part.n / n
    for mine, theirs, left_delta, right_delta in ((total.aa, part.aa, delta_x, delta_x),
                                                  (total.bb, part.bb, delta_y, delta_y),
                                                  (total.ab, part.ab, delta_x, delta_y)):
        mine += theirs
        mine += _outer(weight * left_delta, right_delta)
    return Moments(n, total.mean_x + to_total * delta_x, total.mean_y + to_total * delta_y,
                   total.aa, total.bb, total.ab, norms)


def moved(m: Moments, convert: Callable[[Array], Array]) -> Moments:
    """`m` with `convert` (a copy, or a move to another backend or device) applied to every array."""
    norms = None
    if m.norms is not None:
        norms = NormMoments(**{f.name: convert(getattr(m.norms, f.name)) for f in fields(m.norms)})
    return Moments(m.n, convert(m.mean_x), convert(m.mean_y), convert(m.aa), convert(m.bb),
                   convert(m.ab), norms)


# Powers of the X and Y scales each accumulator carries: (power of c_x, power of c_y).
_POWERS = {"mean_x": (1, 0), "mean_y": (0, 1), "aa": (2, 0), "bb": (0, 2), "ab": (1, 1)}
_NORM_POWERS = {"uu": (4, 0), "vv": (0, 4), "uv": (2, 2), "ua": (3, 0), "va": (1, 2), "vb": (0, 3), "ub": (2, 1)}


def rescaled_moments(m: Moments, shift_x: int, shift_y: int) -> Moments:
    """The moments of the batches scaled by ``2**shift_x`` (X) and ``2**shift_y`` (Y), exactly:
    each accumulator is multiplied by the power of two of its degree in X and in Y (new arrays)."""
    def scale(value: Array, powers: tuple[int, int]) -> Array:
        return times_power_of_two(value, powers[0] * shift_x + powers[1] * shift_y)

    norms = None
    if m.norms is not None:
        norms = NormMoments(**{name: scale(getattr(m.norms, name), powers) for name, powers in _NORM_POWERS.items()})
    return Moments(m.n, *(scale(getattr(m, name), powers) for name, powers in _POWERS.items()), norms)
