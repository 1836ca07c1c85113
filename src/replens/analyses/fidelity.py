"""How well a layer projected onto its top-k SVCCA directions reproduces the network's output
(SVCCA Fig. 3: "By 30, the output looks very similar to the full 200 neuron output")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ShapeError, UnknownOptionError
from . import _forward
from .replace import named_layer, replaced_output

__all__ = ["OutputFidelity", "output_fidelity"]


@dataclass(frozen=True)
class OutputFidelity:
    """Result of :func:`output_fidelity`.

    Attributes
    ----------
    ks : tuple of int
        The numbers of directions kept, as given.
    r2 : ndarray of shape (len(ks),), float64
        R^2 of the projected network's output against the full network's, per k.
    full : ndarray of shape (n, d), float64
        The unmodified network's output on `x`.
    projected : ndarray of shape (len(ks), n, d), float64
        The output with the layer projected on its top-k directions, per k.
    """

    ks: tuple[int, ...]
    r2: np.ndarray
    full: np.ndarray
    projected: np.ndarray


def output_fidelity(model: Any, layer: str, directions: Any, ks: Sequence[int], x: Any, *,
                    side: str = "x") -> OutputFidelity:
    """R^2 of the network's output with `layer` projected onto its top-k directions, per k.

    For each k the layer's output ``a`` is replaced, inside the forward pass, by
    ``mean + (a - mean) W_k L_k`` (:meth:`replens.CCADirections.project`, side `side`), and
    the network's output ``f_k(x)`` is compared with the unmodified output ``f(x)``:

    ``R^2_k = 1 - sum_ij (f_k(x)_ij - f(x)_ij)^2 / sum_ij (f(x)_ij - mean_i f(x)_ij)^2``,

    pooled over the d outputs (each output centred by its own mean). R^2 = 1 when the top-k
    directions carry everything the later layers use.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
        A name from ``model.named_modules()`` whose output is a matrix (n, p).
    directions : CCADirections
        From :func:`replens.cca_directions`, with `layer`'s activations on side `side`.
    ks : sequence of int
        Numbers of directions, each ``1 <= k <= directions.k``.
    x : array-like of shape (n, ...)
        Inputs on which to compare the outputs (n >= 2).
    side : {"x", "y"}, default "x"

    Returns
    -------
    OutputFidelity

    Raises
    ------
    UnknownOptionError
        `layer` is not a module of `model`, `directions` is not a CCADirections, `ks` is empty
        or holds a k outside ``1 .. directions.k``.
    ShapeError
        `x` has fewer than 2 examples, the layer's width differs from the directions', or the
        full output is constant (R^2 undefined).

    Cost: ``len(ks) + 1`` forward passes over `x`, each projection ``O(n p k)``.
    """
    import torch

    named_layer(model, layer)
    if not callable(getattr(directions, "project", None)) or not hasattr(directions, "k"):
        raise UnknownOptionError(f"directions must be a CCADirections (replens.cca_directions(...)); got "
                                 f"{type(directions).__name__}.")
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) or len(ks) == 0:
        raise UnknownOptionError(f"ks must be a non-empty sequence of integers; got {ks!r:.60}.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= directions.k:
            raise UnknownOptionError(f"each k in ks must be an integer from 1 to {directions.k} (the directions "
                                     f"kept); got {k!r}. Compute more directions (keep=) or pass smaller ks.")
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ShapeError(f"x must hold at least 2 examples (n, ...); got shape {x.shape}.")
    width = _forward.layer_output(model, layer, x[:1]).reshape(1, -1).shape[1]
    expected = directions.weights_x.shape[0] if side == "x" else directions.weights_y.shape[0]
    if width != expected:
        raise ShapeError(f"layer {layer!r} has {width} neurons but the directions' side {side!r} has {expected}; "
                         f"pass directions computed from this layer's activations.")
    full = _forward.logits(model, x).reshape(x.shape[0], -1)
    total = float(np.sum((full - full.mean(axis=0)) ** 2))
    if total == 0.0:
        raise ShapeError("the network's output is constant on x, so R^2 is undefined; pass varied inputs.")

    def projection(k: int) -> Any:
        def replace(out: Any) -> Any:
            return torch.as_tensor(directions.project(out.detach().double().cpu().numpy(), int(k), side),
                                   dtype=out.dtype, device=out.device)
        return replace

    projected = []
    for k in ks:
        with replaced_output(model, layer, projection(k)):
            projected.append(_forward.logits(model, x).reshape(x.shape[0], -1))
    stack = np.stack(projected)
    r2 = np.array([1.0 - float(np.sum((p - full) ** 2)) / total for p in stack])
    return OutputFidelity(ks=tuple(int(k) for k in ks), r2=r2, full=full, projected=stack)
