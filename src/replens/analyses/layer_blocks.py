"""Similarity within and between groups of layers (CKA paper sec. 6.2, Fig. 4).

In a ResNet, "post-residual activations are similar to other post-residual activations,
but activations within blocks are not", and layers of one stage are more alike than layers
of different stages. Both are the contrast between the mean similarity of pairs in the same
group and of pairs in different groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ReplensError, ShapeError
from ._similarity import layer_matrix

__all__ = ["BlockContrast", "block_contrast"]


@dataclass(frozen=True)
class BlockContrast:
    """What :func:`block_contrast` measured.

    Attributes
    ----------
    within : float
        Mean similarity over pairs (i, j), i != j, of layers in the same group.
    between : float
        Mean similarity over pairs of layers in different groups.
    within_by_group : dict of str to float
        The mean over the pairs inside each group (NaN for a group of one layer).
    n_within, n_between : int
        Numbers of ordered pairs averaged.
    """

    within: float
    between: float
    within_by_group: dict[str, float]
    n_within: int
    n_between: int

    @property
    def contrast(self) -> float:
        """``within - between``: positive when groups are blocks of similar layers."""
        return self.within - self.between


def block_contrast(sim_matrix: Any, groups: Sequence[Any] | Mapping[Any, Sequence[str]], *,
                   measure: str = "linear_cka") -> BlockContrast:
    """Mean similarity of layer pairs within the same group vs in different groups.

    ``within = mean_{i != j, g(i) = g(j)} S[i, j]``, ``between = mean_{g(i) != g(j)} S[i, j]``
    over the (L, L) matrix of a network against itself; the diagonal is left out. Layers
    not assigned to any group (mapping form) are left out too. Cost ``O(L^2)``.

    Parameters
    ----------
    sim_matrix : SimilarityMatrix or array-like of shape (L, L)
        One network against itself (``rl.compare(layers)``), or a plain square matrix.
    groups : sequence of L labels, or mapping of group -> layer names
        ``["stage1", "stage1", "stage2", ...]`` (one label per layer, in order), or
        ``{"post": ["block1", ...], "interior": [...]}`` naming layers of the matrix.
    measure : str, default "linear_cka"
        The measure to read from a SimilarityMatrix; ignored for arrays.

    Returns
    -------
    BlockContrast

    Raises
    ------
    ShapeError
        The matrix is not square, or `groups` has the wrong length.
    ReplensError
        A layer is named twice or is not in the matrix, or there are no within- or no
        between-group pairs.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> s = np.kron(np.eye(2), np.ones((2, 2))) * 0.8 + 0.1
    >>> round(rl.analyses.block_contrast(s, ["a", "a", "b", "b"]).contrast, 6)
    0.8
    """
    values, layers_a, _ = layer_matrix(sim_matrix, measure)
    if values.shape[0] != values.shape[1]:
        raise ShapeError(f"block_contrast needs a square matrix (one network against itself); got "
                         f"shape {values.shape}.")
    labels = _labels(groups, layers_a)
    assigned = np.array([label is not None for label in labels])
    same = np.array([[a is not None and a == b for b in labels] for a in labels])
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    both = assigned[:, None] & assigned[None, :]
    within_mask = same & off_diagonal
    between_mask = both & ~same
    if not within_mask.any() or not between_mask.any():
        raise ReplensError(f"groups must put at least two layers in one group and have at least two "
                           f"groups; got {within_mask.sum()} within-group and {between_mask.sum()} "
                           f"between-group pairs from groups {list(dict.fromkeys(labels))}.")
    by_group = {}
    for label in dict.fromkeys(label for label in labels if label is not None):
        member = np.array([item == label for item in labels])
        mask = member[:, None] & member[None, :] & off_diagonal
        by_group[str(label)] = float(values[mask].mean()) if mask.any() else float("nan")
    return BlockContrast(within=float(values[within_mask].mean()),
                         between=float(values[between_mask].mean()), within_by_group=by_group,
                         n_within=int(within_mask.sum()), n_between=int(between_mask.sum()))


def _labels(groups: Any, layers: tuple[str, ...]) -> list[Any]:
    if isinstance(groups, Mapping):
        labels: list[Any] = [None] * len(layers)
        for group, names in groups.items():
            if isinstance(names, str):
                names = [names]
            for name in names:
                if name not in layers:
                    raise ReplensError(f"groups[{group!r}] names layer {name!r}, which is not in the "
                                       f"matrix; its layers are {', '.join(layers)}.")
                k = layers.index(name)
                if labels[k] is not None:
                    raise ReplensError(f"layer {name!r} is in two groups, {labels[k]!r} and {group!r}; "
                                       "each layer belongs to one group.")
                labels[k] = group
        return labels
    if isinstance(groups, str) or not isinstance(groups, Sequence):
        raise ReplensError(f"groups must be a sequence of one label per layer or a mapping of group -> "
                           f"layer names; got {type(groups).__name__}.")
    if len(groups) != len(layers):
        raise ShapeError(f"groups must give one label per layer: {len(layers)} layers, got "
                         f"{len(groups)} labels.")
    return list(groups)
