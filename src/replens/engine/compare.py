"""compare(): every measure between every layer of A and every layer of B, per-layer work shared.

A measure (:class:`replens.Measure`) splits into a per-layer *prepare* step (centring, an
orthonormal basis, a Gram matrix, an SVD truncation) and a per-pair *score* step. Comparing
L_a layers with L_b layers therefore costs L_a + L_b preparations and L_a x L_b scores,
instead of 2 L_a L_b preparations for a loop over a pair function. Measures whose
preparations are equal (CCA, PWCCA and linear regression share the basis; linear CKA and HSIC
the centred features) share them here too, and measures scoring one pair share its work
(one SVD of ``q_x^T q_y`` for every CCA-family measure).

Two whole-matrix paths replace the pair loop where they are faster: linear-kernel measures in
Gram space come from one blocked pass over all layers' Gram matrices, and ``conv="dft"``
prepares each layer's spectra once (Fourier CCA).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from .. import _progress
from .._backend import Array, machine_epsilon, namespace_of, release_rows, resolve_dtype, to_device, to_numpy
from .._validate import check_positive_number, check_values, check_values_in_blocks
from ..errors import ShapeError, TooFewExamplesError, UninformativeWarning, UnknownOptionError
from ..measures.blocks import (CrossTable, blocked_basis, cross_moments, feature_inner_products, held_basis,
                               layer_scale, whitened_product)
from ..measures.cca import prepare_cca
from ..measures.cka import DEFAULT_RBF_BANDWIDTH, GramTerms, gram_inner_products, scaled_centred_layers
from ..measures.dft import frequency_plan, prepare_dft, score_dft
from ..measures.registry import Measure, Plan, as_measure, checked_value, measure
from ..measures.registry import measures as registered_measures
from ..results.matrix import SimilarityMatrix
from ._plan import feature_groups, gram_block_rows, linear_space, scan_rows, whole_layers_fit
from ._prepared import PreparedLayers
from .layouts import as_matrix, check_modes

Representations = Union[Mapping[str, Array], Sequence[tuple[str, Array]]]
MeasureLike = Union[str, Measure, Any]

DEFAULT_MEMORY_BUDGET = 4 * 1024**3
DEFAULT_SVCCA_THRESHOLD = 0.99


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


def resolve_measures(
    measures: MeasureLike | Iterable[MeasureLike], *, rbf_bandwidth: float = DEFAULT_RBF_BANDWIDTH,
    svcca_threshold: float = DEFAULT_SVCCA_THRESHOLD,
) -> tuple[Measure, ...]:
    """Measures from names, configured measures or callables, checked before any data is read.

    A bare name takes compare's `rbf_bandwidth` / `svcca_threshold` for its option (so
    ``"rbf_cka"`` with ``rbf_bandwidth=0.5`` is ``rl.measure("rbf_cka", bandwidth=0.5)``). A
    measure given twice is refused: its row would be computed twice under one label.
    """
    items = (measures,) if isinstance(measures, (str, Measure)) or callable(measures) else tuple(measures)
    if not items:
        names = ", ".join(info.name for info in registered_measures())
        raise UnknownOptionError(f"measures is empty; choose from {names}.")
    bandwidth = check_positive_number("rbf_bandwidth", rbf_bandwidth)
    threshold = check_positive_number("svcca_threshold", svcca_threshold)
    if threshold > 1:
        raise UnknownOptionError(f"svcca_threshold must be in (0, 1]; got {svcca_threshold!r}.")
    resolved = []
    for item in items:
        if item == "rbf_cka" and bandwidth != DEFAULT_RBF_BANDWIDTH:
            resolved.append(measure("rbf_cka", bandwidth=bandwidth))
        elif item in ("svcca_mean_rho", "svcca_r2") and threshold != DEFAULT_SVCCA_THRESHOLD:
            resolved.append(measure(item, threshold=threshold))
        else:
            resolved.append(as_measure(item))
    labels = [m.label for m in resolved]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UnknownOptionError(f"measures lists {', '.join(repeated)} more than once; give each "
                                 f"measure once.")
    return tuple(resolved)


def check_compare_options(measures: MeasureLike | Iterable[MeasureLike], conv: str, layout: str,
                          sequence: str, **options: Any) -> tuple[Measure, ...]:
    """Validate compare()'s measures and modes before any data is read; return the measures."""
    resolved = resolve_measures(measures, **options)
    check_modes(conv, layout, sequence)
    if conv == "dft":
        unsupported = [m.label for m in resolved if m.definition.from_dft is None]
        if unsupported:
            supported = [info.name for info in registered_measures() if measure(info.name).definition.from_dft]
            raise UnknownOptionError(
                f"conv='dft' computes Fourier CCA, so it supports the measures {tuple(supported)}; got "
                f"{tuple(unsupported)}. Use another conv mode for the others.")
    return resolved


def _work_dtype(resolved: Sequence[Measure], dtype: Any) -> Any:
    """The one precision a comparison runs in: compare's `dtype`, or the measures' own.

    Every layer is cast once, so all measures share one precision; a measure configured with
    a different ``dtype`` than compare's is refused rather than silently overridden.
    """
    if dtype is not None:
        dtype = resolve_dtype(np, dtype).__name__
    asked = {m.options["dtype"] for m in resolved if m.options.get("dtype") is not None}
    if dtype is not None:
        asked.add(dtype)
    if len(asked) > 1:
        raise UnknownOptionError(
            f"the measures ask for different precisions ({', '.join(sorted(asked))}); one comparison "
            f"runs in one dtype. Configure them alike, or pass compare(dtype=...) and leave the "
            f"measures' dtype at None.")
    return next(iter(asked), None)


def _layer_matrices(
    layers: list[tuple[str, Array]], argument: str, *, conv: str, layout: str, sequence: str,
    dtype: Any, device: Any, budget: int,
) -> tuple[Any, list[Array], list[tuple[np.ndarray, np.ndarray]]]:
    """The layers as validated (examples, features) matrices, and their column minima and maxima.

    A 2-D layer is validated block by block and kept in its own dtype (a float32 memory map
    stays one, never cast to float64 whole); the passes that use it cast one block, or one
    layer, at a time. Other layers are cast whole, then reshaped by the conv / sequence mode.
    """
    xp, arrays = namespace_of(*(to_device(array, device) for _, array in layers))
    compute = resolve_dtype(xp, dtype)
    matrices, ranges = [], []
    for (name, _), array in zip(layers, arrays):
        label = f"{argument}[{name!r}]"
        if len(array.shape) == 2:
            rows = scan_rows(int(array.shape[0]), int(array.shape[1]), budget)
            ranges.append(check_values_in_blocks(
                xp, label, array, compute, block_rows=rows,
                after_block=lambda start, stop, array=array: release_rows(array, start, stop)))
            matrices.append(array)
            continue
        array = check_values(xp, label, array, compute)
        matrix = as_matrix(xp, name, array, conv=conv, layout=layout, sequence=sequence)
        if len(matrix.shape) == 2 and int(matrix.shape[0]) and int(matrix.shape[1]):
            ranges.append((to_numpy(xp.min(matrix, axis=0)), to_numpy(xp.max(matrix, axis=0))))
        else:
            ranges.append((np.zeros(0), np.zeros(0)))
        matrices.append(matrix)
    return xp, matrices, ranges


def _check_examples(sides: list[tuple[str, list[str], list[Array]]], conv: str, minimum: int) -> int:
    """The one number of examples of every layer of A and B (each side counted on its own: A and
    B often share layer names, e.g. two seeds of one architecture)."""
    per_side = {argument: {name: int(m.shape[0]) for name, m in zip(names, matrices)}
                for argument, names, matrices in sides}
    counts = [count for side in per_side.values() for count in side.values()]
    if len(set(counts)) > 1:
        hint = (" (spatial_as_examples multiplies examples by h*w, so every layer needs the same "
                "spatial size)" if conv == "spatial_as_examples" else "")
        listed = ", ".join(f"{argument} {side}" for argument, side in per_side.items())
        raise ShapeError(f"every layer must have the same number of examples{hint}; got {listed}. "
                         f"Rows must be the same inputs, in the same order, in every layer.")
    n = counts[0]
    if n < minimum:
        raise TooFewExamplesError(f"need at least {minimum} examples for these measures; got {n}.")
    return n


def compare(
    reps_a: Representations,
    reps_b: Representations | None = None,
    measures: MeasureLike | Iterable[MeasureLike] = ("linear_cka",),
    *,
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    progress: bool | None = None,
    rbf_bandwidth: float = DEFAULT_RBF_BANDWIDTH,
    svcca_threshold: float = DEFAULT_SVCCA_THRESHOLD,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    dtype: Any = None,
    device: Any = None,
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
    measures : name, Measure, callable, or an iterable of them; default ("linear_cka",)
        Names from :func:`replens.measures` (linear_cka, debiased_linear_cka, rbf_cka,
        linear_hsic, cca_mean_rho, cca_r2, svcca_mean_rho, svcca_r2, pwcca with weights from
        the A layer, linear_regression_r2: how well the B layer predicts the A layer, and
        any registered with :func:`replens.register_measure`), configured measures
        (``rl.measure("svcca_mean_rho", threshold=0.95)``), or callables ``f(X, Y) -> float``.
        The result's ``measures`` are their labels.
    conv : {"flatten", "spatial_as_examples", "mean_pool", "dft"}, default "flatten"
        How 4-D conv activations become (examples, features); see :mod:`replens.engine.layouts`.
        ``"dft"`` uses Fourier CCA (:func:`replens.dft_cca`) for cca_mean_rho and cca_r2;
        2-D layers then count as 1 x 1 maps.
    layout : {"NCHW", "NHWC"}, default "NCHW"
        Axis order of 4-D arrays (PyTorch's is NCHW).
    sequence : {"flatten", "time_as_examples", "mean", "last"}, default "flatten"
        How 3-D (n, t, d) activations become (examples, features).
    progress : bool or None, default None
        Show a progress bar on stderr; None shows it only when stderr is a terminal.
    rbf_bandwidth : float, default 1.0
        Bandwidth of a bare ``"rbf_cka"`` as a fraction of the median distance.
    svcca_threshold : float, default 0.99
        Fraction of variance kept by a bare ``"svcca_mean_rho"`` / ``"svcca_r2"``.
    memory_budget : int, default 4 GiB
        Bytes of per-layer preparations (Gram matrices, bases), accumulators and row blocks
        held at once. 2-D layers are read block by block, so an activation cache larger than
        memory (``ActivationCache.as_dict()``, float32 memory maps) can be compared: the
        linear-kernel measures (linear CKA, debiased CKA, linear HSIC) accumulate their
        feature-space products over row blocks, and the CCA family and regression build their
        bases from row blocks (``Xc^T Xc`` per layer, ``q_i^T q_j`` per group of pairs) when the
        whole layers do not fit half the budget, each block cast to float64 on its own. Not
        bounded: RBF CKA and callable kernels (an n x n Gram matrix per layer, from the layer
        cast whole), and a CCA-family layer wider than n or too ill-conditioned for the Gram
        route (its basis needs the SVD of the whole layer).
    dtype : {None, "float64", "float32"}, default None
        Working precision; None means float64 (or the measures' own ``dtype`` option).
    device : str or torch.device, optional
        Where the work runs: None keeps each input where it is (torch tensors on their
        device, numpy on the host); ``"cuda"`` moves numpy inputs there (needs torch).

    Returns
    -------
    SimilarityMatrix
        ``values`` of shape (n_measures, n_layers_a, n_layers_b), float64; ``measures``
        holds the measures' labels and ``attrs["measure_options"]`` their options;
        ``attrs["uninformative"]`` maps a measure's label to the ``[i, j]`` entries whose value
        Theorem 1 of the CKA paper forces (CCA family, rank A + rank B > n - 1, after any
        SVCCA truncation; ``conv="dft"``: at some frequency), measures without such entries absent.

    Raises
    ------
    ReplensError
        Before any work for bad inputs or options; during the work when a user's measure
        returns NaN, a non-number or a value outside its bounds (naming the layer pair).

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 8))
    >>> m = rl.compare({"x": x, "x2": x ** 2}, {"y": x @ rng.standard_normal((8, 8))})
    >>> m["linear_cka"].shape
    (2, 1)
    """
    resolved = check_compare_options(measures, conv, layout, sequence, rbf_bandwidth=rbf_bandwidth,
                                     svcca_threshold=svcca_threshold)
    budget = int(check_positive_number("memory_budget", memory_budget))
    work_dtype = _work_dtype(resolved, dtype)

    layers_a = _named_layers(reps_a, "reps_a")
    layers_b = layers_a if reps_b is None else _named_layers(reps_b, "reps_b")
    mode = dict(conv=conv, layout=layout, sequence=sequence, dtype=work_dtype, device=device, budget=budget)
    xp, matrices_a, ranges_a = _layer_matrices(layers_a, "reps_a", **mode)
    if reps_b is None:
        matrices_b, ranges_b = matrices_a, ranges_a
    else:
        matrices_b, ranges_b = _layer_matrices(layers_b, "reps_b", **mode)[1:]
    names_a = [name for name, _ in layers_a]
    names_b = [name for name, _ in layers_b]
    minimum = max(m.info.min_examples for m in resolved)
    sides = [("reps_a", names_a, matrices_a)] + ([] if reps_b is None else [("reps_b", names_b, matrices_b)])
    n = _check_examples(sides, conv, minimum)

    values = np.full((len(resolved), len(names_a), len(names_b)), np.nan)
    job = _Job(values, resolved, xp, matrices_a, matrices_b, names_a, names_b,
               symmetric_input=reps_b is None, budget=budget, progress=progress,
               compute=resolve_dtype(xp, work_dtype), ranges=(ranges_a, ranges_b))
    if conv == "dft":
        job.fill_dft()
    else:
        itemsize = 4 if resolve_dtype(xp, work_dtype) == xp.float32 else 8
        widths_a = [int(m.shape[1]) for m in matrices_a]
        widths_b = None if reps_b is None else [int(m.shape[1]) for m in matrices_b]
        space = linear_space(n, widths_a, widths_b, itemsize, budget)
        done = job.fill_linear_gram(itemsize) if space == "gram" else job.fill_linear_features(itemsize)
        rest = [k for k in range(len(resolved)) if k not in done]
        done = job.fill_bases_from_blocks(rest, itemsize)
        job.fill_pairs([k for k in rest if k not in done], Plan(space=space))
    attrs = {"conv": conv, "layout": layout, "sequence": sequence, "n_examples": n,
             "rbf_bandwidth": rbf_bandwidth, "svcca_threshold": svcca_threshold,
             "dtype": str(work_dtype or "float64"),
             "measure_options": {m.label: {"name": m.name, "options": _jsonable(m.options)} for m in resolved},
             "bounds": {m.label: list(m.info.bounds) for m in resolved},
             "uninformative": job.uninformative_entries()}
    return SimilarityMatrix(values, tuple(names_a), tuple(names_b), tuple(m.label for m in resolved), attrs)


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)
            for key, value in options.items()}


class _Job:
    """One comparison's state: the measures, the layers, the values being filled."""

    def __init__(self, values: np.ndarray, measures: tuple[Measure, ...], xp: Any, matrices_a: list[Array],
                 matrices_b: list[Array], names_a: list[str], names_b: list[str], *, symmetric_input: bool,
                 budget: int, progress: bool | None, compute: Any,
                 ranges: tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]) -> None:
        self.values, self.measures, self.xp = values, measures, xp
        self.matrices_a, self.matrices_b = matrices_a, matrices_b
        self.names_a, self.names_b = names_a, names_b
        self.symmetric_input, self.budget, self.progress = symmetric_input, budget, progress
        self.compute, self.ranges = compute, ranges
        self.flagged: dict[int, set[tuple[int, int]]] = {}  # measure -> entries Theorem 1 forces

    def cast(self, matrix: Array) -> Array:
        """One whole layer in the working dtype (no copy when it already is), for a preparation."""
        return self.xp.astype(matrix, self.compute, copy=False)

    def pairs(self) -> list[tuple[int, int]]:
        return [(i, j) for i in range(len(self.matrices_a)) for j in range(len(self.matrices_b))
                if not self.symmetric_input or j >= i]

    def pair_names(self, i: int, j: int) -> tuple[str, str]:
        return f"reps_a[{self.names_a[i]!r}]", f"reps_{'a' if self.symmetric_input else 'b'}[{self.names_b[j]!r}]"

    def fill_pairs(self, rows: list[int], plan: Plan) -> None:
        """Score every pair of the measures in `rows` from per-layer preparations."""
        if not rows:
            return
        prepared = PreparedLayers(self.budget)
        side_b = "a" if self.symmetric_input else "b"
        uninformative: list[tuple[str, str]] = []
        with _progress.bar(self.progress, total=len(self.pairs()), desc="replens compare", unit="pair") as bar:
            for i, j in self.pairs():
                memo: dict = {}
                names = self.pair_names(i, j)
                flagged = False
                for k in rows:
                    m = self.measures[k]
                    a = prepared.cached(("a", i, m.preparation_key), lambda: m.prepare_checked(
                        self.xp, self.cast(self.matrices_a[i]), names[0], plan))
                    b = prepared.cached((side_b, j, m.preparation_key), lambda: m.prepare_checked(
                        self.xp, self.cast(self.matrices_b[j]), names[1], plan))
                    check = m.definition.uninformative
                    if check is not None and check(a.value, b.value, a.n):
                        flagged = True
                        self.flag(k, i, j)
                    self._score(k, m, a, b, i, j, memo, names)
                if flagged:
                    uninformative.append((self.names_a[i], self.names_b[j]))
                bar.update(1)
        warn_uninformative(uninformative)

    def flag(self, k: int, i: int, j: int) -> None:
        """Record entry (i, j) of measure k as forced by Theorem 1 (rank condition: both ways)."""
        entries = self.flagged.setdefault(k, set())
        entries.add((i, j))
        if self.symmetric_input:
            entries.add((j, i))

    def uninformative_entries(self) -> dict[str, list[list[int]]]:
        """``{measure label: [[i, j], ...]}`` of the flagged entries, for ``attrs["uninformative"]``."""
        return {self.measures[k].label: [list(entry) for entry in sorted(entries)]
                for k, entries in sorted(self.flagged.items())}

    def _score(self, k: int, m: Measure, a: Any, b: Any, i: int, j: int, memo: dict,
               names: tuple[str, str]) -> None:
        both_ways = self.symmetric_input and i != j
        if both_ways and not m.info.symmetric:
            self.values[k, i, j], self.values[k, j, i] = m.score_both(a, b, memo, names=names)
            return
        self.values[k, i, j] = m.score(a, b, memo, names=names)
        if both_ways:
            self.values[k, j, i] = self.values[k, i, j]

    def fill_linear_gram(self, itemsize: int) -> tuple[int, ...]:
        """Linear-kernel measures for every pair from one blocked pass over the Gram matrices.

        Returns the rows (measure indices) it filled.
        """
        rows = tuple(k for k, m in enumerate(self.measures) if m.definition.from_gram is not None)
        if not rows:
            return ()
        xp = self.xp
        centred_a, exponents_a = scaled_centred_layers(
            xp, [self.cast(m) for m in self.matrices_a], [f"reps_a[{name!r}]" for name in self.names_a])
        centred_b, exponents_b = (None, exponents_a) if self.symmetric_input else scaled_centred_layers(
            xp, [self.cast(m) for m in self.matrices_b], [f"reps_b[{name!r}]" for name in self.names_b])
        n = int(centred_a[0].shape[0])
        layers = len(centred_a) + (0 if centred_b is None else len(centred_b))
        with _progress.bar(self.progress, total=n, desc="replens compare (Gram rows)", unit="row") as bar:
            cross, self_a, self_b = gram_inner_products(
                xp, centred_a, centred_b, block_rows=gram_block_rows(n, layers, itemsize, self.budget),
                on_rows=bar.update)
        norms_a = [xp.sum(c * c, axis=1) for c in centred_a]
        norms_b = norms_a if centred_b is None else [xp.sum(c * c, axis=1) for c in centred_b]
        for i in range(len(self.names_a)):
            for j in range(len(self.names_b)):
                terms = GramTerms(xp, n, float(cross[i, j]), float(self_a[i]), float(self_b[j]),
                                  norms_a[i], norms_b[j], exponents_a[i], exponents_b[j])
                for k in rows:
                    m = self.measures[k]
                    self.values[k, i, j] = checked_value(m, m.definition.from_gram(terms, m.options),
                                                         *self.pair_names(i, j))
        return rows

    def fill_linear_features(self, itemsize: int) -> tuple[int, ...]:
        """Linear-kernel measures for every pair from feature-space products accumulated over
        row blocks (:func:`replens.measures.blocks.feature_inner_products`), within the budget.

        No layer is cast to the working dtype whole: a float32 memory map larger than memory is
        read block by block (its pages released after each block). Returns the rows filled.
        """
        rows = tuple(k for k, m in enumerate(self.measures) if m.definition.from_gram is not None)
        if not rows:
            return ()
        xp, compute = self.xp, self.compute
        layers, ranges, labels, index_b = self.stacked_layers()
        n = int(layers[0].shape[0])
        scales = [self.scale(k, layers, ranges, labels) for k in range(len(layers))]
        pairs = sorted({(i, i) for i in range(len(layers))}
                       | {(min(i, j), max(i, j)) for i in range(len(self.matrices_a)) for j in index_b})
        groups, block_rows = feature_groups([s.width for s in scales], pairs, n, itemsize, self.budget)
        # Row norms cost O(n p) per layer beside the O(n p^2) products; the unbiased estimator needs them.
        with _progress.bar(self.progress, total=n * len(groups), desc="replens compare (feature rows)",
                           unit="row") as bar:
            products, norms = feature_inner_products(
                xp, layers, scales, groups, compute=compute, block_rows=block_rows, row_norms=True,
                on_rows=bar.update, after_block=lambda k, start, stop: release_rows(layers[k], start, stop))
        for i in range(len(self.names_a)):
            for j in range(len(self.names_b)):
                jj = index_b[j]
                terms = GramTerms(xp, n, products[(min(i, jj), max(i, jj))], products[(i, i)], products[(jj, jj)],
                                  norms[i], norms[jj], scales[i].exponent, scales[jj].exponent)
                for k in rows:
                    m = self.measures[k]
                    self.values[k, i, j] = checked_value(m, m.definition.from_gram(terms, m.options),
                                                         *self.pair_names(i, j))
        return rows

    def stacked_layers(self) -> tuple[list[Array], list[Any], list[str], list[int]]:
        """Every distinct layer once (A's, then B's unless A is compared with itself), their
        value ranges and labels, and the index of each layer of B in that list."""
        two_sided = not self.symmetric_input
        layers = list(self.matrices_a) + (list(self.matrices_b) if two_sided else [])
        ranges = list(self.ranges[0]) + (list(self.ranges[1]) if two_sided else [])
        labels = [f"reps_a[{name!r}]" for name in self.names_a] + (
            [f"reps_b[{name!r}]" for name in self.names_b] if two_sided else [])
        offset = len(self.matrices_a) if two_sided else 0
        return layers, ranges, labels, [offset + j for j in range(len(self.matrices_b))]

    def scale(self, k: int, layers: list[Array], ranges: list[Any], labels: list[str], *,
              block_rows: int | None = None) -> Any:
        """Layer k's exponent and column means (:func:`replens.measures.blocks.layer_scale`): one pass."""
        layer, (low, high) = layers[k], ranges[k]
        n, p = int(layer.shape[0]), int(layer.shape[1])
        rows = scan_rows(n, p, self.budget) if block_rows is None else block_rows
        return layer_scale(self.xp, layer, low, high, self.compute, block_rows=rows,
                           name=labels[k], after_block=lambda start, stop: release_rows(layer, start, stop))

    def fill_bases_from_blocks(self, rows: list[int], itemsize: int) -> tuple[int, ...]:
        """The CCA family and regression (measures with a ``from_basis`` hook) from bases built
        out of row blocks, when whole layers do not fit the budget (:func:`whole_layers_fit`).

        Per layer: its column means (one pass), ``Xc^T Xc`` (one pass; a second for the
        second whitening when ``eps cond^2 > 1e-11``) and the whitening ``T`` with
        ``q = Xc T`` (:func:`replens.measures.blocks.blocked_basis`), kept in a quarter of the budget.
        Per group of pairs (:func:`feature_groups`, in another quarter): one pass accumulating
        ``Xc_i^T Xc_j`` (or ``q_i^T q_j`` for a layer that needed two whitenings), then
        ``q_i^T q_j = T_i^T (Xc_i^T Xc_j) T_j``, as for implicit bases in memory (the same
        ``n p_i p_j`` cost per pair). Scores then follow from the small products. No layer is cast
        whole, except one that is wider than n or too ill-conditioned for the Gram route
        (``eps cond^2 > 1e-4``): its basis needs the SVD of the whole layer, as without a
        budget. Returns the rows (measure indices) it filled.
        """
        rows = [k for k in rows if self.measures[k].definition.from_basis is not None]
        layers, ranges, labels, index_b = self.stacked_layers()
        n = int(layers[0].shape[0])
        if not rows or whole_layers_fit(n, [int(layer.shape[1]) for layer in layers], self.budget):
            return ()
        xp, compute = self.xp, self.compute
        table = CrossTable()
        # A quarter of the budget keeps bases (p x p each) and the measures' preparations across
        # groups; each group's products and row blocks are planned within another quarter; the
        # rest is for the temporaries of whitening and scoring (p x p products, their SVDs and
        # LAPACK workspaces, about 9 p x p matrices at the peak) and the allocator's slack.
        held = PreparedLayers(self.budget // 4)

        def build_basis(k: int) -> tuple[Any, Any]:
            # Bases are built while others are held: their passes read blocks within an eighth
            # of the budget (a block's few working copies included).
            layer = layers[k]
            rows = scan_rows(n, int(layer.shape[1]), self.budget // 8)
            found = blocked_basis(xp, layer, self.scale(k, layers, ranges, labels, block_rows=rows), compute,
                                  block_rows=rows, table=table, key=k,
                                  after_block=lambda start, stop: release_rows(layer, start, stop))
            return found if found is not None else held_basis(prepare_cca(xp, self.cast(layer), labels[k]), table, k)

        pairs = [(i, j if self.symmetric_input else index_b[j]) for i, j in self.pairs()]
        where = {pair: (i, j) for pair, (i, j) in zip(pairs, self.pairs())}
        groups, block_rows = feature_groups([int(layer.shape[1]) for layer in layers], pairs, n, itemsize,
                                            self.budget // 4)
        uninformative: list[tuple[str, str]] = []
        with _progress.bar(self.progress, total=n * len(groups), desc="replens compare (basis rows)",
                           unit="row") as bar:
            for group, rows_per_block in zip(groups, block_rows):
                involved = sorted({k for pair in group for k in pair})
                built = {k: held.cached(("basis", k), lambda k=k: build_basis(k)) for k in involved}
                products = cross_moments(xp, {k: built[k][1].rows for k in involved}, [group], n=n,
                                         block_rows=[rows_per_block], on_rows=bar.update)[0]
                table.products = {}
                for i, j in group:  # each raw product freed as it is whitened
                    table.products[(i, j)] = whitened_product(products.pop((i, j)), *built[i], *built[j])
                for pair in group:
                    i, j = where[pair]
                    names = self.pair_names(i, j)
                    memo: dict = {}
                    flagged = False
                    for k in rows:
                        m = self.measures[k]
                        a, b = (held.cached((side, m.preparation_key), lambda side=side: m.prepare_from_basis(
                            xp, built[side][0], n, labels[side])) for side in pair)
                        check = m.definition.uninformative
                        if check is not None and check(a.value, b.value, n):
                            flagged = True
                            self.flag(k, i, j)
                        self._score(k, m, a, b, i, j, memo, names)
                    if flagged:
                        uninformative.append((self.names_a[i], self.names_b[j]))
                table.products = {}
        warn_uninformative(uninformative)
        return tuple(rows)

    def fill_dft(self) -> None:
        """Fourier CCA (:func:`replens.dft_cca`) for every pair, each layer's spectra and bases once.

        A layer's preparation depends on the other layer's spatial size (the frequencies
        kept), so it is cached per layer and per set of frequencies read, within the budget.
        """
        xp = self.xp

        def as_map(matrix: Array) -> Array:
            return self.cast(matrix)[:, None, None, :] if len(matrix.shape) == 2 else matrix

        maps_a = [as_map(m) for m in self.matrices_a]
        maps_b = maps_a if self.symmetric_input else [as_map(m) for m in self.matrices_b]
        _check_dft_sizes(self.names_a, maps_a, self.names_b, maps_b)
        eps = machine_epsilon(xp, maps_a[0].dtype)
        prepared = PreparedLayers(self.budget)
        plans: dict[tuple[tuple[int, ...], tuple[int, ...]], Any] = {}

        def layer(side: str, index: int, label: str, matrix: Array, plan: Any, reads: str) -> Any:
            rows, cols = (plan.rows_x, plan.cols_x) if reads == "x" else (plan.rows_y, plan.cols_y)
            key = (side, index, rows.tobytes(), cols.tobytes())
            return prepared.cached(key, lambda: prepare_dft(xp, matrix, plan, reads, eps, label))

        side_b = "a" if self.symmetric_input else "b"
        with _progress.bar(self.progress, total=len(self.pairs()), desc="replens compare", unit="pair") as bar:
            for i, j in self.pairs():
                sizes = (tuple(maps_a[i].shape[1:3]), tuple(maps_b[j].shape[1:3]))
                if sizes not in plans:
                    plans[sizes] = frequency_plan(*sizes)
                plan = plans[sizes]
                names = self.pair_names(i, j)
                result = score_dft(xp, layer("a", i, names[0], maps_a[i], plan, "x"),
                                   layer(side_b, j, names[1], maps_b[j], plan, "y"), plan)
                forced = bool(np.any(result.rank.sum(axis=-1) > int(maps_a[i].shape[0]) - 1))
                for k, m in enumerate(self.measures):
                    if forced:
                        self.flag(k, i, j)
                    self.values[k, i, j] = checked_value(m, m.definition.from_dft(result, m.options), *names)
                    if self.symmetric_input:
                        self.values[k, j, i] = self.values[k, i, j]
                bar.update(1)


def warn_uninformative(pairs: list[tuple[str, str]]) -> None:
    """One UninformativeWarning for the layer pairs whose CCA-family values Theorem 1 forces."""
    if pairs:
        warnings.warn(
            f"{len(pairs)} layer pairs (e.g. {pairs[0]}) have more features than "
            f"examples can separate (rank_a + rank_b > n - 1): some canonical correlations are 1 "
            f"whatever the data (Kornblith et al. 2019, Theorem 1), so CCA-family values there "
            f"are uninformative. Use more examples or CKA.",
            UninformativeWarning,
            stacklevel=4,
        )


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
