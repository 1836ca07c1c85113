"""Accuracy when a layer keeps only its top-k canonical directions (SVCCA sec. 2.1, Fig. 2a).

Inside the forward pass the layer's output is replaced by its projection onto the top-k
SVCCA directions (:meth:`replens.CCADirections.project`), the other components filled per
`fill`, and the network's accuracy measured with no retraining. Baselines keep k neurons
(random ones, or those with the highest mean activation) or the top-k principal
components instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import is_integer_scalar
from .._validate import check_option, check_positive_int
from ..errors import ShapeError, UnknownOptionError
from ..measures.directions import SIDES, CCADirections
from . import _forward
from .replace import named_layer, replaced_output

__all__ = ["BASELINES", "FILLS", "accuracy_vs_directions"]

BASELINES = ("random_neurons", "max_activation", "pca")
FILLS = ("mean", "zero")


def accuracy_vs_directions(
    model: Any,
    layer: str,
    data: Any,
    directions: CCADirections,
    ks: Sequence[int],
    *,
    baselines: Sequence[str] = BASELINES,
    fill: str = "mean",
    side: str = "x",
    n_random: int = 5,
    seed: int = 0,
) -> Any:
    """Accuracy of `model` on `data` with `layer` reduced to k directions, for each k.

    For method ``"svcca"`` the layer's output ``a`` (flattened per example to p features)
    becomes ``mean + (a - mean) P_k`` (``fill="mean"``) or ``a P_k`` (``fill="zero"``: the
    removed components of the mean set to zero too), ``P_k`` the projector onto the top-k
    directions of `side` (:meth:`~replens.CCADirections.projector`, ``mean`` the neuron
    means the directions were computed with). Baselines:

    * ``"random_neurons"``: keep k neurons drawn at random (`n_random` draws, mean accuracy),
      the others set to their mean (``fill="mean"``) or to 0;
    * ``"max_activation"``: keep the k neurons of highest mean activation (the directions'
      means), the others filled alike;
    * ``"pca"``: keep the top-k principal components of the layer's output on `data`,
      ``mean + (a - mean) V_k V_k^T`` (or ``a V_k V_k^T``).

    Parameters
    ----------
    model : torch.nn.Module
        Classifier whose arg-max output is the predicted class.
    layer : str
        Name of the layer (``model.named_modules()``) the directions belong to.
    data : (x, y) or (x_train, y_train, x_test, y_test)
        Inputs and integer labels on which accuracy is measured (the test split of a
        4-tuple).
    directions : CCADirections
        From :func:`replens.cca_directions` on this layer's activations (as `side`).
    ks : sequence of int
        Numbers of directions, each ``1 <= k <= directions.k`` (and <= the width for the
        baselines).
    baselines : sequence of str, default all of :data:`BASELINES`
    fill : {"mean", "zero"}, default "mean"
        What the removed components become (the paper does not say; claims.md S02).
    side : {"x", "y"}, default "x"
        Which side of `directions` is this layer.
    n_random : int, default 5
        Draws averaged for ``"random_neurons"``.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        Columns ``k, method, accuracy``: one row per (k, method) with method ``"svcca"`` or
        a baseline, plus one row ``method="full"`` (k = the width) with the unmodified
        network's accuracy, also in ``.attrs["full_accuracy"]``.

    Notes
    -----
    Cost: one forward pass over `data` per row (``n_random`` per random-neuron row), plus
    ``O(m p k)`` per projection.
    """
    import pandas as pd

    check_option("fill", fill, FILLS)
    check_option("side", side, SIDES)
    if not isinstance(directions, CCADirections):
        raise UnknownOptionError(f"directions must be the result of replens.cca_directions(...); got "
                                 f"{type(directions).__name__}.")
    if isinstance(baselines, str) or not isinstance(baselines, Sequence):
        raise UnknownOptionError(f"baselines must be a sequence of names from {', '.join(BASELINES)}; got "
                                 f"{baselines!r}. Pass () for none.")
    for name in baselines:
        check_option("baselines", name, BASELINES)
    n_random = check_positive_int("n_random", n_random)
    if not is_integer_scalar(seed) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    named_layer(model, layer)
    x, y = _forward.labelled(data, "accuracy_vs_directions")
    mean = directions.mean_x if side == "x" else directions.mean_y
    width = int(mean.shape[0])
    ks = _checked_ks(ks, directions.k)
    acts = _forward.layer_output(model, layer, x)
    flat = acts.reshape(acts.shape[0], -1)
    if flat.shape[1] != width:
        raise ShapeError(f"layer {layer!r} has {flat.shape[1]} features per example (output shape "
                         f"{acts.shape[1:]}), but side {side!r} of directions has {width} neurons. Pass the "
                         f"directions computed from this layer's activations, or the other side.")
    base = mean if fill == "mean" else np.zeros_like(mean)
    rows = [{"k": width, "method": "full", "accuracy": _forward.accuracy(model, x, y)}]
    rng = np.random.default_rng(seed)
    pcs = None
    if "pca" in baselines:
        centred = flat - flat.mean(axis=0)
        pcs = np.linalg.svd(centred, full_matrices=False)[2].T
        pca_mean = flat.mean(axis=0) if fill == "mean" else np.zeros(width)
    order = np.argsort(-mean, kind="stable")
    for k in ks:
        projector = directions.projector(k, side)
        rows.append({"k": k, "method": "svcca", "accuracy": _replaced_accuracy(
            model, layer, x, y, lambda a, P=projector: base + (a - base) @ P)})
        for name in baselines:
            if name == "pca":
                basis = pcs[:, :k]
                fn = (lambda a, V=basis: pca_mean + ((a - pca_mean) @ V) @ V.T)
                accuracy = _replaced_accuracy(model, layer, x, y, fn)
            elif name == "max_activation":
                accuracy = _replaced_accuracy(model, layer, x, y, _keeping(order[:k], base))
            else:
                accuracy = float(np.mean([
                    _replaced_accuracy(model, layer, x, y, _keeping(rng.choice(width, size=k, replace=False), base))
                    for _ in range(n_random)]))
            rows.append({"k": k, "method": name, "accuracy": accuracy})
    table = pd.DataFrame(rows, columns=["k", "method", "accuracy"])
    table.attrs["full_accuracy"] = rows[0]["accuracy"]
    return table


def _keeping(kept: np.ndarray, fill_values: np.ndarray) -> Any:
    mask = np.zeros(fill_values.shape[0], dtype=bool)
    mask[kept] = True

    def keep(a: np.ndarray) -> np.ndarray:
        return np.where(mask, a, fill_values)

    return keep


def _replaced_accuracy(model: Any, layer: str, x: np.ndarray, y: np.ndarray, transform: Any) -> float:
    import torch

    def replace(output: Any) -> Any:
        flat = output.detach().double().cpu().numpy().reshape(output.shape[0], -1)
        new = transform(flat).reshape(tuple(output.shape))
        return torch.as_tensor(new, dtype=output.dtype, device=output.device)

    with replaced_output(model, layer, replace):
        return _forward.accuracy(model, x, y)


def _checked_ks(ks: Any, n_directions: int) -> list[int]:
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) or len(ks) == 0:
        raise UnknownOptionError(f"ks must be a non-empty sequence of positive integers; got {ks!r}.")
    checked = [check_positive_int("ks", k) for k in ks]
    too_many = [k for k in checked if k > n_directions]
    if too_many:
        raise UnknownOptionError(
            f"ks {too_many} exceed the {n_directions} canonical directions kept; pass ks <= {n_directions}, "
            f"or compute the directions with a larger keep= (replens.cca_directions(..., keep=K)).")
    return checked


def neurons_for_directions(directions: CCADirections, k: int, m: int, *, side: str = "x") -> np.ndarray:
    """The `m` neurons most important to the top-`k` canonical directions, most important first.

    SVCCA sec. 2.1, Fig. 2b keeps "the neurons most important to the SVCCA directions"
    without saying how they are chosen. Ours: neuron j's importance is
    ``sum_{i<k} L_ij^2``, the variance of the (centred) neuron that the top-k canonical
    variates explain, ``L`` the loadings (the variates are orthonormal, so this is the
    squared norm of neuron j's projected activity). Cost ``O(k p)``.

    Returns
    -------
    ndarray of int, shape (m,)
    """
    check_option("side", side, SIDES)
    if not isinstance(directions, CCADirections):
        raise UnknownOptionError(f"directions must be the result of replens.cca_directions(...); got "
                                 f"{type(directions).__name__}.")
    loadings = directions.loadings_x if side == "x" else directions.loadings_y
    k = _checked_ks([k], directions.k)[0]
    m = check_positive_int("m", m)
    if m > loadings.shape[1]:
        raise UnknownOptionError(f"m must be at most the layer's {loadings.shape[1]} neurons; got m={m}.")
    importance = np.sum(loadings[:k] ** 2, axis=0)
    return np.argsort(-importance, kind="stable")[:m]


def accuracy_vs_neurons(
    model: Any,
    layer: str,
    data: Any,
    directions: CCADirections,
    k: int,
    ms: Sequence[int],
    *,
    fill: str = "mean",
    side: str = "x",
) -> Any:
    """Accuracy with `layer` projected on its top-`k` directions and then only `m` neurons kept.

    SVCCA Fig. 2b: the output ``mean + (a - mean) P_k`` (as in
    :func:`accuracy_vs_directions`) keeps its values only at the m neurons of
    :func:`neurons_for_directions`; the other neurons get their mean (``fill="mean"``) or 0.
    Directions spread over many neurons need m well above k.

    Returns
    -------
    pandas.DataFrame
        Columns ``m, accuracy``; ``.attrs`` holds ``k``, the accuracy with all neurons of the
        projection (``directions_accuracy``) and the unmodified network's
        (``full_accuracy``).

    Notes
    -----
    Cost: one forward pass over `data` per m, plus two for the references.
    """
    import pandas as pd

    check_option("fill", fill, FILLS)
    check_option("side", side, SIDES)
    if not isinstance(directions, CCADirections):
        raise UnknownOptionError(f"directions must be the result of replens.cca_directions(...); got "
                                 f"{type(directions).__name__}.")
    named_layer(model, layer)
    x, y = _forward.labelled(data, "accuracy_vs_neurons")
    k = _checked_ks([k], directions.k)[0]
    if isinstance(ms, (str, bytes)) or not isinstance(ms, Sequence) or len(ms) == 0:
        raise UnknownOptionError(f"ms must be a non-empty sequence of positive integers; got {ms!r}.")
    orders = {m: neurons_for_directions(directions, k, check_positive_int("ms", m), side=side) for m in ms}
    mean = directions.mean_x if side == "x" else directions.mean_y
    base = mean if fill == "mean" else np.zeros_like(mean)
    projector = directions.projector(k, side)
    width = mean.shape[0]
    acts = _forward.layer_output(model, layer, x[:1])
    if acts.reshape(1, -1).shape[1] != width:
        raise ShapeError(f"layer {layer!r} has {acts.reshape(1, -1).shape[1]} features per example, but side {side!r} "
                         f"of directions has {width} neurons. Pass the directions of this layer.")

    def projected(a: np.ndarray) -> np.ndarray:
        return base + (a - base) @ projector

    rows = []
    for m, kept in orders.items():
        mask = np.zeros(width, dtype=bool)
        mask[kept] = True
        rows.append({"m": m, "accuracy": _replaced_accuracy(
            model, layer, x, y, lambda a, mask=mask: np.where(mask, projected(a), base))})
    table = pd.DataFrame(rows, columns=["m", "accuracy"])
    table.attrs.update({"k": k, "full_accuracy": _forward.accuracy(model, x, y),
                        "directions_accuracy": _replaced_accuracy(model, layer, x, y, projected)})
    return table
