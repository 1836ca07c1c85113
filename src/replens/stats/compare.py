"""stats.compare(): every layer pair with p-values corrected over the grid, intervals and errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._backend import Array, is_integer_scalar, namespace_of, resolve_dtype, to_device
from .._validate import check_values
from ..engine.compare import MeasureLike, Representations, check_compare_options
from ..engine.compare import compare as engine_compare
from ..engine.layouts import as_matrix
from ..errors import ShapeError, UnknownOptionError
from ..results.matrix import SimilarityMatrix
from ._checks import GROUP_MODES, check_groups, confidence_level, count, generator, option
from ._grids import make_grid
from .bootstrap import METHODS, check_resampling, interval, minimum_distinct, resampled_values
from .corrections import CORRECTIONS, correct
from .jackknife import jackknife_summary, units
from .permutation import pvalue, scheme, stream, warn_uninformative


class StatisticsMatrix(SimilarityMatrix):
    """The :class:`~replens.SimilarityMatrix` of :func:`compare`: plots mark entries that are
    not significant, and the tidy table carries the statistics.

    Entries whose corrected p-value (the plain one when no correction was asked for)
    exceeds ``alpha`` are hatched on heatmaps; :meth:`to_dataframe` adds the columns
    ``pvalue``, ``pvalue_corrected``, ``ci_low``, ``ci_high``, ``se`` (empty where not computed).
    """

    def plot(self, measure: str | None = None, ax: Any = None, *, annotate: bool | None = None,
             alpha: float = 0.05) -> tuple[Any, Any]:
        """:meth:`SimilarityMatrix.plot`, entries with p > `alpha` hatched grey."""
        fig, ax = super().plot(measure, ax, annotate=annotate)
        pvalues = self.pvalues_corrected if self.pvalues_corrected is not None else self.pvalues
        if pvalues is None:
            return fig, ax
        from matplotlib.patches import Rectangle

        index = self.index(measure or self.measures[0])
        for (i, j), value in np.ndenumerate(pvalues[index]):
            if value > alpha:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6",
                                       linewidth=0))
        which = "corrected " if self.pvalues_corrected is not None else ""
        correction = (self.attrs.get("statistics") or {}).get("correction")
        ax.set_title(f"{ax.get_title()}\nhatched: {which}p > {alpha:g}"
                     + (f" ({correction})" if which and correction else ""), fontsize=9)
        return fig, ax

    def to_dataframe(self) -> Any:
        """:meth:`SimilarityMatrix.to_dataframe` with pvalue, pvalue_corrected, ci_low, ci_high, se."""
        frame = super().to_dataframe()
        for column, name in (("pvalue", "pvalues"), ("pvalue_corrected", "pvalues_corrected"),
                             ("ci_low", "low"), ("ci_high", "high"), ("se", "se")):
            array = getattr(self, name)
            frame[column] = None if array is None else array.ravel()
        return frame


def _matrices(reps: Representations, argument: str, *, conv: str, layout: str, sequence: str,
              dtype: Any, device: Any) -> tuple[Any, list[str], list[Array]]:
    items = list(reps.items()) if isinstance(reps, Mapping) else list(reps)
    if not items or not all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                            for item in items):
        raise ShapeError(f"{argument} must be a non-empty mapping name -> array (n, ...) or a sequence of "
                         f"(name, array) pairs; got {type(reps).__name__} {reps!r:.80}.")
    names = [name for name, _ in items]
    xp, arrays = namespace_of(*(to_device(array, device) for _, array in items))
    compute = resolve_dtype(xp, dtype)
    matrices = [as_matrix(xp, name, check_values(xp, f"{argument}[{name!r}]", array, compute), conv=conv,
                          layout=layout, sequence=sequence) for name, array in zip(names, arrays)]
    return xp, names, matrices


def _seeds(seed: Any) -> tuple[Any, Any]:
    """Seeds of the permutation and resample streams, the same for every measure of the grid."""
    if isinstance(seed, np.random.Generator) or seed is None:
        entropy = generator(seed).integers(0, 2**63, size=2)
        return int(entropy[0]), int(entropy[1])
    generator(seed)  # checks it
    return seed, seed


def compare(
    reps_a: Representations,
    reps_b: Representations | None = None,
    measures: MeasureLike | Iterable[MeasureLike] = ("linear_cka",),
    *,
    n_permutations: int = 0,
    n_resamples: int = 0,
    jackknife: bool = False,
    seed: Any = 0,
    groups: Any = None,
    groups_mode: str = "between",
    correction: str | None = "maxT",
    confidence: float = 0.95,
    method: str = "bca",
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    dtype: Any = None,
    device: Any = None,
) -> SimilarityMatrix:
    """:func:`replens.compare` with, for every entry, a p-value, an interval and a standard error.

    Parameters
    ----------
    reps_a, reps_b, measures, conv, layout, sequence, dtype, device
        As in :func:`replens.compare` (``conv="dft"`` is not supported here). Every layer
        is prepared once for the whole grid.
    n_permutations : int, default 0
        N > 0 runs a permutation test for every entry: each permutation of the examples
        is applied to every layer of B at once, so one draw gives the whole grid's null.
    n_resamples : int, default 0
        B > 1 gives bootstrap intervals (``method`` "bca" or "percentile", level
        `confidence`) and standard errors; the same resamples serve every entry.
    jackknife : bool, default False
        Leave-one-out (or one-group-out) standard errors; when no bootstrap is asked for,
        ``low``/``high`` are then the normal intervals ``value -+ z se``.
    seed : int, numpy Generator or None, default 0
        Where permutations and resamples come from; every measure of the grid gets the
        same ones. The global random state is never used.
    groups, groups_mode
        As in :func:`replens.stats.permutation_test` and :func:`replens.stats.bootstrap`:
        one integer label per example (per row of the matrices the layers become).
    correction : {"maxT", "holm", None}, default "maxT"
        Family-wise correction over each measure's grid. "maxT" (Westfall-Young): each
        entry is compared with the null of the grid's maximum under the same permutations,
        which keeps the dependence between entries. "holm": Holm's step-down on the
        per-entry p-values. None: ``pvalues_corrected`` stays None.
    confidence : float, default 0.95
    method : {"bca", "percentile"}, default "bca"

    Returns
    -------
    StatisticsMatrix
        A :class:`~replens.SimilarityMatrix`: ``values`` as :func:`replens.compare` gives them, and ``pvalues``,
        ``pvalues_corrected``, ``low``, ``high``, ``se`` shaped like ``values`` (None where
        not requested). ``attrs["statistics"]`` records the null, the correction, the counts
        and the seed.

    Notes
    -----
    A p-value says whether the similarity of two layers exceeds that of unrelated pairings
    of the same examples, not whether the layers compute the same thing. Cost per
    permutation: for linear CKA and HSIC one gather of each B layer and one product per
    pair, ``O(n p q)``; other measures re-prepare each B layer once per permutation and
    score it against every prepared A layer.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((60, 6))
    >>> s = rl.stats.compare({"x": x, "noise": rng.standard_normal((60, 6))}, {"y": x + rng.standard_normal((60, 6))},
    ...                      n_permutations=99)
    >>> s.pvalues_corrected[0, :, 0].round(2).tolist()
    [0.01, 0.54]
    """
    if conv == "dft":
        raise UnknownOptionError("stats.compare supports conv='flatten', 'spatial_as_examples' and "
                                 "'mean_pool'; got conv='dft'. Use replens.compare for Fourier CCA.")
    resolved = check_compare_options(measures, conv, layout, sequence)
    n_permutations = count("n_permutations", n_permutations, minimum=0)
    n_resamples = count("n_resamples", n_resamples, minimum=0)
    if n_resamples == 1:
        raise UnknownOptionError("n_resamples must be 0 (no bootstrap) or at least 2; got 1.")
    if not isinstance(jackknife, bool):
        raise UnknownOptionError(f"jackknife must be True or False; got {jackknife!r}.")
    option("groups_mode", groups_mode, GROUP_MODES)
    if correction not in CORRECTIONS:
        option("correction", correction, CORRECTIONS)
    confidence = confidence_level(confidence)
    option("method", method, METHODS)
    permutation_seed, resample_seed = _seeds(seed)

    work = dtype if dtype is not None else next((m.options["dtype"] for m in resolved
                                                  if m.options.get("dtype") is not None), None)
    mode = dict(conv=conv, layout=layout, sequence=sequence, dtype=work, device=device)
    xp, names_a, matrices_a = _matrices(reps_a, "reps_a", **mode)
    names_b, matrices_b = names_a, matrices_a
    if reps_b is not None:
        _, names_b, matrices_b = _matrices(reps_b, "reps_b", **mode)
    n = int(matrices_a[0].shape[0])
    checked = check_groups(groups, n)
    plan = scheme(n, checked, groups_mode) if n_permutations else None
    for m in resolved:
        if n_resamples:
            check_resampling(n, checked, minimum_distinct(m), m.label)
        if jackknife or (n_resamples and method == "bca"):
            units(groups, n, m.info.min_examples, "the jackknife", m.label)

    base = engine_compare(reps_a, reps_b, resolved, conv=conv, layout=layout, sequence=sequence,
                          progress=False, dtype=dtype, device=device)
    shape = base.values.shape
    wanted = {"pvalues": n_permutations > 0, "pvalues_corrected": n_permutations > 0 and correction is not None,
              "low": n_resamples > 0 or jackknife, "high": n_resamples > 0 or jackknife,
              "se": n_resamples > 0 or jackknife}
    out = {name: np.zeros(shape) if asked else None for name, asked in wanted.items()}
    z = _normal_quantile((1 + confidence) / 2)
    for k, m in enumerate(resolved):
        grid = make_grid(m, xp, matrices_a, matrices_b, names_a, names_b)
        observed = grid.observed()
        if n_permutations:
            warn_uninformative(grid, m.label)
            null = np.concatenate([grid.permuted(chunk) for chunk in
                                   stream(generator(permutation_seed), plan, n_permutations)])
            out["pvalues"][k] = pvalue(observed, null, "greater")
            if correction is not None:
                out["pvalues_corrected"][k] = correct(correction, observed, null, out["pvalues"][k])
        left_out = None
        if jackknife or (n_resamples and method == "bca"):
            left_out = grid.left_out(units(groups, n, m.info.min_examples, "the jackknife", m.label))
        if n_resamples:
            samples = np.stack(resampled_values(grid, generator(resample_seed), n, checked, n_resamples,
                                                minimum_distinct(m), m.label))
            for (i, j), value in np.ndenumerate(observed):
                where = f" for {m.label} ({names_a[i]}, {names_b[j]})"
                out["low"][k, i, j], out["high"][k, i, j] = interval(
                    float(value), samples[:, i, j], confidence, method,
                    None if left_out is None else left_out[:, i, j], where)
            out["se"][k] = np.std(samples, axis=0, ddof=1)
        if jackknife:
            se = jackknife_summary(observed, left_out)[0]
            out["se"][k] = se
            if not n_resamples:
                out["low"][k], out["high"][k] = base.values[k] - z * se, base.values[k] + z * se
    attrs = dict(base.attrs)
    null = None
    if n_permutations:
        null = f"{n_permutations} permutations of the examples of B" + (
            "" if checked is None else ", whole groups exchanged" if groups_mode == "between"
            else ", rows shuffled within groups")
    attrs["statistics"] = {
        "null": null, "n_permutations": n_permutations, "correction": correction if n_permutations else None,
        "n_resamples": n_resamples, "confidence": confidence, "jackknife": jackknife,
        "interval": method if n_resamples else "jackknife normal" if jackknife else None,
        "groups": None if checked is None else groups_mode,
        "seed": int(seed) if is_integer_scalar(seed) else None if seed is None else repr(seed),
    }
    return StatisticsMatrix(base.values, base.layers_a, base.layers_b, base.measures, attrs, **out)


def _normal_quantile(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(level)

