"""Multiple-comparison corrections for a grid of tests: Westfall-Young maxT and Holm."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ._checks import option
from .permutation import pvalue

CORRECTIONS = ("maxT", "holm", None)


def max_t(statistics: Any, null: Any) -> np.ndarray:
    """Westfall-Young single-step maxT p-values, controlling the family-wise error rate.

    ``p_c = (1 + #{k : max_c' null[k, c'] >= statistics[c]}) / (1 + N)``: each cell is
    compared with the null distribution of the family's *maximum*, every permutation ``k``
    applied to all cells at once (so their dependence is kept). Under the complete null the
    chance that any cell has ``p_c <= alpha`` is at most alpha (Westfall & Young 1993).

    Parameters
    ----------
    statistics : array-like of shape (...)
        Observed statistic of each cell of the family.
    null : array-like of shape (N, ...)
        The statistics of every cell under each of N permutations.

    Returns
    -------
    ndarray shaped like `statistics`.
        Cost ``O(N x cells)``.

    Notes
    -----
    Cells whose null distributions differ in scale (layers of different widths under CKA)
    share one maximum, which costs power for the cells with the smaller null, never validity.
    """
    statistics = np.asarray(statistics, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    if null.shape[1:] != statistics.shape:
        raise ShapeError(f"null must have shape (N, *statistics.shape) = (N, {statistics.shape}); got "
                         f"{null.shape}.")
    maxima = null.reshape(null.shape[0], -1).max(axis=1)
    return pvalue(statistics, maxima.reshape((-1,) + (1,) * statistics.ndim), "greater")


def holm(pvalues: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), family-wise error rate control.

    With the m p-values sorted ascending, ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
    Valid under any dependence between the tests.

    Parameters
    ----------
    pvalues : array-like of shape (...)

    Returns
    -------
    ndarray shaped like `pvalues`.
        Cost ``O(m log m)``.
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    flat = pvalues.reshape(-1)
    order = np.argsort(flat, kind="stable")
    m = flat.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * flat[order]))
    out = np.empty_like(flat)
    out[order] = adjusted
    return out.reshape(pvalues.shape)


def correct(correction: Any, statistics: np.ndarray, null: np.ndarray, pvalues: np.ndarray) -> np.ndarray | None:
    """Corrected p-values of one measure's grid under `correction` ("maxT", "holm" or None)."""
    option("correction", correction, CORRECTIONS)
    if correction == "maxT":
        return max_t(statistics, null)
    if correction == "holm":
        return holm(pvalues)
    return None
