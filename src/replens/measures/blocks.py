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

from .._backend import Array, as_float64, device_of, to_device_like, to_numpy
from .._validate import scale_exponent, times_power_of_two
from ._subspace import constant_columns_error

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
