"""One measure over layers of A x layers of B, under permutations, left-out groups and resamples.

Every statistic reduces to four questions about a grid of layer pairs: its values, its values
with the rows of every B layer permuted, with one group of rows left out, and on a resample.
:class:`GenericGrid` answers them for any measure from its per-layer ``prepare`` and per-pair
``score`` (each A layer prepared once; only the changed side re-prepared); :class:`KernelGrid`
answers them for the kernel built-ins from one centred layer each (see ``_kernel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array, to_device_like, to_numpy
from ..errors import DegenerateInputError
from ..measures.cka import centred_layers, frobenius_inner, prepare_kernel, squared_frobenius
from ..measures.registry import Measure, Plan
from ._checks import Groups
from ._kernel import debiased_term, left_out_terms, weighted_terms

# Bytes of permuted copies and products held at once by a batch of permutations.
BATCH_BYTES = 256 * 1024**2
# A layer pair meets in feature space while p q <= FEATURE_RATIO n, else in Gram space
# (an n^2 gather per permutation beats an n p q product there).
FEATURE_RATIO = 64


@dataclass(frozen=True)
class KernelSpec:
    """Which closed forms a kernel measure takes: CKA or (biased, linear) HSIC."""

    statistic: str
    debiased: bool
    kernel: str
    bandwidth: float | None = None


def kernel_spec(measure: Measure) -> KernelSpec | None:
    """The fast path of a built-in kernel measure, None for every other measure."""
    if not measure.info.builtin:
        return None
    if measure.name == "linear_cka":
        return KernelSpec("cka", False, "linear")
    if measure.name == "debiased_linear_cka":
        return KernelSpec("cka", True, "linear")
    if measure.name == "linear_hsic":
        return KernelSpec("hsic", False, "linear")
    if measure.name == "rbf_cka":
        return KernelSpec("cka", False, "rbf", measure.options["bandwidth"])
    return None


def make_grid(measure: Measure, xp: Any, layers_a: list[Array], layers_b: list[Array],
              names_a: list[str], names_b: list[str], *, fast: bool = True) -> Any:
    """The grid of `measure` over the (validated, cast, 2-D) layers; `fast=False` forces the
    generic path (tests compare the two)."""
    spec = kernel_spec(measure) if fast else None
    if spec is None:
        return GenericGrid(measure, xp, layers_a, layers_b, names_a, names_b)
    return KernelGrid(measure, spec, xp, layers_a, layers_b, names_a, names_b)


def _rows(xp: Any, x: Array, rows: np.ndarray) -> Array:
    return xp.take(x, to_device_like(x, np.ascontiguousarray(rows, dtype=np.int64)), axis=0)


class GenericGrid:
    """Any measure, from ``prepare`` and ``score``: A layers prepared once, B re-prepared."""

    def __init__(self, measure: Measure, xp: Any, layers_a: list[Array], layers_b: list[Array],
                 names_a: list[str], names_b: list[str]) -> None:
        self.measure, self.xp = measure, xp
        self.layers_a, self.layers_b = layers_a, layers_b
        self.names_a, self.names_b = names_a, names_b
        self.n = int(layers_a[0].shape[0])
        self.prepared_a = self._prepare(layers_a, names_a)
        self.prepared_b = self.prepared_a if layers_b is layers_a else self._prepare(layers_b, names_b)

    def _prepare(self, layers: list[Array], names: list[str], rows: np.ndarray | None = None,
                 what: str = "") -> list[Any]:
        return [self.measure.prepare_checked(
            self.xp, layer if rows is None else _rows(self.xp, layer, rows), name + what, Plan())
            for layer, name in zip(layers, names)]

    def _scores(self, prepared_a: list[Any], prepared_b: list[Any], what: str = "") -> np.ndarray:
        return np.array([[self.measure.score(a, b, names=(name_a + what, name_b + what))
                          for b, name_b in zip(prepared_b, self.names_b)]
                         for a, name_a in zip(prepared_a, self.names_a)])

    def uninformative(self) -> bool:
        """Whether Theorem 1 of the CKA paper forces the value of some pair."""
        check = self.measure.definition.uninformative
        return check is not None and any(check(a.value, b.value, a.n) for a in self.prepared_a
                                         for b in self.prepared_b)

    def observed(self) -> np.ndarray:
        return self._scores(self.prepared_a, self.prepared_b)

    def permuted(self, permutations: np.ndarray) -> np.ndarray:
        """Values with the rows of every B layer permuted, shape (n_permutations, La, Lb)."""
        return np.stack([self._scores(self.prepared_a, self._prepare(self.layers_b, self.names_b, order,
                                                                       " (permuted)"))
                         for order in permutations])

    def left_out(self, groups: Groups) -> np.ndarray:
        """Values with each group of rows left out in turn, shape (n_groups, La, Lb)."""
        out = []
        for k in range(groups.n_groups):
            keep = np.flatnonzero(groups.labels != k)
            what = f" (group {k} left out)"
            prepared_a = self._prepare(self.layers_a, self.names_a, keep, what)
            prepared_b = prepared_a if self.layers_b is self.layers_a else self._prepare(
                self.layers_b, self.names_b, keep, what)
            out.append(self._scores(prepared_a, prepared_b, what))
        return np.stack(out)

    def resampled(self, resamples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Values on each resample (row indices, duplicates allowed), and which were usable.

        A resample on which the measure is undefined (e.g. every column constant) is marked
        unusable, to be redrawn; it never yields a number.
        """
        values = np.zeros((len(resamples), len(self.layers_a), len(self.layers_b)))
        usable = np.ones(len(resamples), dtype=bool)
        for r, rows in enumerate(resamples):
            try:
                prepared_a = self._prepare(self.layers_a, self.names_a, rows, " (resample)")
                prepared_b = prepared_a if self.layers_b is self.layers_a else self._prepare(
                    self.layers_b, self.names_b, rows, " (resample)")
                values[r] = self._scores(prepared_a, prepared_b, " (resample)")
            except DegenerateInputError:
                usable[r] = False
        return values, usable


@dataclass
class _KernelSide:
    """One layer of a kernel grid: centred features (linear) or a centred Gram matrix (RBF)."""

    features: Array | None
    gram: Array | None
    norms: Array | None
    self_term: float

    def gram_matrix(self) -> Array:
        if self.gram is None:
            self.gram = self.features @ self.features.T
        return self.gram


class KernelGrid:
    """Linear CKA / HSIC (biased and debiased) and RBF CKA from one centred layer each.

    Permutations: a batch of permuted B layers is one matrix product with each A layer in
    feature space, or an index permutation of one centred Gram matrix (O(n^2)) in Gram space.
    Left-out groups (linear kernel): closed forms from one pass. Resamples: weighted Gram
    forms (copies of one example never paired).
    """

    def __init__(self, measure: Measure, spec: KernelSpec, xp: Any, layers_a: list[Array],
                 layers_b: list[Array], names_a: list[str], names_b: list[str]) -> None:
        self.measure, self.spec, self.xp = measure, spec, xp
        self.layers_a, self.layers_b = layers_a, layers_b
        self.names_a, self.names_b = names_a, names_b
        self.n = int(layers_a[0].shape[0])
        self.sides_a = [self._side(x, name) for x, name in zip(layers_a, names_a)]
        self.sides_b = self.sides_a if layers_b is layers_a else [
            self._side(y, name) for y, name in zip(layers_b, names_b)]

    def _side(self, x: Array, name: str) -> _KernelSide:
        xp, n = self.xp, self.n
        if self.spec.kernel == "rbf":
            layer = prepare_kernel(xp, x, kernel="rbf", bandwidth=self.spec.bandwidth, space="gram", name=name)
            return _KernelSide(None, layer.gram, None, layer.self_term)
        centred = centred_layers(xp, [x], [name])[0]
        if centred.shape[1] > n:
            # Linear kernels see only K = Xc Xc^T = R^T R: n coordinates per example suffice.
            centred = xp.linalg.qr(centred.T)[1].T
        norms = xp.sum(centred * centred, axis=1)
        dot = squared_frobenius(xp, centred.T @ centred)
        self_term = dot
        if self.spec.debiased:
            self_term = debiased_term(dot, float(to_numpy(xp.sum(norms * norms))),
                                      float(to_numpy(xp.sum(norms))), float(to_numpy(xp.sum(norms))), n)
        return _KernelSide(centred, None, norms, float(self_term))

    def uninformative(self) -> bool:
        return False

    def _finish(self, terms: np.ndarray, self_a: Any, self_b: Any, n: Any, what: str) -> np.ndarray:
        if self.spec.statistic == "hsic":
            return terms / (n - 1) ** 2
        if np.any(np.asarray(self_a) <= 0) or np.any(np.asarray(self_b) <= 0):
            raise DegenerateInputError(
                f"{self.measure.label}: the debiased self-similarity of a layer is not positive{what}, "
                f"so CKA is undefined there; use more examples (or groups) or debiased=False.")
        values = terms / (np.sqrt(self_a) * np.sqrt(self_b))
        return values if self.spec.debiased else np.minimum(values, 1.0)

    def observed(self) -> np.ndarray:
        return self.permuted(np.arange(self.n)[None, :])[0]

    def permuted(self, permutations: np.ndarray) -> np.ndarray:
        """Values with the rows of every B layer permuted, shape (n_permutations, La, Lb)."""
        xp, n = self.xp, self.n
        count = permutations.shape[0]
        terms = np.zeros((count, len(self.sides_a), len(self.sides_b)))
        for j, b in enumerate(self.sides_b):
            in_features = [i for i, a in enumerate(self.sides_a)
                           if a.features is not None and b.features is not None
                           and a.features.shape[1] * b.features.shape[1] <= FEATURE_RATIO * n]
            in_gram = [i for i in range(len(self.sides_a)) if i not in in_features]
            if in_features:
                terms[:, in_features, j] = self._feature_terms(permutations, b, in_features)
            for i in in_gram:
                terms[:, i, j] = self._gram_terms(permutations, self.sides_a[i], b)
            if self.spec.debiased:
                permuted_norms = xp.reshape(_rows(xp, b.norms, permutations.reshape(-1)), (count, n))
                for i, a in enumerate(self.sides_a):
                    diagonal = to_numpy(permuted_norms @ a.norms)
                    trace_a, trace_b = float(to_numpy(xp.sum(a.norms))), float(to_numpy(xp.sum(b.norms)))
                    terms[:, i, j] = debiased_term(terms[:, i, j], diagonal, trace_a, trace_b, n)
        self_a = np.array([a.self_term for a in self.sides_a])[:, None]
        self_b = np.array([b.self_term for b in self.sides_b])[None, :]
        return self._finish(terms, self_a, self_b, n, "")

    def _feature_terms(self, permutations: np.ndarray, b: _KernelSide, rows: list[int]) -> np.ndarray:
        """``||Xc_i^T P Yc||_F^2`` for every permutation P and A layer i: one product per batch."""
        xp, n = self.xp, self.n
        q = int(b.features.shape[1])
        widest = max(int(self.sides_a[i].features.shape[1]) for i in rows)
        itemsize = 4 if b.features.dtype == xp.float32 else 8
        batch = max(1, int(BATCH_BYTES // (itemsize * (n * q + widest * q))))
        out = np.zeros((permutations.shape[0], len(rows)))
        for start in range(0, permutations.shape[0], batch):
            block = permutations[start:start + batch]
            size = block.shape[0]
            stacked = xp.reshape(_rows(xp, b.features, block.T.reshape(-1)), (n, size * q))
            for k, i in enumerate(rows):
                a = self.sides_a[i].features
                product = xp.reshape(a.T @ stacked, (a.shape[1], size, q))
                out[start:start + size, k] = to_numpy(xp.sum(xp.vecdot(product, product, axis=-1), axis=0))
        return out

    def _gram_terms(self, permutations: np.ndarray, a: _KernelSide, b: _KernelSide) -> np.ndarray:
        """``<K, P L P^T>_F`` for every permutation P: an index permutation of one Gram matrix."""
        xp = self.xp
        gram_a, gram_b = a.gram_matrix(), b.gram_matrix()
        out = np.zeros(permutations.shape[0])
        for k, order in enumerate(permutations):
            index = to_device_like(gram_b, np.ascontiguousarray(order, dtype=np.int64))
            permuted = xp.take(xp.take(gram_b, index, axis=0), index, axis=1)
            out[k] = frobenius_inner(xp, gram_a, permuted)
        return out

    def null_moments(self, i: int = 0, j: int = 0) -> tuple[float, float, float]:
        """Exact mean, variance and skewness of the permutation null of pair (i, j) (biased only)."""
        from .moments import permutation_moments

        a, b = self.sides_a[i], self.sides_b[j]
        mean, variance, skewness = permutation_moments(to_numpy(a.gram_matrix()), to_numpy(b.gram_matrix()))
        scale = (1.0 / (self.n - 1) ** 2 if self.spec.statistic == "hsic"
                 else 1.0 / (np.sqrt(a.self_term) * np.sqrt(b.self_term)))
        return mean * scale, variance * scale**2, skewness

    def left_out(self, groups: Groups) -> np.ndarray:
        """Values with each group left out in turn, shape (n_groups, La, Lb): one pass (linear)."""
        if self.spec.kernel == "rbf":  # the bandwidth rule re-reads every left-out sample
            return GenericGrid(self.measure, self.xp, self.layers_a, self.layers_b, self.names_a,
                               self.names_b).left_out(groups)
        debiased, sizes, labels = self.spec.debiased, groups.sizes, groups.labels
        host_a = [to_numpy(a.features) for a in self.sides_a]
        host_b = host_a if self.sides_b is self.sides_a else [to_numpy(b.features) for b in self.sides_b]
        self_a = np.stack([left_out_terms(x, x, labels, sizes, debiased) for x in host_a], axis=1)
        self_b = self_a if host_b is host_a else np.stack(
            [left_out_terms(y, y, labels, sizes, debiased) for y in host_b], axis=1)
        terms = np.stack([np.stack([left_out_terms(x, y, labels, sizes, debiased) for y in host_b], axis=1)
                          for x in host_a], axis=1)
        remaining = (self.n - sizes).astype(np.float64)[:, None, None]
        return self._finish(terms, self_a[:, :, None], self_b[:, None, :], remaining, " with a group left out")

    def resampled(self, resamples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Values on each resample from its counts; resamples with a non-positive debiased
        self-similarity are marked unusable (to be redrawn)."""
        xp, n = self.xp, self.n
        counts = np.stack([np.bincount(rows, minlength=n) for rows in resamples], axis=1).astype(np.float64)
        reference = self.sides_a[0].gram_matrix()
        weights = xp.astype(to_device_like(reference, counts), reference.dtype)
        debiased = self.spec.debiased
        self_a = np.stack([weighted_terms(xp, a.gram_matrix(), a.gram_matrix(), weights, debiased, same=True)
                           for a in self.sides_a], axis=1)
        self_b = self_a if self.sides_b is self.sides_a else np.stack(
            [weighted_terms(xp, b.gram_matrix(), b.gram_matrix(), weights, debiased, same=True)
             for b in self.sides_b], axis=1)
        terms = np.stack([np.stack([weighted_terms(xp, a.gram_matrix(), b.gram_matrix(), weights, debiased)
                                    for b in self.sides_b], axis=1) for a in self.sides_a], axis=1)
        usable = np.all(self_a > 0, axis=1) & np.all(self_b > 0, axis=1)
        safe_a, safe_b = np.where(self_a > 0, self_a, 1.0), np.where(self_b > 0, self_b, 1.0)
        size = counts.sum(axis=0)[:, None, None]
        return self._finish(terms, safe_a[:, :, None], safe_b[:, None, :], size, " on a resample"), usable
