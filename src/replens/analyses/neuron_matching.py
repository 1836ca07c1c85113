"""How well single neurons of one network match neurons of another (SVCCA Fig. 1: the
top-activation neurons of two seeds differ while the SVCCA directions match)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError

__all__ = ["best_neuron_correlations"]


def best_neuron_correlations(a: Any, b: Any) -> np.ndarray:
    """For each neuron of `a`, its largest absolute Pearson correlation with any neuron of `b`.

    ``best_i = max_j |corr(a[:, i], b[:, j])|`` over the n examples (rows). Neurons with
    zero variance (dead ReLUs) have no correlation: NaN for a dead neuron of `a`, and dead
    neurons of `b` are skipped (NaN when all are dead).

    Parameters
    ----------
    a : array-like of shape (n, p_a)
    b : array-like of shape (n, p_b)

    Returns
    -------
    ndarray of shape (p_a,), float64, in [0, 1] or NaN.

    Raises
    ------
    ShapeError
        `a` or `b` is not a matrix, their numbers of examples differ, or n < 2.

    Cost: ``O(n p_a p_b)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"a and b must be matrices (n, p); got shapes {a.shape} and {b.shape}.")
    if a.shape[0] != b.shape[0] or a.shape[0] < 2:
        raise ShapeError(f"a and b must have the same number of examples (rows), at least 2; got {a.shape[0]} "
                         f"and {b.shape[0]}. Pass both networks' activations on the same inputs.")
    za, zb = a - a.mean(axis=0), b - b.mean(axis=0)
    na, nb = np.linalg.norm(za, axis=0), np.linalg.norm(zb, axis=0)
    live_b = nb > 0
    out = np.full(a.shape[1], np.nan)
    live_a = na > 0
    if not live_b.any() or not live_a.any():
        return out
    corr = (za[:, live_a] / na[live_a]).T @ (zb[:, live_b] / nb[live_b])
    out[live_a] = np.abs(corr).max(axis=1)
    return out
