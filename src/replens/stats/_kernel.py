"""Closed forms behind the fast paths of the kernel measures (linear CKA and HSIC, RBF CKA).

Notation: ``Xc`` (n x p) centred features, ``K = Xc Xc^T``, ``kd = diag K``; ``Yc``, ``L``,
``ld`` likewise. "Unnormalised HSIC" is ``tr(K L)`` (biased, CKA paper eq. 6, times
``(n-1)^2``) or ``n (n-3) HSIC_unbiased`` (Song et al. 2012).

* Permutations: ``P Yc`` is still centred, so only ``tr(K P L P^T) = ||Xc^T P Yc||_F^2``
  changes; the debiased estimator adds ``kd . (P ld)``, O(n).
* Leave-one-group-out: removing the rows ``G`` (sums ``s = sum_G x_i``, ``t``, ``m = n - |G|``
  rows left) re-centres the others by ``+ s / m``, so
  ``C' = C - C_G - s t^T / m`` with ``C = Xc^T Yc`` and ``C_G = sum_G x_i y_i^T``: every term
  comes from row sums and row products of one pass.
* Weighted resamples: a bootstrap resample with counts ``w`` is scored on the distinct
  examples, with the pairs formed by two copies of one example left out (they would count
  one example's similarity to itself as a pair of examples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Array, device_of, to_numpy


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_k a_ik b_ik`` for every row i."""
    return np.einsum("ij,ij->i", a, b)


def segment_sum(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of `values` (rows) over each group; `order` sorts rows by group, `starts` its boundaries."""
    return np.add.reduceat(values[order], starts, axis=0)


def debiased_term(dot: Any, diagonal_dot: Any, trace_a: Any, trace_b: Any, n: Any) -> Any:
    """``n (n-3) HSIC_unbiased`` of centred linear kernels from sums (vectorised over arrays)."""
    return dot - n / (n - 2) * diagonal_dot + trace_a * trace_b / ((n - 1) * (n - 2))


def left_out_terms(x: np.ndarray, y: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                   debiased: bool) -> np.ndarray:
    """Unnormalised linear HSIC of (X, Y) with each group of rows left out, shape (n_groups,).

    `x`, `y` are the centred float64 features (n x p, n x q); `labels` the group (0 .. G-1)
    of each row, `sizes` the group sizes. Cost ``O(n p q)`` (two products) plus
    ``O(sum_g |g|^2 (p + q))`` for groups of more than one row.
    """
    n = x.shape[0]
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    m = (n - sizes).astype(np.float64)
    cross = x.T @ y
    projected = x @ cross                                  # rows x_i^T C
    kd, ld = rowdot(x, x), rowdot(y, y)
    s = segment_sum(x, order, starts)
    t = segment_sum(y, order, starts)
    s_dot_x = rowdot(x, s[labels])                         # x_j . s_g(j)
    t_dot_y = rowdot(y, t[labels])
    ss, tt = rowdot(s, s), rowdot(t, t)
    c_cg = np.bincount(labels, weights=rowdot(projected, y), minlength=sizes.size)     # <C, C_G>
    s_c_t = rowdot(segment_sum(projected, order, starts), t)                             # s^T C t
    s_cg_t = np.bincount(labels, weights=s_dot_x * t_dot_y, minlength=sizes.size)       # s^T C_G t
    if np.all(sizes == 1):
        cg2 = kd[order] * ld[order]
    else:
        cg2 = np.array([float(np.sum((x[rows] @ x[rows].T) * (y[rows] @ y[rows].T)))
                        for rows in np.split(order, starts[1:])])
    dot = (float(np.sum(cross * cross)) + cg2 + ss * tt / m**2 - 2 * c_cg - 2 * s_c_t / m
           + 2 * s_cg_t / m)
    if not debiased:
        return dot
    diag_all = (float(kd @ ld) + 2 / m * (t @ (y.T @ kd)) + tt / m**2 * kd.sum()
                + 2 / m * (s @ (x.T @ ld)) + 4 / m**2 * s_c_t + ss / m**2 * ld.sum() + n * ss * tt / m**4)
    mg = m[labels]
    inside = (kd + 2 * s_dot_x / mg + ss[labels] / mg**2) * (ld + 2 * t_dot_y / mg + tt[labels] / mg**2)
    diag = diag_all - np.bincount(labels, weights=inside, minlength=sizes.size)
    trace_x = kd.sum() - np.bincount(labels, weights=kd, minlength=sizes.size) - ss / m
    trace_y = ld.sum() - np.bincount(labels, weights=ld, minlength=sizes.size) - tt / m
    return debiased_term(dot, diag, trace_x, trace_y, m)


def weighted_terms(xp: Any, gram_a: Array, gram_b: Array, weights: Array, debiased: bool,
                   same: bool = False) -> np.ndarray:
    """Unnormalised HSIC of weighted resamples, copies of one example never paired, shape (R,).

    `gram_a`, `gram_b` are centred n x n Gram matrices of the original examples; column r of
    `weights` (n x R) holds the counts of resample r.

    * biased: ``tr(K M L M) - sum_i (w_i^2 - w_i) Kc_ii Lc_ii`` with ``M = D - w w^T / W``
      (``D = diag w``, ``W = sum w``): the value on the duplicated rows, less the
      ``w_i^2 - w_i`` ordered pairs of distinct copies of example i; scaled to ``(W-1)^2``.
    * debiased: the U-statistic (Song et al. 2012) over 4-tuples of *distinct original
      examples*, each tuple weighted by the product of its counts, scaled to ``W (W-3)``:
      ``(T1 + T2 - 2 T3) / N4`` with ``T1 = sum w_i w_j w_q w_r K_ij L_ij``,
      ``T2 = sum ... K_ij L_qr``, ``T3 = sum ... K_ij L_iq`` over distinct (i, j, q, r), from
      power sums of w and products of ``K~ = K - diag K`` with ``w, w^2, w^3``.

    With every count 1 both reduce to the plain estimators. Cost ``O(n^2 R)`` as matrix
    products (``n^2`` elementwise for ``K o L``).
    """
    w = weights
    total = xp.sum(w, axis=0)
    if debiased:
        outside = 1 - xp.eye(gram_a.shape[0], dtype=gram_a.dtype, device=device_of(gram_a))
        off_a = gram_a * outside
        off_b = off_a if same else gram_b * outside
        w2, w3 = w * w, w * w * w
        ka = off_a @ xp.concat([w, w2], axis=1)
        kb = ka if same else off_b @ xp.concat([w, w2], axis=1)
        r = w.shape[1]
        u, u2, v, v2 = ka[:, :r], ka[:, r:], kb[:, :r], kb[:, r:]
        both = (off_a * off_b) @ xp.concat([w, w2, w3], axis=1)
        aw, aw2, aw3 = both[:, :r], both[:, r:2 * r], both[:, 2 * r:]
        p1, p2 = total, xp.sum(w2, axis=0)
        p3, p4 = xp.sum(w3, axis=0), xp.sum(w2 * w2, axis=0)
        tuples = p1**4 - 6 * p1**2 * p2 + 3 * p2**2 + 8 * p1 * p3 - 6 * p4
        s_ww, s_w2w = xp.sum(w * aw, axis=0), xp.sum(w2 * aw, axis=0)
        s_w3w, s_w2w2 = xp.sum(w3 * aw, axis=0), xp.sum(w2 * aw2, axis=0)
        t1 = (p1**2 - p2) * s_ww - 4 * p1 * s_w2w + 4 * s_w3w + 2 * s_w2w2
        t2 = xp.sum(w * u, axis=0) * xp.sum(w * v, axis=0) - 4 * xp.sum(w2 * u * v, axis=0) + 2 * s_w2w2
        t3 = (xp.sum(w * (p1 - w) * (u * v - aw2), axis=0)
              - xp.sum(w * (u2 * v + u * v2 - 2 * aw3), axis=0))
        value = (t1 + t2 - 2 * t3) / tuples * (total * (total - 3))
        return to_numpy(value)
    ka = gram_a @ w
    kb = ka if same else gram_b @ w
    both = (gram_a * gram_b) @ w
    quad_a, quad_b = xp.sum(w * ka, axis=0), xp.sum(w * kb, axis=0)
    value = (xp.sum(w * both, axis=0) - 2 / total * xp.sum(w * ka * kb, axis=0)
             + quad_a * quad_b / total**2)
    diag_a = xp.linalg.diagonal(gram_a)[:, None] - 2 * ka / total + quad_a / total**2
    diag_b = xp.linalg.diagonal(gram_b)[:, None] - 2 * kb / total + quad_b / total**2
    value = value - xp.sum((w * w - w) * diag_a * diag_b, axis=0)
    return to_numpy(value)
