"""compare(): every measure between every layer of A and every layer of B, per-layer work shared.

A measure splits into a per-layer *prepare* step (centring, an orthonormal basis, a Gram
matrix, an SVD truncation) and a per-pair *score* step. Comparing L_a layers with L_b layers
therefore costs L_a + L_b preparations and L_a x L_b scores, instead of 2 L_a L_b
preparations for a loop over a pair function. Measures that share a preparation (CCA, PWCCA
and linear regression share the basis; CKA and HSIC the centred features) share it here too.
"""

from __future__ import annotations

import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Union

import numpy as np

from ._backend import Array, namespace_of, resolve_dtype
from ._validate import check_option, check_positive_number, check_values
from .conv import as_matrix, check_modes
from .errors import ShapeError, TooFewExamplesError, UninformativeWarning, UnknownOptionError
from .measures.catalog import MEASURES
from .measures.cca import correlate, prepare_cca, prepare_svcca, projection_weighted
from .measures.cka import (
    DEFAULT_RBF_BANDWIDTH,
    cka_from_hsic,
    debiased_hsic_term,
    gram_inner_products,
    hsic_scale,
    prepare_kernel,
    score_cka,
    score_hsic,
)
from .measures._subspace import centre_informative, project
from .similarity_matrix import SimilarityMatrix

Representations = Union[Mapping[str, Array], Sequence[tuple[str, Array]]]

DEFAULT_MEMORY_BUDGET = 4 * 1024**3
DFT_MEASURES = ("cca_mean_rho", "cca_r2")
LINEAR_KERNEL_FAMILIES = ("linear_kernel", "debiased_linear_kernel")
GRAM_BLOCK_ROWS = 512


@dataclass(frozen=True)
class _Options:
    space: str
    bandwidth: float
    svcca_threshold: float
    dtype: Any


def _named_layers(reps: Representations, argument: str) -> list[tuple[str, Array]]:
    items = list(reps.items()) if isinstance(reps, Mapping) else list(reps)
    if not items:
        raise ShapeError(f"{argument} holds no layers; pass a mapping name -> array (n, ...) or a "
                         f"sequence of (name, array) pairs.")
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ShapeError(f"{argument} must be a mapping name -> array or a sequence of (name, "
                             f"array) pairs; got an item {type(item).__name__} {item!r:.80}.")
    names = [name for name, _ in items]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ShapeError(f"{argument} has duplicate layer names {duplicated}; names must be unique.")
    return items


def check_compare_options(measures: str | Iterable[str], conv: str, layout: str, sequence: str
                          ) -> tuple[str, ...]:
    """Validate compare()'s measure names and modes before any data is read; return the names."""
    names = _measure_names(measures)
    check_modes(conv, layout, sequence)
    if conv == "dft" and any(name not in DFT_MEASURES for name in names):
        raise UnknownOptionError(
            f"conv='dft' computes Fourier CCA, so it supports the measures {DFT_MEASURES}; got "
            f"{names}. Use another conv mode for the others.")
    return names


def _measure_names(measures: str | Iterable[str]) -> tuple[str, ...]:
    names = (measures,) if isinstance(measures, str) else tuple(measures)
    if not names:
        raise UnknownOptionError(f"measures is empty; choose from {', '.join(MEASURES)}.")
    for name in names:
        check_option("measure", name, tuple(MEASURES))
    return names


def _layer_matrices(
    layers: list[tuple[str, Array]], argument: str, *, conv: str, layout: str, sequence: str,
    dtype: Any,
) -> tuple[Any, list[Array]]:
    xp, arrays = namespace_of(*(array for _, array in layers))
    compute = resolve_dtype(xp, dtype)
    matrices = []
    for (name, _), array in zip(layers, arrays):
        label = f"{argument}[{name!r}]"
        array = check_values(xp, label, array, compute)
        matrices.append(as_matrix(xp, name, array, conv=conv, layout=layout, sequence=sequence))
    return xp, matrices


def _check_examples(names: list[str], matrices: list[Array], conv: str, minimum: int) -> int:
    counts = {name: int(m.shape[0]) for name, m in zip(names, matrices)}
    if len(set(counts.values())) > 1:
        hint = (" (spatial_as_examples multiplies examples by h*w, so every layer needs the same "
                "spatial size)" if conv == "spatial_as_examples" else "")
        raise ShapeError(f"every layer must have the same number of examples{hint}; got {counts}.")
    n = next(iter(counts.values()))
    if n < minimum:
        raise TooFewExamplesError(f"need at least {minimum} examples for these measures; got {n}.")
    return n


def _nbytes(prepared: Any) -> int:
    """Bytes held by the arrays of a preparation (a dataclass, searched recursively)."""
    total = 0
    for item in fields(prepared):
        value = getattr(prepared, item.name)
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            total += int(np.prod(value.shape)) * np.dtype(str(value.dtype).replace("torch.", "")).itemsize
        elif is_dataclass(value):
            total += _nbytes(value)
    return total


class _PreparedLayers:
    """Per-layer preparations, computed on first use and kept within a memory budget.

    Pairs are visited row by row, so a layer of A is reused along its row and layers of B
    across rows; when the budget cannot hold them all, the least recently used are dropped
    and recomputed when needed again (slower, never wrong).
    """

    def __init__(self, xp: Any, budget: int, options: _Options | None) -> None:
        self.xp, self.budget, self.options = xp, budget, options
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0

    def get(self, side: str, index: int, name: str, matrix: Array, family: str) -> Any:
        return self.cached((side, index, family), lambda: self._prepare(matrix, family, name))

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The preparation stored under `key`, built by `build()` if it is not held."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        prepared = build()
        size = _nbytes(prepared)
        while self._cache and self._bytes + size > self.budget:
            _, dropped = self._cache.popitem(last=False)
            self._bytes -= _nbytes(dropped)
        self._cache[key] = prepared
        self._bytes += size
        return prepared

    def _prepare(self, matrix: Array, family: str, name: str) -> Any:
        xp, options = self.xp, self.options
        if family == "linear_kernel":
            return prepare_kernel(xp, matrix, space=options.space, name=name)
        if family == "debiased_linear_kernel":
            return prepare_kernel(xp, matrix, debiased=True, space=options.space, name=name)
        if family == "rbf_kernel":
            return prepare_kernel(xp, matrix, kernel="rbf", bandwidth=options.bandwidth,
                                  space="gram", name=name)
        if family == "cca":
            return prepare_cca(xp, matrix, name)
        return prepare_svcca(xp, matrix, threshold=options.svcca_threshold, rule="variance",
                             keep=None, name=name)


def _linear_space(n: int, widths_a: list[int], widths_b: list[int] | None, itemsize: int,
                  budget: int) -> str:
    """Feature space or Gram space for linear kernels, whichever costs fewer flops and fits.

    Multiply-adds: feature space forms ``A_i^T A_i`` per layer and ``A_i^T B_j`` per pair
    (``n p q`` each); Gram space (:func:`gram_inner_products`) forms the upper half of each
    layer's Gram matrix (``n^2 p / 2``) and one ``n^2 / 2`` inner product per pair, and
    needs at least one row of every Gram matrix at a time (``layers x n`` numbers) within
    the budget. `widths_b` is None when A is compared with itself: each layer is prepared
    once and only the pairs i <= j are scored.
    """
    if widths_b is None:
        widths, pair_widths = widths_a, [(p, q) for i, p in enumerate(widths_a) for q in widths_a[i:]]
    else:
        widths, pair_widths = widths_a + widths_b, [(p, q) for p in widths_a for q in widths_b]
    feature_cost = n * (sum(p * p for p in widths) + sum(p * q for p, q in pair_widths))
    gram_cost = n * n * (sum(widths) + len(pair_widths)) / 2
    fits = len(widths) * n * itemsize <= budget
    return "gram" if gram_cost < feature_cost and fits else "features"


def _gram_block_rows(n: int, layers: int, itemsize: int, budget: int) -> int:
    """Rows per block of :func:`gram_inner_products`: at most 512 (fastest here) and the budget."""
    return max(1, min(GRAM_BLOCK_ROWS, budget // max(1, layers * n * itemsize)))


def _fill_linear_gram(
    values: np.ndarray, names: tuple[str, ...], xp: Any, matrices_a: list[Array],
    matrices_b: list[Array] | None, names_a: list[str], names_b: list[str], itemsize: int, budget: int,
    progress: bool | None,
) -> tuple[str, ...]:
    """Linear CKA (biased and debiased) and linear HSIC for every pair, in Gram space.

    All pairs come from one blocked pass over the layers' Gram matrices
    (:func:`gram_inner_products`); returns the measures it filled.
    """
    wanted = tuple(name for name in names if MEASURES[name].family in LINEAR_KERNEL_FAMILIES)
    if not wanted:
        return ()
    centred_a = [centre_informative(xp, m, f"reps_a[{name!r}]") for m, name in zip(matrices_a, names_a)]
    centred_b = None if matrices_b is None else [
        centre_informative(xp, m, f"reps_b[{name!r}]") for m, name in zip(matrices_b, names_b)]
    n = int(centred_a[0].shape[0])
    layers = len(centred_a) + (0 if centred_b is None else len(centred_b))
    bar = _progress_bar(n, progress, desc="replens compare (Gram rows)", unit="row")
    try:
        cross, self_a, self_b = gram_inner_products(
            xp, centred_a, centred_b, block_rows=_gram_block_rows(n, layers, itemsize, budget),
            on_rows=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    norms_a = [xp.sum(c * c, axis=1) for c in centred_a]
    norms_b = norms_a if centred_b is None else [xp.sum(c * c, axis=1) for c in centred_b]
    debiased_a = [debiased_hsic_term(t, v, v, xp, n) for t, v in zip(self_a, norms_a)]
    debiased_b = [debiased_hsic_term(t, v, v, xp, n) for t, v in zip(self_b, norms_b)]
    row = {name: k for k, name in enumerate(names)}
    for i in range(len(names_a)):
        for j in range(len(names_b)):
            for name in wanted:
                if name == "linear_hsic":
                    value = cross[i, j] / hsic_scale(n, False)
                elif name == "linear_cka":
                    value = cka_from_hsic(cross[i, j], self_a[i], self_b[j], False)
                else:
                    value = cka_from_hsic(debiased_hsic_term(cross[i, j], norms_a[i], norms_b[j], xp, n),
                                          debiased_a[i], debiased_b[j], True)
                values[row[name], i, j] = value
    return wanted


def _score_pair(
    xp: Any, family: str, wanted: tuple[str, ...], a: Any, b: Any, both_ways: bool
) -> dict[tuple[str, bool], float]:
    """Every wanted measure of `family` for (a, b) and, if `both_ways`, asymmetric ones for (b, a).

    Keys are (measure, reversed).
    """
    scores: dict[tuple[str, bool], float] = {}
    if family.endswith("kernel"):
        for name in wanted:
            if name == "linear_hsic":
                scores[name, False] = score_hsic(xp, a, b) / hsic_scale(a.n, False)
            else:
                scores[name, False] = score_cka(xp, a, b)
        return scores
    pair = correlate(xp, a, b, directions="pwcca" in wanted)
    for name in wanted:
        if name in ("cca_mean_rho", "svcca_mean_rho"):
            scores[name, False] = float(np.mean(pair.rho))
        elif name in ("cca_r2", "svcca_r2"):
            scores[name, False] = float(np.mean(pair.rho**2))
        elif name == "pwcca":
            scores[name, False] = projection_weighted(xp, pair.rho, pair.left, a)
            if both_ways:
                scores[name, True] = projection_weighted(xp, pair.rho, pair.right, b)
        elif name == "linear_regression_r2":
            scores[name, False] = _regression_r2(xp, a, b)
            if both_ways:
                scores[name, True] = _regression_r2(xp, b, a)
    return scores


def _regression_r2(xp: Any, target: Any, predictor: Any) -> float:
    explained = project(predictor, target.centred)
    total = float(xp.sum(target.coords * target.coords))
    return min(1.0, float(xp.sum(explained * explained)) / total)


def _progress_bar(total: int, progress: bool | None, *, desc: str = "replens compare",
                  unit: str = "pair") -> Any:
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)


def compare(
    reps_a: Representations,
    reps_b: Representations | None = None,
    measures: str | Iterable[str] = ("linear_cka",),
    *,
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    progress: bool | None = None,
    rbf_bandwidth: float = DEFAULT_RBF_BANDWIDTH,
    svcca_threshold: float = 0.99,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    dtype: Any = None,
) -> SimilarityMatrix:
    """Compare every layer of A with every layer of B under one or more measures.

    Each layer's expensive part (centring, basis, Gram matrix, SVD truncation) is computed
    once and reused for all its pairs; every entry equals the corresponding pair function
    (:func:`cka`, :func:`cca`, ...) to rounding.

    Parameters
    ----------
    reps_a : mapping name -> array, or sequence of (name, array)
        Layers of the first network, each (n, ...) for the same n examples. Order and
        names are kept exactly.
    reps_b : same as reps_a, optional
        Layers of the second network; None compares `reps_a` with itself (and computes
        each symmetric pair once).
    measures : str or iterable of str, default ("linear_cka",)
        Names from :func:`replens.measures`: linear_cka, debiased_linear_cka, rbf_cka,
        linear_hsic, cca_mean_rho, cca_r2, svcca_mean_rho, svcca_r2, pwcca (weights from
        the A layer), linear_regression_r2 (how well the B layer predicts the A layer).
    conv : {"flatten", "spatial_as_examples", "mean_pool", "dft"}, default "flatten"
        How 4-D conv activations become (examples, features); see :mod:`replens.conv`.
        ``"dft"`` uses Fourier CCA (:func:`replens.dft_cca`) for cca_mean_rho and cca_r2;
        2-D layers then count as 1 x 1 maps.
    layout : {"NCHW", "NHWC"}, default "NCHW"
        Axis order of 4-D arrays (PyTorch's is NCHW).
    sequence : {"flatten", "time_as_examples", "mean", "last"}, default "flatten"
        How 3-D (n, t, d) activations become (examples, features).
    progress : bool or None, default None
        Show a progress bar on stderr; None shows it only when stderr is a terminal.
    rbf_bandwidth : float, default 1.0
        Bandwidth of rbf_cka as a fraction of the median distance.
    svcca_threshold : float, default 0.99
        Fraction of variance kept by svcca_mean_rho and svcca_r2.
    memory_budget : int, default 4 GiB
        Bytes of per-layer preparations (Gram matrices, bases) held at once.
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64.

    Returns
    -------
    SimilarityMatrix
        ``values`` of shape (n_measures, n_layers_a, n_layers_b), float64.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 8))
    >>> m = rl.compare({"x": x, "x2": x ** 2}, {"y": x @ rng.standard_normal((8, 8))})
    >>> m["linear_cka"].shape
    (2, 1)
    """
    names = check_compare_options(measures, conv, layout, sequence)
    bandwidth = check_positive_number("rbf_bandwidth", rbf_bandwidth)
    threshold = check_positive_number("svcca_threshold", svcca_threshold)
    if threshold > 1:
        raise UnknownOptionError(f"svcca_threshold must be in (0, 1]; got {svcca_threshold!r}.")
    budget = int(check_positive_number("memory_budget", memory_budget))

    layers_a = _named_layers(reps_a, "reps_a")
    layers_b = layers_a if reps_b is None else _named_layers(reps_b, "reps_b")
    mode = dict(conv=conv, layout=layout, sequence=sequence, dtype=dtype)
    xp, matrices_a = _layer_matrices(layers_a, "reps_a", **mode)
    matrices_b = matrices_a if reps_b is None else _layer_matrices(layers_b, "reps_b", **mode)[1]
    names_a = [name for name, _ in layers_a]
    names_b = [name for name, _ in layers_b]
    minimum = 4 if "debiased_linear_cka" in names else 2
    n = _check_examples(names_a + names_b, matrices_a + matrices_b, conv, minimum)

    values = np.full((len(names), len(names_a), len(names_b)), np.nan)
    if conv == "dft":
        _fill_dft(values, names, xp, matrices_a, matrices_b, names_a, names_b,
                  symmetric_input=reps_b is None, budget=budget, progress=progress)
    else:
        itemsize = 4 if resolve_dtype(xp, dtype) == xp.float32 else 8
        widths_a = [int(m.shape[1]) for m in matrices_a]
        widths_b = None if reps_b is None else [int(m.shape[1]) for m in matrices_b]
        options = _Options(_linear_space(n, widths_a, widths_b, itemsize, budget), bandwidth,
                           threshold, dtype)
        done: tuple[str, ...] = ()
        if options.space == "gram":
            done = _fill_linear_gram(values, names, xp, matrices_a, None if reps_b is None else matrices_b,
                                     names_a, names_b, itemsize, budget, progress)
        _fill(values, tuple(name for name in names if name not in done), xp, matrices_a, matrices_b,
              names_a, names_b, symmetric_input=reps_b is None,
              prepared=_PreparedLayers(xp, budget, options), progress=progress, rows=names)
    attrs = {"conv": conv, "layout": layout, "sequence": sequence, "n_examples": n,
             "rbf_bandwidth": bandwidth, "svcca_threshold": threshold,
             "dtype": str(dtype or "float64")}
    return SimilarityMatrix(values, tuple(names_a), tuple(names_b), names, attrs)


def _fill(
    values: np.ndarray, names: tuple[str, ...], xp: Any, matrices_a: list[Array],
    matrices_b: list[Array], names_a: list[str], names_b: list[str], *, symmetric_input: bool,
    prepared: _PreparedLayers, progress: bool | None, rows: tuple[str, ...],
) -> None:
    """Score the pairs of every measure in `names` from per-layer preparations.

    `rows` are the measure names of `values`' first axis.
    """
    families: dict[str, tuple[str, ...]] = {}
    for name in names:
        family = MEASURES[name].family
        families[family] = families.get(family, ()) + (name,)
    pairs = [(i, j) for i in range(len(matrices_a)) for j in range(len(matrices_b))
             if not symmetric_input or j >= i]
    bar = _progress_bar(len(pairs), progress)
    uninformative = []
    row = {name: k for k, name in enumerate(rows)}
    for i, j in pairs:
        for family, wanted in families.items():
            a = prepared.get("a", i, names_a[i], matrices_a[i], family)
            b_side = "a" if symmetric_input else "b"
            b = prepared.get(b_side, j, names_b[j], matrices_b[j], family)
            if family in ("cca", "svcca") and a.rank + b.rank > a.centred.shape[0] - 1:
                uninformative.append((names_a[i], names_b[j]))
            both_ways = symmetric_input and i != j
            for (name, reverse), value in _score_pair(xp, family, wanted, a, b, both_ways).items():
                if reverse:
                    values[row[name], j, i] = value
                else:
                    values[row[name], i, j] = value
                    if both_ways and MEASURES[name].symmetric:
                        values[row[name], j, i] = value
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if uninformative:
        warnings.warn(
            f"{len(uninformative)} layer pairs (e.g. {uninformative[0]}) have more features than "
            f"examples can separate (rank_a + rank_b > n - 1): some canonical correlations are 1 "
            f"whatever the data (Kornblith et al. 2019, Theorem 1), so CCA-family values there "
            f"are uninformative. Use more examples or CKA.",
            UninformativeWarning,
            stacklevel=3,
        )


def _fill_dft(
    values: np.ndarray, names: tuple[str, ...], xp: Any, matrices_a: list[Array],
    matrices_b: list[Array], names_a: list[str], names_b: list[str], *, symmetric_input: bool,
    budget: int, progress: bool | None,
) -> None:
    """Fourier CCA (:func:`replens.dft_cca`) for every pair, each layer's spectra and bases once.

    A layer's preparation depends on the other layer's spatial size (the frequencies
    kept), so it is cached per layer and per set of frequencies read, within the budget.
    """
    from ._backend import machine_epsilon
    from .dft import frequency_plan, prepare_dft, score_dft

    def as_map(matrix: Array) -> Array:
        return matrix[:, None, None, :] if len(matrix.shape) == 2 else matrix

    maps_a = [as_map(m) for m in matrices_a]
    maps_b = maps_a if symmetric_input else [as_map(m) for m in matrices_b]
    _check_dft_sizes(names_a, maps_a, names_b, maps_b)
    eps = machine_epsilon(xp, maps_a[0].dtype)
    prepared = _PreparedLayers(xp, budget, None)
    plans: dict[tuple[tuple[int, ...], tuple[int, ...]], Any] = {}

    def layer(side: str, index: int, label: str, matrix: Array, plan: Any, reads: str) -> Any:
        rows, cols = (plan.rows_x, plan.cols_x) if reads == "x" else (plan.rows_y, plan.cols_y)
        key = (side, index, rows.tobytes(), cols.tobytes())
        return prepared.cached(key, lambda: prepare_dft(xp, matrix, plan, reads, eps, label))

    pairs = [(i, j) for i in range(len(maps_a)) for j in range(len(maps_b))
             if not symmetric_input or j >= i]
    bar = _progress_bar(len(pairs), progress)
    side_b, argument_b = ("a", "reps_a") if symmetric_input else ("b", "reps_b")
    for i, j in pairs:
        sizes = (tuple(maps_a[i].shape[1:3]), tuple(maps_b[j].shape[1:3]))
        if sizes not in plans:
            plans[sizes] = frequency_plan(*sizes)
        plan = plans[sizes]
        result = score_dft(xp, layer("a", i, f"reps_a[{names_a[i]!r}]", maps_a[i], plan, "x"),
                           layer(side_b, j, f"{argument_b}[{names_b[j]!r}]", maps_b[j], plan, "y"),
                           plan)
        for k, name in enumerate(names):
            values[k, i, j] = result.mean_rho if name == "cca_mean_rho" else result.r2
            if symmetric_input:
                values[k, j, i] = values[k, i, j]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()


def _check_dft_sizes(names_a: list[str], maps_a: list[Array], names_b: list[str], maps_b: list[Array]
                     ) -> None:
    """Layers of different spatial sizes must be square (google's crop rule), checked before work."""
    sizes_a = {tuple(int(s) for s in m.shape[1:3]) for m in maps_a}
    sizes_b = {tuple(int(s) for s in m.shape[1:3]) for m in maps_b}
    if len(sizes_a | sizes_b) < 2:
        return
    for name, m in list(zip(names_a, maps_a)) + list(zip(names_b, maps_b)):
        h, w = (int(s) for s in m.shape[1:3])
        if h != w:
            raise ShapeError(
                f"conv='dft' compares layers of different spatial sizes by keeping the smaller "
                f"map's frequencies, which needs square maps, but layer {name!r} is {h}x{w} (h x w). "
                f"To fix: crop or pool the layers to square maps, or to one spatial size.")
