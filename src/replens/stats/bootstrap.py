"""The bootstrap: resample examples (or groups) with replacement; percentile and BCa intervals.

Duplicated examples and kernel measures. A resample drawn with replacement holds about 37 %
of the examples twice or more. A kernel measure would read two copies of one example as a
pair of perfectly similar examples in *both* layers (``K_ab = K_aa``, ``L_ab = L_aa``): the
Gram matrices gain bright off-diagonal entries that only say "this example equals itself",
and similarity drifts upwards (the effect rsatoolbox avoids by blanking those entries). Here
a resample of the kernel built-ins (linear CKA, debiased linear CKA, linear HSIC, RBF CKA) is
represented by its counts ``w`` over the original examples, and the estimator is evaluated on
it with **pairs of copies of one example left out**:

* biased HSIC / CKA: the value on the duplicated rows (weighted centring) minus the
  ``w_i^2 - w_i`` ordered pairs of distinct copies of example i, so each example meets
  itself once, as in the original sample;
* debiased (unbiased HSIC of Song et al. 2012): the U-statistic over 4-tuples of distinct
  *original* examples, each weighted by the product of its counts, which is exactly the
  tie-free bootstrap of a U-statistic.

With all counts 1 both are the plain estimators. RBF CKA keeps the bandwidth of the full
sample (the median distance of a resample is pulled down by its zero distances between
copies). Other measures (CCA family, regression, users' measures) are recomputed on the
duplicated rows; for the CCA family copies also reduce the number of distinct examples the
ranks are compared with, so prefer the jackknife there when ``rank X + rank Y`` nears n.

A resample with fewer distinct examples than the measure needs, or on which the measure is
undefined, is redrawn (reproducibly, from the same generator); it never yields NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._backend import Array
from .._validate import check_pair
from ..errors import ReplensError, TooFewExamplesError
from ._checks import Groups, check_groups, confidence_level, count, generator, measure_of, option
from .jackknife import units

METHODS = ("bca", "percentile")
# Resamples scored per call of a grid (weighted forms are matrix products over this many).
BATCH = 64
# Redraws allowed per requested resample before giving up with an error.
MAX_REDRAWS = 20


@dataclass(frozen=True)
class BootstrapResult:
    """Result of :func:`bootstrap`.

    Attributes
    ----------
    statistic : float
        ``m(X, Y)`` on the original sample.
    low, high : float
        The confidence interval (``method`` "bca" or "percentile") at level ``confidence``.
    se : float
        Standard deviation of the bootstrap values (ddof=1).
    samples : ndarray of shape (n_resamples,)
        The measure on every resample, in the order drawn.
    confidence : float
    method : str
    measure : str
        The measure's label.
    """

    statistic: float
    low: float
    high: float
    se: float
    samples: np.ndarray
    confidence: float
    method: str
    measure: str


def minimum_distinct(measure: Any) -> int:
    """Distinct examples a resample needs: the measure's minimum, at least 3."""
    return max(3, int(measure.info.min_examples))


def check_resampling(n: int, groups: Groups | None, minimum: int, label: str) -> None:
    """Enough examples that resamples with `minimum` distinct ones are not rare."""
    needed = 2 * minimum
    if n < needed:
        raise TooFewExamplesError(
            f"the bootstrap with {label} needs resamples of at least {minimum} distinct examples, so at "
            f"least {needed} examples; got n = {n}. Pass more examples or use the jackknife.")
    if groups is not None and groups.n_groups < 3:
        raise TooFewExamplesError(
            f"the bootstrap resamples whole groups, and {groups.n_groups} groups give at most "
            f"{groups.n_groups ** groups.n_groups} resamples; pass at least 3 groups (better, dozens), or "
            f"groups=None.")


def _draw(rng: np.random.Generator, n: int, groups: Groups | None) -> np.ndarray:
    if groups is None:
        return rng.integers(0, n, size=n)
    chosen = rng.integers(0, groups.n_groups, size=groups.n_groups)
    return np.concatenate([groups.members[k] for k in chosen])


def resampled_values(grid: Any, rng: np.random.Generator, n: int, groups: Groups | None, total: int,
                     minimum: int, label: str) -> list[np.ndarray]:
    """`total` usable resamples scored on `grid`: a list of (La, Lb) arrays in the order drawn.

    Resamples with fewer than `minimum` distinct examples, or on which the measure is
    undefined, are redrawn; after ``MAX_REDRAWS * total`` redraws a ReplensError says why.
    """
    values: list[np.ndarray] = []
    redraws = 0
    while len(values) < total:
        batch = []
        while len(batch) < min(BATCH, total - len(values)):
            rows = _draw(rng, n, groups)
            if np.unique(rows).size >= minimum:
                batch.append(rows)
            else:
                redraws += 1
            if redraws > MAX_REDRAWS * total:
                raise ReplensError(
                    f"the bootstrap of {label} drew {redraws} resamples with fewer than {minimum} distinct "
                    f"examples; pass more examples or groups.")
        scored, usable = grid.resampled(batch)
        values.extend(scored[usable])
        redraws += int(np.sum(~usable))
        if redraws > MAX_REDRAWS * total:
            raise ReplensError(
                f"the bootstrap of {label} was undefined on {redraws} resamples (e.g. a layer without "
                f"variance, or a non-positive debiased self-similarity); pass more examples.")
    return values[:total]


_NORMAL = NormalDist()


def _bias_correction(statistic: float, samples: np.ndarray, where: str) -> float:
    tolerance = 1e-12 * max(abs(statistic), 1e-300)
    below = np.sum(samples < statistic - tolerance) + 0.5 * np.sum(np.abs(samples - statistic) <= tolerance)
    share = below / samples.size
    if share <= 0 or share >= 1:
        raise ReplensError(
            f"every bootstrap value{where} lies on one side of the statistic {statistic:.6g}, so the BCa "
            f"bias correction is infinite; use method='percentile' or more resamples.")
    return _NORMAL.inv_cdf(share)


def _acceleration(values: np.ndarray) -> float:
    """BCa acceleration from jackknife values (Efron 1987): skewness of their influence."""
    deviations = values.mean() - values
    spread = float(np.sum(deviations**2))
    return 0.0 if spread == 0 else float(np.sum(deviations**3)) / (6.0 * spread**1.5)


def interval(statistic: float, samples: np.ndarray, confidence: float, method: str,
             left_out: np.ndarray | None, where: str = "") -> tuple[float, float]:
    """The percentile or BCa interval of one statistic from its bootstrap `samples`.

    BCa (Efron & Tibshirani 1993 ch. 14): with ``z0 = Phi^-1(#{theta* < theta} / B)`` (ties
    count half) and acceleration ``a`` from the jackknife values `left_out`, the bounds
    are the ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` quantiles, ``z = Phi^-1(alpha/2)`` and
    ``Phi^-1(1 - alpha/2)``.
    """
    alpha = 1.0 - confidence
    levels = [alpha / 2, 1 - alpha / 2]
    if method == "bca":
        z0 = _bias_correction(statistic, samples, where)
        a = _acceleration(left_out)
        adjusted = []
        for level in levels:
            z = z0 + _NORMAL.inv_cdf(level)
            adjusted.append(_NORMAL.cdf(z0 + z / (1 - a * z)))
        levels = adjusted
    low, high = np.quantile(samples, levels)
    return float(low), float(high)


def bootstrap(
    x: Array,
    y: Array,
    *,
    measure: Any = "linear_cka",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    method: str = "bca",
    seed: Any = 0,
    groups: Any = None,
) -> BootstrapResult:
    """Bootstrap confidence interval and standard error of ``m(X, Y)``.

    Each resample draws n examples (or, with `groups`, as many groups as there are) with
    replacement, keeping rows of X and Y paired, and recomputes the measure; see the module
    docstring for how copies of one example are handled for kernel measures.

    Parameters
    ----------
    x, y : array-like of shape (n_examples, n_features_x), (n_examples, n_features_y)
        Activations for the same examples in the same order.
    measure : str, Measure or callable, default "linear_cka"
        A registered name, a configured ``rl.measure(...)`` or any ``f(X, Y) -> float``.
    n_resamples : int, default 1000
        B >= 2 usable resamples.
    confidence : float, default 0.95
        Level of the two-sided interval.
    method : {"bca", "percentile"}, default "bca"
        "percentile": the ``alpha/2`` and ``1 - alpha/2`` quantiles of the bootstrap values.
        "bca": bias-corrected and accelerated, with the acceleration from the jackknife
        (:func:`replens.stats.jackknife`, the same units as the resampling).
    seed : int, numpy Generator or None, default 0
        Where resamples come from; the global random state is never used.
    groups : array-like of shape (n_examples,) of int, optional
        Resample whole groups (at least 3) instead of examples.

    Returns
    -------
    BootstrapResult
        ``statistic``, ``low``, ``high``, ``se``, ``samples``.

    Notes
    -----
    Cost: kernel built-ins hold one centred n x n Gram matrix per layer and score a batch of
    64 resamples with a few ``n x n`` by ``n x 64`` products (``O(n^2)`` per resample, no
    copy of the data); other measures re-prepare both layers on each resample.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((80, 4))
    >>> b = rl.stats.bootstrap(x, x + rng.standard_normal((80, 4)), n_resamples=200)
    >>> bool(b.low < b.statistic < b.high)
    True
    """
    from ._grids import make_grid

    m = measure_of(measure)
    n_resamples = count("n_resamples", n_resamples, minimum=2)
    confidence = confidence_level(confidence)
    option("method", method, METHODS)
    rng = generator(seed)
    xp, x, y = check_pair(x, y, min_examples=m.info.min_examples, dtype=m.options.get("dtype"))
    n = int(x.shape[0])
    checked = check_groups(groups, n)
    minimum = minimum_distinct(m)
    check_resampling(n, checked, minimum, m.label)
    left_units = units(groups, n, m.info.min_examples, "the BCa acceleration (a jackknife)", m.label) \
        if method == "bca" else None
    grid = make_grid(m, xp, [x], [y], ["X"], ["Y"])
    statistic = float(grid.observed()[0, 0])
    samples = np.array([v[0, 0] for v in resampled_values(grid, rng, n, checked, n_resamples, minimum, m.label)])
    left_out = grid.left_out(left_units)[:, 0, 0] if method == "bca" else None
    low, high = interval(statistic, samples, confidence, method, left_out)
    se = float(np.std(samples, ddof=1))
    return BootstrapResult(statistic, low, high, se, samples, confidence, method, m.label)
