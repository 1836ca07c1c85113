"""Is X more similar to Y than to Z? A paired test of ``m(X, Y) - m(X, Z)`` on the same examples."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._backend import Array
from .._validate import check_pair
from ..errors import ReplensError
from ._checks import check_groups, confidence_level, count, generator, measure_of, option
from .bootstrap import check_resampling, minimum_distinct, resampled_values
from .jackknife import jackknife_summary, units

METHODS = ("jackknife", "bootstrap")
_NORMAL = NormalDist()


@dataclass(frozen=True)
class DifferenceResult:
    """Result of :func:`difference_test`.

    Attributes
    ----------
    difference : float
        ``m(X, Y) - m(X, Z)``.
    se : float
        Its standard error (jackknife, or bootstrap standard deviation).
    z : float
        ``difference / se``.
    pvalue : float
        Two-sided, for ``difference == 0``.
    low, high : float
        Confidence interval of the difference at level ``confidence``.
    statistic_xy, statistic_xz : float
        ``m(X, Y)`` and ``m(X, Z)``.
    method : str
    confidence : float
    measure : str
    """

    difference: float
    se: float
    z: float
    pvalue: float
    low: float
    high: float
    statistic_xy: float
    statistic_xz: float
    method: str
    confidence: float
    measure: str


def difference_test(
    x: Array,
    y: Array,
    z: Array,
    *,
    measure: Any = "linear_cka",
    method: str = "jackknife",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Any = 0,
    groups: Any = None,
) -> DifferenceResult:
    """Paired test of ``d = m(X, Y) - m(X, Z)``: is X closer to Y than to Z?

    Both values are computed on the same examples, and so are their left-out or resampled
    versions, so the test accounts for their correlation (which a comparison of two
    separate intervals does not).

    * ``method="jackknife"`` (the CKA paper's z-test, Kornblith et al. 2019 Table 2): the
      leave-one-out (or one-group-out) differences give ``se``; ``z = d / se``,
      ``pvalue = 2 (1 - Phi(|z|))`` and the interval ``d -+ Phi^-1((1 + confidence) / 2) se``.
    * ``method="bootstrap"``: paired resamples (the same rows for both pairs) give the
      bootstrap values ``d*``; ``se`` is their standard deviation, the interval their
      percentile interval, and ``pvalue = min(1, 2 min((1 + #{d* <= 0}), (1 + #{d* >= 0})) /
      (1 + B))``.

    Parameters
    ----------
    x, y, z : array-like of shape (n_examples, features)
        Activations for the same examples in the same order.
    measure : str, Measure or callable, default "linear_cka"
        A registered name, a configured ``rl.measure(...)`` or any ``f(X, Y) -> float``.
    method : {"jackknife", "bootstrap"}, default "jackknife"
    n_resamples : int, default 1000
        Bootstrap only.
    confidence : float, default 0.95
    seed : int, numpy Generator or None, default 0
        Bootstrap only; the global random state is never used.
    groups : array-like of shape (n_examples,) of int, optional
        Leave out or resample whole groups.

    Returns
    -------
    DifferenceResult
        ``difference``, ``se``, ``z``, ``pvalue``, ``low``, ``high``.

    Notes
    -----
    Cost: one jackknife (or bootstrap) of the grid X x (Y, Z): for linear CKA and HSIC two
    products per pair, ``O(n p q)``.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((100, 5))
    >>> d = rl.stats.difference_test(x, x + 0.5 * rng.standard_normal((100, 5)), rng.standard_normal((100, 5)))
    >>> bool(d.difference > 0 and d.pvalue < 0.01)
    True
    """
    from ._grids import make_grid

    m = measure_of(measure)
    option("method", method, METHODS)
    confidence = confidence_level(confidence)
    if method == "bootstrap":
        n_resamples = count("n_resamples", n_resamples, minimum=2)
    rng = generator(seed)
    xp, x, y = check_pair(x, y, min_examples=m.info.min_examples, dtype=m.options.get("dtype"))
    _, x, z = check_pair(x, z, min_examples=m.info.min_examples, dtype=m.options.get("dtype"), names=("X", "Z"))
    n = int(x.shape[0])
    checked = check_groups(groups, n)
    if method == "jackknife":
        left_units = units(groups, n, m.info.min_examples, "the jackknife", m.label)
    else:
        check_resampling(n, checked, minimum_distinct(m), m.label)
    grid = make_grid(m, xp, [x], [y, z], ["X"], ["Y", "Z"])
    observed = grid.observed()[0]
    difference = float(observed[0] - observed[1])
    scale = _NORMAL.inv_cdf((1 + confidence) / 2)
    if method == "jackknife":
        values = grid.left_out(left_units)[:, 0, :]
        se = float(jackknife_summary(np.float64(difference), values[:, 0] - values[:, 1])[0])
        _check_spread(se, method)
        statistic_z = difference / se
        pvalue = 2 * (1 - _NORMAL.cdf(abs(statistic_z)))
        low, high = difference - scale * se, difference + scale * se
    else:
        samples = np.array([v[0, 0] - v[0, 1] for v in resampled_values(
            grid, rng, n, checked, n_resamples, minimum_distinct(m), m.label)])
        se = float(np.std(samples, ddof=1))
        _check_spread(se, method)
        statistic_z = difference / se
        below = (1 + np.sum(samples <= 0)) / (1 + samples.size)
        above = (1 + np.sum(samples >= 0)) / (1 + samples.size)
        pvalue = float(min(1.0, 2 * min(below, above)))
        alpha = 1 - confidence
        low, high = (float(v) for v in np.quantile(samples, [alpha / 2, 1 - alpha / 2]))
    return DifferenceResult(difference, se, float(statistic_z), float(pvalue), float(low), float(high),
                            float(observed[0]), float(observed[1]), method, confidence, m.label)


def _check_spread(se: float, method: str) -> None:
    if not se > 0:
        raise ReplensError(
            f"the {method} standard error of m(X, Y) - m(X, Z) is 0: the difference does not vary over "
            f"{'left-out samples' if method == 'jackknife' else 'resamples'} (Y and Z may be the same "
            f"representation up to the measure's invariances), so no z-test is defined.")
