"""Compressing a network by projecting its top layers onto their SVCCA directions (SVCCA sec. 4.4).

For a layer L whose output ``x`` (p neurons) feeds a linear layer ``W x + b``, the paper
replaces ``W x`` with ``(W P^T)(P x)``, ``P`` a k x p projection onto the top-k directions:
two linear layers with ``k (p + out)`` weights instead of ``p out``. The layers are
compressed one after another, each on the already-compressed network.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_fraction, check_option
from ..errors import ShapeError, UnknownOptionError
from ..measures.directions import cca_directions
from . import _forward
from .replace import named_layer

__all__ = ["REFERENCES", "Compression", "compress", "compression_basis"]

REFERENCES = ("logits", "peer")


@dataclass(frozen=True)
class Compression:
    """Result of :func:`compress`.

    Attributes
    ----------
    model : torch.nn.Module
        A compressed copy (the input model is untouched).
    table : pandas.DataFrame
        One row per compressed layer, in order, after compressing it (and the ones before):
        ``layer, fraction, k, width, cca_directions, parameters_kept, train_accuracy,
        test_accuracy``; ``parameters_kept`` is the fraction of the following linear layer's
        parameters left. ``table.attrs`` holds the original ``train_accuracy`` and
        ``test_accuracy``.
    """

    model: Any
    table: Any


def compression_basis(acts: np.ndarray, reference: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Weights ``W_k`` (p, k), loadings ``L_k`` (k, p) and mean of a k-dimensional projection.

    The first directions are the canonical directions of `acts` against `reference`
    (:func:`replens.cca_directions`), at most ``min`` of the two ranks (10 against 10
    logits); the paper does not say how the rest are chosen (claims.md S12), so the rest
    are the top principal directions of what those variates leave unexplained. With
    ``Xc = acts - mean`` the variates ``Xc W_k`` are orthonormal and ``Xc W_k L_k`` is each
    neuron's least-squares fit from them. Returns ``(W_k, L_k, mean, n_canonical)``; fewer
    than k columns where the rank of `acts` is below k.
    """
    directions = cca_directions(acts, reference)
    n_canonical = min(k, directions.k)
    weights = directions.weights_x[:, :n_canonical]
    loadings = directions.loadings_x[:n_canonical]
    mean = directions.mean_x
    if n_canonical < k:
        centred = acts - mean
        residual = centred - (centred @ weights) @ loadings
        _, s, vt = np.linalg.svd(residual, full_matrices=False)
        rank = int(np.sum(s > s[0] * max(residual.shape) * np.finfo(np.float64).eps)) if s.size and s[0] > 0 else 0
        extra = min(k - n_canonical, rank)
        # U_j = R v_j / s_j = Xc (I - W L) v_j / s_j: weights on the neurons, no inverse formed
        extra_weights = (vt[:extra].T - weights @ (loadings @ vt[:extra].T)) / s[:extra]
        weights = np.concatenate([weights, extra_weights], axis=1)
        loadings = np.concatenate([loadings, s[:extra, None] * vt[:extra]], axis=0)
    return weights, loadings, mean, n_canonical


def compress(
    model: Any,
    layers: Sequence[str],
    fraction: float,
    *,
    reference: str = "logits",
    data: Any,
    peer: Any = None,
) -> Compression:
    """Compress `layers` of `model` to `fraction` of their width by SVCCA projection.

    For each layer in order: its output ``a`` on the training inputs (of the network
    compressed so far), the basis of :func:`compression_basis` against the reference
    (the original model's logits, or the same layer of `peer`) with
    ``k = max(1, round(fraction * p))``, and the next ``torch.nn.Linear`` after the layer,
    ``W a + b``, replaced by ``Linear(p, k)`` with weight ``W_k^T`` and bias
    ``-mean W_k``, followed by ``Linear(k, out)`` with weight ``W L_k^T`` and bias
    ``b + W mean``: exactly ``W (mean + (a - mean) W_k L_k) + b``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier; each layer in `layers` must output (n, p) and be followed (in
        ``model.named_modules()`` order) by the ``nn.Linear`` that consumes it.
    layers : sequence of str
        Layer names, compressed in this order.
    fraction : float in (0, 1]
    reference : {"logits", "peer"}, default "logits"
    data : (x_train, y_train, x_test, y_test)
        Directions are fit on ``x_train``; accuracies on both splits.
    peer : torch.nn.Module, optional
        Required for ``reference="peer"``: a second network with the same layer names.

    Returns
    -------
    Compression

    Notes
    -----
    Cost per layer: forward passes over the training set and ``O(n p^2)`` for the
    directions.
    """
    import pandas as pd
    import torch

    fraction = check_fraction("fraction", fraction)
    check_option("reference", reference, REFERENCES)
    if (peer is None) == (reference == "peer"):
        raise UnknownOptionError(f"reference={reference!r} " + (
            "needs peer=, a second network with the same layers." if peer is None else
            "takes no peer; pass reference='peer' to use it."))
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise UnknownOptionError(f"layers must be a non-empty sequence of layer names; got {layers!r}.")
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise UnknownOptionError("data must be (x_train, y_train, x_test, y_test), as replens.zoo.load returns it; "
                                 f"got {type(data).__name__}" + (f" of length {len(data)}" if isinstance(
                                     data, (tuple, list)) else "") + ".")
    x_train, y_train = _forward.labelled(tuple(data[:2]), "compress")
    x_test, y_test = _forward.labelled(tuple(data[2:]), "compress")
    for layer in layers:
        named_layer(model, layer)
        if peer is not None:
            named_layer(peer, layer)
        _next_linear(model, layer)
    compressed = copy.deepcopy(model)
    target = _forward.logits(model, x_train) if reference == "logits" else None
    rows = []
    for layer in layers:
        acts = _forward.layer_output(compressed, layer, x_train)
        if acts.ndim != 2:
            raise ShapeError(f"layer {layer!r} outputs shape {acts.shape[1:]} per example; compress needs (n, p) "
                             f"outputs feeding a Linear layer. Pass fully connected layers.")
        ref = target if peer is None else _forward.layer_output(peer, layer, x_train).reshape(len(x_train), -1)
        width = acts.shape[1]
        k = max(1, round(fraction * width))
        weights, loadings, mean, n_canonical = compression_basis(acts, ref, k)
        parent, name, linear = _next_linear(compressed, layer)
        w = linear.weight.detach().double().cpu().numpy()
        b = (linear.bias.detach().double().cpu().numpy() if linear.bias is not None else np.zeros(w.shape[0]))
        kept = weights.shape[1]
        first = torch.nn.Linear(width, kept)
        second = torch.nn.Linear(kept, w.shape[0])
        dtype, device = linear.weight.dtype, linear.weight.device
        with torch.no_grad():
            first.weight.copy_(torch.as_tensor(weights.T, dtype=dtype))
            first.bias.copy_(torch.as_tensor(-mean @ weights, dtype=dtype))
            second.weight.copy_(torch.as_tensor(w @ loadings.T, dtype=dtype))
            second.bias.copy_(torch.as_tensor(b + w @ mean, dtype=dtype))
        setattr(parent, name, torch.nn.Sequential(first, second).to(device=device, dtype=dtype))
        rows.append({"layer": layer, "fraction": fraction, "k": kept, "width": width,
                     "cca_directions": n_canonical,
                     "parameters_kept": (kept * (width + 1) + w.shape[0] * (kept + 1)) / (w.size + w.shape[0]),
                     "train_accuracy": _forward.accuracy(compressed, x_train, y_train),
                     "test_accuracy": _forward.accuracy(compressed, x_test, y_test)})
    table = pd.DataFrame(rows)
    table.attrs["train_accuracy"] = _forward.accuracy(model, x_train, y_train)
    table.attrs["test_accuracy"] = _forward.accuracy(model, x_test, y_test)
    return Compression(model=compressed, table=table)


def _next_linear(model: Any, layer: str) -> tuple[Any, str, Any]:
    """``(parent module, attribute name, module)`` of the first nn.Linear after `layer`."""
    import torch

    names = [name for name, _ in model.named_modules()]
    modules = dict(model.named_modules())
    start = names.index(layer)
    for name in names[start + 1:]:
        if name.startswith(layer + "."):
            continue
        if isinstance(modules[name], torch.nn.Linear):
            parent_name, _, attribute = name.rpartition(".")
            return modules[parent_name], attribute, modules[name]
    raise UnknownOptionError(f"no torch.nn.Linear follows layer {layer!r} in the model, so it cannot be compressed "
                             f"as W x -> (W P^T)(P x). Pass layers that feed a Linear layer.")
