"""Within- and between-group distances of a population of networks (PWCCA Figs. 3-4).

Morcos et al. (2018) compare groups of networks (generalising vs memorising, one width vs
another) by the mean PWCCA distance between the members of one group (within) and between
members of two groups (between), at every layer. With D the (N, N) distances at one layer
and groups G_g of the N networks:

    within_g   = mean over ordered pairs i != j in G_g of D[i, j]
    between_gh = mean over i in G_g, j in G_h of D[i, j]

with the standard deviation over the same pairs as the spread. Cost O(L N^2) for L layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NonFiniteError, ShapeError


@dataclass(frozen=True)
class GroupDistances:
    """Group means and spreads of distances, per layer.

    ``within[l, g]`` / ``within_std[l, g]``: mean / standard deviation of the distances between
    distinct members of group ``groups[g]`` at ``layers[l]`` (NaN for a group of one);
    ``between[l, g, h]`` / ``between_std[l, g, h]``: over members of ``groups[g]`` and
    ``groups[h]`` (the diagonal equals ``within``); ``sizes[g]`` the group sizes.
    """

    layers: tuple[str, ...]
    groups: tuple[Any, ...]
    sizes: tuple[int, ...]
    within: np.ndarray
    within_std: np.ndarray
    between: np.ndarray
    between_std: np.ndarray

    def table(self) -> list[dict[str, Any]]:
        """One row per (layer, group, group): mean, std and number of pairs."""
        rows = []
        for l, layer in enumerate(self.layers):
            for g, a in enumerate(self.groups):
                for h, b in enumerate(self.groups):
                    rows.append({"layer": layer, "group_a": a, "group_b": b, "mean": float(self.between[l, g, h]),
                                 "std": float(self.between_std[l, g, h])})
        return rows


def as_distance_stack(distances: Any) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...] | None]:
    """(layers, (L, N, N) values, names) of one distance matrix or a mapping layer -> matrix.

    A matrix is an (N, N) array or an object with ``values`` and ``names`` (what
    ``SweepResult.distances`` returns).
    """
    items = list(distances.items()) if isinstance(distances, Mapping) else [(None, distances)]
    if not items:
        raise ShapeError("D is an empty mapping; pass an (N, N) distance matrix or a mapping layer -> matrix.")
    layers, stack, names = [], [], None
    for key, matrix in items:
        values = np.asarray(getattr(matrix, "values", matrix), dtype=np.float64)
        found = getattr(matrix, "names", None)
        if values.ndim != 2 or values.shape[0] != values.shape[1]:
            raise ShapeError(f"D{'' if key is None else f'[{key!r}]'} must be a square (N, N) distance matrix; "
                             f"got shape {values.shape}.")
        if stack and values.shape != stack[0].shape:
            raise ShapeError(f"every layer's distance matrix must have one shape; got {stack[0].shape} and "
                             f"{values.shape} (layer {key!r}).")
        if found is not None:
            found = tuple(found)
            if names is not None and found != names:
                raise ShapeError(f"every layer's distance matrix must name the same networks; layer {key!r} "
                                 f"names {found[:5]}..., another {names[:5]}...")
            names = found
        if not np.isfinite(values).all():
            raise NonFiniteError(f"D{'' if key is None else f'[{key!r}]'} holds NaN or infinite distances; sweep "
                                 f"every pair (or symmetrize a pairs='upper' sweep with distances(..., "
                                 f"symmetrize='mean')) first.")
        layers.append(str(key) if key is not None else _layer_name(getattr(matrix, "layer", None)))
        stack.append(values)
    return tuple(layers), np.stack(stack), names


def one_distance_matrix(D: Any) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The single (N, N) matrix of `D` (an array, Distances, or a mapping of one layer) and
    its network names; ShapeError when `D` holds several layers."""
    layers, stack, names = as_distance_stack(D)
    if len(layers) != 1:
        raise ShapeError(f"D must be one (N, N) distance matrix; got {len(layers)} layers "
                         f"({', '.join(layers[:5])}). Pass one layer's distances, D[layer].")
    return stack[0], names


def _layer_name(layer: Any) -> str:
    if isinstance(layer, tuple) and len(layer) == 2:
        return str(layer[0]) if layer[0] == layer[1] else f"{layer[0]}/{layer[1]}"
    return "" if layer is None else str(layer)


def group_labels(groups: Any, n: int, names: tuple[str, ...] | None) -> list[Any]:
    """One group label per network of D, from a mapping name -> label or a sequence of n labels."""
    if isinstance(groups, Mapping):
        if names is None:
            raise ShapeError("groups is a mapping network name -> group, but D carries no names; pass D from "
                             "SweepResult.distances, or groups as a sequence of N labels.")
        missing = [name for name in names if name not in groups]
        if missing:
            raise ShapeError(f"groups gives no group for the networks {missing[:10]}; map every network in D to one.")
        return [groups[name] for name in names]
    labels = list(groups) if isinstance(groups, Sequence) or hasattr(groups, "__len__") else None
    if labels is None or len(labels) != n:
        raise ShapeError(f"groups must be a mapping name -> group or a sequence of {n} labels (one per network "
                         f"of D); got {len(labels) if labels is not None else type(groups).__name__}.")
    return labels


def group_distances(D: Any, groups: Mapping[str, Any] | Sequence[Any]) -> GroupDistances:
    """Mean and spread of the distances within and between groups of networks, per layer.

    Parameters
    ----------
    D : (N, N) array, Distances, or mapping layer -> either
        Distances between N networks (e.g. ``res.distances("pwcca", layer="fc1")``); a mapping
        gives one per layer.
    groups : mapping network name -> label, or sequence of N labels
        The group of each network; groups are listed in order of first appearance.

    Returns
    -------
    GroupDistances

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> D = np.array([[0, .1, .8], [.1, 0, .9], [.8, .9, 0]])
    >>> g = rl.analyses.group_distances(D, ["a", "a", "b"])
    >>> round(float(g.within[0, 0]), 12), round(float(g.between[0, 0, 1]), 12)
    (0.1, 0.85)
    """
    layers, stack, names = as_distance_stack(D)
    n = stack.shape[1]
    labels = group_labels(groups, n, names)
    order = list(dict.fromkeys(labels))
    members = [np.array([i for i, label in enumerate(labels) if label == g]) for g in order]
    G = len(order)
    between = np.full((len(layers), G, G), np.nan)
    spread = np.full_like(between, np.nan)
    for g, rows in enumerate(members):
        for h, cols in enumerate(members):
            block = stack[:, rows[:, None], cols[None, :]]
            if g == h:
                keep = ~np.eye(len(rows), dtype=bool)
                if not keep.any():
                    continue
                block = block[:, keep]
            else:
                block = block.reshape(len(layers), -1)
            between[:, g, h] = block.mean(axis=1)
            spread[:, g, h] = block.std(axis=1)
    within = np.stack([between[:, g, g] for g in range(G)], axis=1)
    within_std = np.stack([spread[:, g, g] for g in range(G)], axis=1)
    return GroupDistances(layers, tuple(order), tuple(len(m) for m in members), within, within_std, between, spread)
