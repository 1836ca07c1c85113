"""Reading a trained network's hidden layers: the output of every ReLU, in the order they ran."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import extract

__all__ = ["hidden_activations", "layer_activations"]


def layer_activations(model: Any, x: np.ndarray, *, layer_types: tuple[type, ...] | None = None
                      ) -> list[tuple[str, np.ndarray]]:
    """Every output of a sub-module of ``layer_types`` (default: every ``nn.ReLU``) for inputs ``x``.

    One forward pass under ``torch.inference_mode`` with forward hooks
    (:func:`replens.extract`); returns ``(name, array)`` pairs in the order the modules ran,
    as float32 arrays of the module's own shape: (n, width) for MLP layers, (n, c, h, w)
    (NCHW) for conv layers. Nothing is flattened: how a conv layer becomes a matrix is the
    comparison's choice (``rl.compare(conv=...)``).
    """
    import torch

    types = (torch.nn.ReLU,) if layer_types is None else tuple(layer_types)
    taps = [name for name, module in model.named_modules() if name and isinstance(module, types)]
    if not taps:
        raise ValueError(f"model has no sub-module of type {[t.__name__ for t in types]}")
    acts = extract(model, torch.as_tensor(x, dtype=torch.float32), layers=taps, progress=False,
                   batch_size=len(x))
    return list(acts.items())


def hidden_activations(model: Any, x: np.ndarray, *, layer_types: tuple[type, ...] | None = None
                       ) -> list[tuple[str, np.ndarray]]:
    """:func:`layer_activations` flattened per example and in float64: ``(name, array (n, width))``
    pairs, one per sub-module of ``layer_types`` (default: every ReLU), in the order they ran."""
    return [(name, a.reshape(a.shape[0], -1).astype(np.float64))
            for name, a in layer_activations(model, x, layer_types=layer_types)]
