"""Cumulative ablation: accuracy as a growing fraction of a layer's units is zeroed (PWCCA Fig. 5b).

Morcos et al. (2018, sec. 3.3) colour their learning-rate clusters in the plane of
"robustness to cumulative deletion or 'ablation' of filters" against generalisation error,
the measure of Morcos, Barrett, Rabinowitz & Botvinick (2018, "On the importance of single
directions for generalization", their ref. [21]). A unit is an index along dimension 1 of
the layer's output: a neuron of a linear layer (n, units), a channel ("filter") of a conv
layer (n, c, h, w). For an order pi of the p units and fractions f_1 < ... < f_m,

    k_j      = round(f_j * p)                           units zeroed at step j
    acc_j    = accuracy of the network with units pi_1 .. pi_{k_j} of the layer set to 0
    AUC      = sum_j (f_{j+1} - f_j) (acc_j + acc_{j+1}) / 2     (trapezoid rule)

so the ablated sets are nested (cumulative). ``order="random"`` draws `n_orders` random
permutations (``numpy.random.default_rng(seed)``) and averages the curves;
``order="max_activation"`` / ``"min_activation"`` zero the units with the largest / smallest
mean activation on `x` first (one deterministic order). The zeroing is a forward hook on the
layer (:func:`~replens.analyses.replace.replaced_output`); the network runs in eval mode
with no gradients (batch norm uses its running statistics). With fractions spanning [0, 1]
the AUC is the accuracy averaged over the ablated fraction, in [0, 1]. Cost: ``n_orders * m``
forward passes over `x`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_option
from ..errors import NonFiniteError, ShapeError, UnknownOptionError
from ._forward import accuracy, labelled, layer_output
from .replace import named_layer, replaced_output

__all__ = ["ABLATION_ORDERS", "AblationCurve", "cumulative_ablation"]

ABLATION_ORDERS = ("random", "max_activation", "min_activation")
"""The unit orders :func:`cumulative_ablation` offers."""


@dataclass(frozen=True)
class AblationCurve:
    """Accuracy against the fraction of a layer's units zeroed, and the area under it.

    Attributes
    ----------
    layer : str
        The ablated layer.
    order : str
        How units were ordered (``"random"``, ``"max_activation"``, ``"min_activation"``).
    n_units : int
        Units of the layer (its size along dimension 1).
    fractions : ndarray (m,)
        The fractions asked for, increasing, in [0, 1].
    n_ablated : ndarray of int (m,)
        Units zeroed at each fraction, ``round(fraction * n_units)``.
    accuracy : ndarray (m,)
        Mean accuracy over the orders at each fraction.
    accuracy_per_order : ndarray (n_orders, m)
        Each order's curve (one row for the activation orders).
    auc : float
        Trapezoid area under ``accuracy`` over ``fractions``.
    """

    layer: str
    order: str
    n_units: int
    fractions: np.ndarray
    n_ablated: np.ndarray
    accuracy: np.ndarray
    accuracy_per_order: np.ndarray
    auc: float


def cumulative_ablation(model: Any, layer: str, x: Any, y: Any, fractions: Any, *, order: str = "random",
                        n_orders: int = 5, seed: int = 0) -> AblationCurve:
    """Accuracy of `model` on (x, y) as a growing fraction of `layer`'s units is set to zero.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier whose outputs are logits (n, n_classes).
    layer : str
        A name from ``model.named_modules()``; its output has the units along dimension 1.
    x : array (n, ...)
        Inputs.
    y : int array (n,)
        Class labels.
    fractions : sequence of float
        At least two strictly increasing fractions in [0, 1], e.g. ``np.linspace(0, 1, 11)``.
    order : {"random", "max_activation", "min_activation"}, default "random"
        Which units go first (module docstring).
    n_orders : int, default 5
        Random orders averaged (``order="random"`` only; the activation orders are one).
    seed : int, default 0
        Seeds the random orders.

    Returns
    -------
    AblationCurve

    Raises
    ------
    UnknownOptionError
        Bad fractions, order, n_orders or seed; `layer` not in the model.
    ShapeError
        The layer's output is not a tensor with units along dimension 1; x and y disagree.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from replens.analyses.ablation import cumulative_ablation
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Identity())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.eye(2)), net[0].bias.zero_()
    >>> x = np.array([[1., 0.], [0., 1.]]); y = np.array([0, 1])
    >>> res = cumulative_ablation(net, "1", x, y, [0, 1], order="max_activation")
    >>> res.accuracy.tolist(), res.auc
    ([1.0, 0.5], 0.75)
    """
    import torch

    check_option("order", order, ABLATION_ORDERS)
    steps = _check_fractions(fractions)
    if isinstance(n_orders, bool) or not isinstance(n_orders, (int, np.integer)) or n_orders < 1:
        raise UnknownOptionError(f"n_orders must be a positive integer; got {n_orders!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    x, y = labelled((x, y), "cumulative ablation")
    named_layer(model, layer)
    acts = layer_output(model, layer, x[:2] if order == "random" else x)
    if acts.ndim < 2:
        raise ShapeError(f"layer {layer!r} gives outputs of shape {acts.shape}; ablation needs units along "
                         f"dimension 1, shape (n, units, ...).")
    p = int(acts.shape[1])
    if order == "random":
        rng = np.random.default_rng(int(seed))
        orders = [rng.permutation(p) for _ in range(int(n_orders))]
    else:
        mean = acts.reshape(acts.shape[0], p, -1).mean(axis=(0, 2))
        ranked = np.argsort(-mean if order == "max_activation" else mean, kind="stable")
        orders = [ranked]
    counts = np.rint(steps * p).astype(np.int64)
    curves = np.empty((len(orders), len(steps)))
    for o, units in enumerate(orders):
        for j, k in enumerate(counts):
            keep = np.ones(p)
            keep[units[:k]] = 0.0
            curves[o, j] = _ablated_accuracy(torch, model, layer, keep, x, y)
    mean_curve = curves.mean(axis=0)
    area = float(np.sum(np.diff(steps) * (mean_curve[1:] + mean_curve[:-1]) / 2.0))
    return AblationCurve(layer=layer, order=order, n_units=p, fractions=steps, n_ablated=counts,
                         accuracy=mean_curve, accuracy_per_order=curves, auc=area)


def _ablated_accuracy(torch: Any, model: Any, layer: str, keep: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with `layer`'s output multiplied by the 0/1 mask `keep` along dimension 1."""

    def zero_units(output: Any) -> Any:
        if not isinstance(output, torch.Tensor) or output.ndim < 2 or output.shape[1] != keep.size:
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ShapeError(f"layer {layer!r} gives {got}; ablation needs one tensor with {keep.size} units "
                             f"along dimension 1.")
        mask = torch.as_tensor(keep, dtype=output.dtype, device=output.device)
        return output * mask.reshape((1, keep.size) + (1,) * (output.ndim - 2))

    with replaced_output(model, layer, zero_units):
        return accuracy(model, x, y)


def _check_fractions(fractions: Any) -> np.ndarray:
    try:
        steps = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UnknownOptionError(f"fractions must be a sequence of numbers in [0, 1]; got {fractions!r:.80}.") from exc
    if steps.ndim != 1 or steps.size < 2:
        raise UnknownOptionError(f"fractions must be a 1-D sequence of at least two fractions (the area needs two); "
                                 f"got shape {steps.shape}. Pass e.g. numpy.linspace(0, 1, 11).")
    if not np.isfinite(steps).all():
        raise NonFiniteError("fractions hold NaN or infinite values; pass numbers in [0, 1].")
    if steps.min() < 0 or steps.max() > 1 or np.any(np.diff(steps) <= 0):
        raise UnknownOptionError(f"fractions must increase strictly within [0, 1]; got {steps.tolist()[:12]}.")
    return steps
