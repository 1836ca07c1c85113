"""Path planning: feature space or Gram space for linear kernels, and Gram row blocks."""

from __future__ import annotations

GRAM_BLOCK_ROWS = 512


def linear_space(n: int, widths_a: list[int], widths_b: list[int] | None, itemsize: int,
                 budget: int) -> str:
    """Feature space or Gram space for linear kernels, whichever costs fewer flops and fits.

    Multiply-adds: feature space forms ``A_i^T A_i`` per layer and ``A_i^T B_j`` per pair
    (``n p q`` each); Gram space (:func:`replens.measures.cka.gram_inner_products`) forms
    the upper half of each layer's Gram matrix (``n^2 p / 2``) and one ``n^2 / 2`` inner
    product per pair, and holds every layer cast and centred in the working dtype (``2 n sum p``
    numbers) and one row of every Gram matrix at a time (``layers x n`` numbers): Gram space
    is taken only when both fit the budget, since feature space reads the layers block by
    block. `widths_b` is None when A is compared with itself: each layer is prepared once and
    only the pairs i <= j are scored.
    """
    if widths_b is None:
        widths, pair_widths = widths_a, [(p, q) for i, p in enumerate(widths_a) for q in widths_a[i:]]
    else:
        widths, pair_widths = widths_a + widths_b, [(p, q) for p in widths_a for q in widths_b]
    feature_cost = n * (sum(p * p for p in widths) + sum(p * q for p, q in pair_widths))
    gram_cost = n * n * (sum(widths) + len(pair_widths)) / 2
    fits = (len(widths) + 2 * sum(widths)) * n * itemsize <= budget
    return "gram" if gram_cost < feature_cost and fits else "features"


def gram_block_rows(n: int, layers: int, itemsize: int, budget: int) -> int:
    """Rows per Gram block: at most 512 (fastest here) and within the budget."""
    return max(1, min(GRAM_BLOCK_ROWS, budget // max(1, layers * n * itemsize)))


# Rows of one layer that the validation and mean passes read at a time (about 32 MB of float64).
SCAN_ELEMENTS = 1 << 22


def scan_rows(n: int, width: int, budget: int) -> int:
    """Rows per block for the passes that only read a layer (validation, column means): at most
    4M numbers, and few enough that the block's few working copies fit the budget."""
    return max(1, min(n, min(SCAN_ELEMENTS, budget // 32) // max(1, width)))


def feature_groups(widths: list[int], pairs: list[tuple[int, int]], n: int, itemsize: int, budget: int
                   ) -> tuple[list[list[tuple[int, int]]], list[int]]:
    """Pairs of layers grouped so that each group's accumulators and row blocks fit the budget.

    A pair ``(i, j)`` holds a ``p_i x p_j`` float64 accumulator during its group's pass over
    the examples; a group takes pairs in order while its accumulators fit in half the budget
    (at least one pair per group, whatever its size). The other half holds one row block of
    every layer of the group (the mapped source rows, up to 8 bytes a number, and about three
    working copies: cast, rescaled, centred) and one block product; the rows per block follow,
    all planned within 3/4 of the budget. Returns the groups and their rows per block.
    """
    # Plan to 3/4 of the budget: the estimate above leaves out small temporaries (row norms,
    # the reduction of each accumulator) and the allocator's slack (freed blocks that stay
    # resident), which measured about a tenth of the budget.
    budget = budget * 3 // 4
    groups: list[list[tuple[int, int]]] = []
    held = 0
    for i, j in pairs:
        size = 8 * widths[i] * widths[j]
        if groups and held + size <= budget // 2:
            groups[-1].append((i, j))
            held += size
        else:
            groups.append([(i, j)])
            held = size
    rows = []
    for group in groups:
        involved = {k for pair in group for k in pair}
        accumulators = sum(8 * widths[i] * widths[j] for i, j in group)
        product = max(8 * widths[i] * widths[j] for i, j in group)
        per_row = (3 * itemsize + 8) * sum(widths[k] for k in involved)
        rows.append(max(1, min(n, (budget - accumulators - product) // max(1, per_row))))
    return groups, rows


def whole_layers_fit(n: int, widths: list[int], budget: int) -> bool:
    """Whether the CCA family may prepare each layer whole: its cast, centred copy and basis
    (about three float64 copies of the widest layer, ``24 n p`` bytes) within half the budget.
    Otherwise the bases are built from row blocks (see ``_Job.fill_bases_from_blocks``)."""
    return 24 * n * max(widths, default=0) <= budget // 2

