"""The jackknife: leave-one-example-out (or one-group-out) values, standard error and bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array
from .._validate import check_pair
from ..errors import TooFewExamplesError
from ._checks import Groups, check_groups, measure_of, singletons
from ._grids import make_grid


@dataclass(frozen=True)
class JackknifeResult:
    """Result of :func:`jackknife`.

    Attributes
    ----------
    statistic : float
        ``theta = m(X, Y)`` on all examples.
    se : float
        ``sqrt((g - 1) / g * sum_k (theta_(k) - theta_(.))^2)``, g the number of left-out units.
    bias : float
        ``(g - 1) (theta_(.) - theta)``; ``statistic - bias`` is the bias-corrected value.
    values : ndarray of shape (g,)
        ``theta_(k)``: the measure with example (or group) k left out, in order.
    measure : str
        The measure's label.
    """

    statistic: float
    se: float
    bias: float
    values: np.ndarray
    measure: str


def jackknife_summary(statistic: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard error and bias from leave-one-out `values` (g, ...) around `statistic` (...)."""
    g = values.shape[0]
    mean = values.mean(axis=0)
    se = np.sqrt((g - 1) / g * np.sum((values - mean) ** 2, axis=0))
    return se, (g - 1) * (mean - statistic)


def units(groups: Any, n: int, minimum: int, procedure: str, label: str) -> Groups:
    """The left-out units (groups, or every example), checked to leave `minimum` examples."""
    checked = check_groups(groups, n)
    units_ = singletons(n) if checked is None else checked
    largest = int(units_.sizes.max())
    if n - largest < minimum:
        what = "one example" if checked is None else f"the largest group ({largest} examples)"
        raise TooFewExamplesError(
            f"{procedure} with {label} leaves out {what} at a time and then needs at least {minimum} "
            f"examples; got n = {n}. Pass more examples{'' if checked is None else ' or smaller groups'}.")
    return units_


def jackknife(x: Array, y: Array, *, measure: Any = "linear_cka", groups: Any = None) -> JackknifeResult:
    """Jackknife of ``m(X, Y)``: the measure with each example (or group) left out in turn.

    With ``theta_(k)`` the value without unit k and ``theta_(.)`` their mean over g units,
    ``se = sqrt((g-1)/g sum_k (theta_(k) - theta_(.))^2)`` and
    ``bias = (g-1)(theta_(.) - theta)`` (Efron & Tibshirani 1993 ch. 11). The CKA paper
    (Kornblith et al. 2019, Table 2, Fig. 6) uses these standard errors.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order.
    measure : str, Measure or callable, default "linear_cka"
        A registered name, a configured ``rl.measure(...)`` or any ``f(X, Y) -> float``.
    groups : array-like of shape (n_examples,) of int, optional
        Leave out whole groups (at least two) instead of single examples; the grouped
        (delete-a-group) jackknife treats groups as the independent units.

    Returns
    -------
    JackknifeResult
        ``statistic``, ``se``, ``bias``, ``values`` (one per example or group).

    Notes
    -----
    Exact: every value equals the measure recomputed on the remaining examples (to 1e-10).
    For linear CKA and linear HSIC (biased and debiased) all values come from one pass:
    leaving out rows G re-centres the others by ``s_G / (n - |G|)``, so
    ``Xc'^T Yc' = C - C_G - s_G t_G^T / (n - |G|)`` with ``C = Xc^T Yc``; its squared norm,
    and the debiased estimator's diagonal and trace terms, follow from row sums and row
    products: two products ``O(n p q)`` per pair in all (float64, on the host), against
    ``n`` recomputations. Every other measure recomputes on each left-out sample, the
    kept layers prepared anew.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((50, 4))
    >>> j = rl.stats.jackknife(x, x + rng.standard_normal((50, 4)))
    >>> j.values.shape, bool(j.se > 0)
    ((50,), True)
    """
    m = measure_of(measure)
    xp, x, y = check_pair(x, y, min_examples=m.info.min_examples, dtype=m.options.get("dtype"))
    n = int(x.shape[0])
    left_out = units(groups, n, m.info.min_examples, "the jackknife", m.label)
    grid = make_grid(m, xp, [x], [y], ["X"], ["Y"])
    statistic = float(grid.observed()[0, 0])
    values = grid.left_out(left_out)[:, 0, 0]
    se, bias = jackknife_summary(np.float64(statistic), values)
    return JackknifeResult(statistic, float(se), float(bias), values, m.label)
