"""Feature-space products of whole layers, accumulated one block of examples at a time.

For linear kernels everything :func:`replens.compare` needs of a pair of layers in feature
space is ``||A^T B||_F^2`` (the unnormalised linear HSIC, CKA paper eq. 6) of the centred
layers, their self terms ``||A^T A||_F^2`` and, for the unbiased estimator, the squared row
norms of each centred layer. These are sums over examples, so they can be formed from row
blocks: each block of each layer is cast to the working dtype, rescaled by its layer's power
of two and centred with column means computed in an earlier pass, and ``A_blk^T B_blk`` is
added to a p_a x p_b float64 accumulator. No layer is ever held whole in the working dtype,
so a float32 memory map larger than memory can be compared; memory is the accumulators of
one group of pairs plus one row block of each layer in the group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array, as_float64, device_of, machine_epsilon, to_device_like, to_numpy
from .._validate import scale_exponent, times_power_of_two
from ._subspace import Basis, Blocked, CrossTable, basis_from_moments, constant_columns_error, implicit_transform

__all__ = ["CrossTable", "LayerScale", "RowSource", "blocked_basis", "centred_block", "cross_moments",
           "feature_inner_products", "held_basis", "layer_moments", "layer_scale", "whitened_product"]

RowsCallback = Callable[[int, int], Any]


@dataclass(frozen=True)
class LayerScale:
    """What the blocked passes need of one layer: its power-of-two exponent (see
    :func:`replens._validate.rescaled`), its first example and the column means of the
    differences from it (both after rescaling), and its width. A block is centred as
    ``(block - first) - mean``, the operations of :func:`replens.measures._subspace.centre`
    (constant columns give exact zeros; a single block gives the very same numbers)."""

    exponent: int
    first: Array
    mean: Array
    width: int


def layer_scale(xp: Any, x: Array, low: np.ndarray, high: np.ndarray, compute: Any, *, block_rows: int,
                name: str, after_block: RowsCallback | None = None) -> LayerScale:
    """One pass over `x` (n x p, any real dtype) for its column means, from float64 sums of
    the differences from the first example (exact for a large offset, as in ``centre``).

    `low`, `high` are the column minima and maxima (from the validation pass): they give the
    exponent and tell whether every column is constant (DegenerateInputError).
    """
    n, p = int(x.shape[0]), int(x.shape[1])
    if bool(np.all(low == high)):
        raise constant_columns_error(name)
    peak = max(float(np.max(high)), -float(np.min(low))) if p else 0.0
    exponent = scale_exponent(peak, compute)
    first = times_power_of_two(xp.astype(x[0:1, :], compute), -exponent)
    total = None
    for start in range(0, n, block_rows):
        block = times_power_of_two(xp.astype(x[start:start + block_rows], compute, copy=False), -exponent)
        part = as_float64(xp.sum(block - first, axis=0))
        total = part if total is None else total + part
        if after_block is not None:
            after_block(start, min(start + block_rows, n))
    mean = xp.astype(to_device_like(x, to_numpy(total) / n), compute)
    return LayerScale(exponent, first, mean, p)


def centred_block(xp: Any, x: Array, start: int, stop: int, scale: LayerScale, compute: Any) -> Array:
    """Rows ``start:stop`` of `x` in the working dtype, rescaled and centred."""
    block = times_power_of_two(xp.astype(x[start:stop], compute, copy=False), -scale.exponent) - scale.first
    block -= scale.mean[None, :]
    return block


def feature_inner_products(
    xp: Any, layers: Sequence[Array], scales: Sequence[LayerScale], groups: Sequence[Sequence[tuple[int, int]]],
    *, compute: Any, block_rows: Sequence[int], row_norms: bool = False,
    on_rows: Callable[[int], Any] | None = None, after_block: Callable[[int, int, int], Any] | None = None,
) -> tuple[dict[tuple[int, int], float], list[Array | None]]:
    """``||A_i^T A_j||_F^2`` for every pair ``(i, j)`` of every group, from row blocks.

    Each group is one pass over the examples in blocks of ``block_rows[g]`` rows: for every
    layer of the group the block is cast, rescaled and centred (:func:`centred_block`), and
    ``A_i,blk^T A_j,blk`` is added to the pair's float64 accumulator; at the end of the pass
    each accumulator is reduced to its squared Frobenius norm and freed. With `row_norms`, the
    squared row norms ``diag(A_i A_i^T)`` (float64, n) of every layer are returned too (else
    None). Cost: ``n p_i p_j`` multiply-adds per pair, as one product of the whole layers;
    memory: the group's accumulators plus one block of each of its layers.
    ``on_rows(k)`` is called after each block of k rows, ``after_block(layer, start, stop)``
    after each layer's block is read.
    """
    n = int(layers[0].shape[0])
    where = device_of(layers[0])
    norms: list[Array | None] = [None] * len(layers)
    products: dict[tuple[int, int], float] = {}
    for group, rows in zip(groups, block_rows):
        involved = sorted({k for pair in group for k in pair})
        accumulators = {pair: xp.zeros((scales[pair[0]].width, scales[pair[1]].width), dtype=xp.float64,
                                       device=where) for pair in group}
        fresh = [k for k in involved if row_norms and norms[k] is None]
        pieces: dict[int, list[Array]] = {k: [] for k in fresh}
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            blocks = {}
            for k in involved:
                blocks[k] = centred_block(xp, layers[k], start, stop, scales[k], compute)
                if after_block is not None:
                    after_block(k, start, stop)
                if k in pieces:
                    pieces[k].append(as_float64(xp.sum(blocks[k] * blocks[k], axis=1)))
            for (i, j), accumulator in accumulators.items():
                accumulator += as_float64(blocks[i].T @ blocks[j])
            if on_rows is not None:
                on_rows(stop - start)
        for k, parts in pieces.items():
            norms[k] = xp.concat(parts) if len(parts) > 1 else parts[0]
        for pair, accumulator in accumulators.items():
            flat = xp.reshape(accumulator, (-1,))
            products[pair] = float(to_numpy(flat @ flat))
    return products, norms


def layer_moments(xp: Any, x: Array, scale: LayerScale, compute: Any, *, block_rows: int,
                  transform: Array | None = None, after_block: RowsCallback | None = None) -> Array:
    """``Xc^T Xc`` (p x p) of one layer, or ``(Xc T)^T (Xc T)`` with `transform`, in float64
    from row blocks (:func:`centred_block`): the co-moment whose eigendecomposition whitens the
    layer (:func:`replens.measures._subspace.basis_from_moments`). Cost ``n p^2`` multiply-adds
    (``n p r + n r^2`` with a transform); memory one block and the p x p accumulator."""
    n = int(x.shape[0])
    total = None
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        block = centred_block(xp, x, start, stop, scale, compute)
        if transform is not None:
            block = as_float64(block) @ transform
        part = as_float64(block.T @ block)
        total = part if total is None else total + part
        if after_block is not None:
            after_block(start, stop)
    return total


def cross_moments(xp: Any, sources: Any, groups: Sequence[Sequence[tuple[int, int]]],
                  *, n: int, block_rows: Sequence[int], on_rows: Callable[[int], Any] | None = None,
                  ) -> list[dict[tuple[int, int], Array]]:
    """``q_i^T q_j`` (float64) for every pair of every group, each group one pass over the rows.

    ``sources[k](start, stop)`` returns rows ``start:stop`` of layer k as a
    :class:`RowSource` reads it (centred rows, or rows of a basis). Each block of each layer
    of a group is formed once and multiplied into every accumulator of the group that needs
    it. Returns one dict of products per group (:func:`whitened_product` turns them into basis
    products); cost ``n p_i p_j`` multiply-adds per pair beside forming the blocks.
    """
    results = []
    for group, rows in zip(groups, block_rows):
        involved = sorted({k for pair in group for k in pair})
        products: dict[tuple[int, int], Array] = {}
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            blocks = {k: as_float64(sources[k](start, stop)) for k in involved}
            for i, j in group:
                part = blocks[i].T @ blocks[j]
                products[(i, j)] = part if (i, j) not in products else products[(i, j)] + part
            if on_rows is not None:
                on_rows(stop - start)
        results.append(products)
    return results


@dataclass(frozen=True)
class RowSource:
    """One layer as a pass of :func:`cross_moments` reads it: ``rows(start, stop)`` gives its
    centred rows when `implicit` (the products then get the whitening ``T`` applied after the
    pass, :func:`whitened_product`) or rows of its orthonormal basis q."""

    rows: Callable[[int, int], Array]
    implicit: bool


def blocked_basis(xp: Any, x: Array, scale: LayerScale, compute: Any, *, block_rows: int, table: CrossTable,
                  key: Any, after_block: RowsCallback | None = None) -> tuple[Basis, RowSource] | None:
    """An orthonormal basis of one layer built from row blocks, and how to read its rows.

    ``Xc^T Xc`` comes from one pass (:func:`layer_moments`), a second whitening from another
    when one is needed (:func:`replens.measures._subspace.basis_from_moments`): the same
    algorithm as the Gram route of :func:`replens.measures._subspace.orthonormal_basis`, with
    sums over blocks. After one whitening the basis holds only ``coords`` (p x p) and the
    source gives centred rows, so that :func:`cross_moments` forms ``Xc_i^T Xc_j`` and the
    basis products follow as ``T_i^T (Xc_i^T Xc_j) T_j``, as for implicit bases in memory;
    after two, the basis holds ``T`` too and the source gives basis rows ``Xc_blk T``. The
    products go to `table` under `key`. None when the layer is wider than n, rank-deficient
    or too ill-conditioned for the Gram route: its basis then needs the whole layer
    (:func:`held_basis`).
    """
    n, p = int(x.shape[0]), int(x.shape[1])
    if p > n:
        return None
    eps = machine_epsilon(xp, compute)
    gram = layer_moments(xp, x, scale, compute, block_rows=block_rows, after_block=after_block)
    found = basis_from_moments(xp, gram, eps, lambda transform: layer_moments(
        xp, x, scale, compute, block_rows=block_rows, transform=transform, after_block=after_block))
    if found is None:
        return None
    transform, coords = found

    def rows(start: int, stop: int) -> Array:
        block = as_float64(centred_block(xp, x, start, stop, scale, compute))
        if transform is not None:
            block = block @ transform
        if after_block is not None:
            after_block(start, stop)
        return block

    basis = Basis(None, coords, transform=transform, blocked=Blocked(table, key))
    return basis, RowSource(rows, implicit=transform is None)


def held_basis(basis: Basis, table: CrossTable, key: Any) -> tuple[Basis, RowSource]:
    """A basis computed from the whole layer, its cross products looked up in `table` under
    `key` like a :func:`blocked_basis`, and its rows as a source."""
    return basis.with_table(table, key), RowSource(basis.rows, implicit=False)


def whitened_product(product: Array, basis_i: Basis, source_i: RowSource, basis_j: Basis,
                     source_j: RowSource) -> Array:
    """``q_i^T q_j`` from the accumulated product of the two sources' rows: the whitening of
    each implicit side applied (``T^T (Xc_i^T ...)``, :func:`~replens.measures._subspace.implicit_transform`)."""
    if source_i.implicit:
        product = implicit_transform(basis_i.coords).T @ product
    if source_j.implicit:
        product = product @ implicit_transform(basis_j.coords)
    return product
