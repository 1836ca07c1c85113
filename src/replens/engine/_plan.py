"""Path planning: feature space or Gram space for linear kernels, and Gram row blocks."""

from __future__ import annotations

GRAM_BLOCK_ROWS = 512


def linear_space(n: int, widths_a: list[int], widths_b: list[int] | None, itemsize: int,
                 budget: int) -> str:
    """Feature space or Gram space for linear kernels, whichever costs fewer flops and fits.

    Multiply-adds: feature space forms ``A_i^T A_i`` per layer and ``A_i^T B_j`` per pair
    (``n p q`` each); Gram space (:func:`replens.measures.cka.gram_inner_products`) forms
    the upper half of each layer's Gram matrix (``n^2 p / 2``) and one ``n^2 / 2`` inner
    product per pair, and needs at least one row of every Gram matrix at a time
    (``layers x n`` numbers) within the budget. `widths_b` is None when A is compared with
    itself: each layer is prepared once and only the pairs i <= j are scored.
    """
    if widths_b is None:
        widths, pair_widths = widths_a, [(p, q) for i, p in enumerate(widths_a) for q in widths_a[i:]]
    else:
        widths, pair_widths = widths_a + widths_b, [(p, q) for p in widths_a for q in widths_b]
    feature_cost = n * (sum(p * p for p in widths) + sum(p * q for p, q in pair_widths))
    gram_cost = n * n * (sum(widths) + len(pair_widths)) / 2
    fits = len(widths) * n * itemsize <= budget
    return "gram" if gram_cost < feature_cost and fits else "features"


def gram_block_rows(n: int, layers: int, itemsize: int, budget: int) -> int:
    """Rows per Gram block: at most 512 (fastest here) and within the budget."""
    return max(1, min(GRAM_BLOCK_ROWS, budget // max(1, layers * n * itemsize)))
