"""Small ReLU MLPs for the demo: build, train deterministically, read hidden activations.

Everything that touches torch's global random state does so inside
``torch.random.fork_rng``, so training a network leaves the caller's RNG untouched. Call
``torch.set_num_threads(1)`` beforehand for bit-for-bit reproducible runs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .digits import DigitsSplit

__all__ = ["TrainedNet", "build_mlp", "train_mlp", "accuracy", "hidden_activations"]


@dataclass
class TrainedNet:
    """A trained network, the seed it came from and its accuracy on the held-out split."""

    model: nn.Module
    seed: int
    accuracy: float
    hidden_widths: tuple[int, ...]


def build_mlp(in_features: int, hidden_widths: Sequence[int], n_classes: int) -> nn.Sequential:
    """``in -> [Linear, ReLU] * len(hidden_widths) -> Linear(n_classes)``.

    Modules are named ``fc1, h1, fc2, h2, ..., out``: ``h<k>`` is the k-th ReLU, whose output
    is the k-th hidden representation.
    """
    widths = [int(w) for w in hidden_widths]
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"hidden_widths must be one or more positive ints, got {list(hidden_widths)!r}")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    prev = int(in_features)
    for k, width in enumerate(widths, start=1):
        layers[f"fc{k}"] = nn.Linear(prev, width)
        layers[f"h{k}"] = nn.ReLU()
        prev = width
    layers["out"] = nn.Linear(prev, int(n_classes))
    return nn.Sequential(layers)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x``'s rows whose arg-max logit equals the label in ``y``."""
    model.eval()
    with torch.inference_mode():
        pred = model(torch.as_tensor(x, dtype=torch.float32)).argmax(dim=1)
    return float((pred == torch.as_tensor(y)).to(torch.float64).mean())


def train_mlp(
    split: DigitsSplit,
    *,
    seed: int,
    hidden_widths: Sequence[int] = (64, 64, 48, 32),
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 32,
) -> TrainedNet:
    """Train one MLP with Adam and cross-entropy; ``seed`` fixes the initialisation and the
    mini-batch order. Returns the model (in eval mode) with its held-out accuracy."""
    return fit_classifier(lambda: build_mlp(split.n_features, hidden_widths, split.n_classes), split,
                          seed=seed, widths=hidden_widths, epochs=epochs, lr=lr, batch_size=batch_size)


def fit_classifier(build, split: DigitsSplit, *, seed: int, widths: Sequence[int], epochs: int,
                   lr: float, batch_size: int) -> TrainedNet:
    """Build a model with ``build()`` and train it with Adam and cross-entropy, deterministically.

    ``seed`` fixes the initialisation and the mini-batch order; the caller's torch random state
    is left unchanged. Returns the model in eval mode with its held-out accuracy.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    x = torch.as_tensor(split.x_train, dtype=torch.float32)
    y = torch.as_tensor(split.y_train, dtype=torch.int64)
    n = x.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        order = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=order)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss_fn(model(x[idx]), y[idx]).backward()
                optimiser.step()
    model.eval()
    return TrainedNet(model=model, seed=int(seed), accuracy=accuracy(model, split.x_test, split.y_test),
                      hidden_widths=tuple(int(w) for w in widths))


def hidden_activations(
    model: nn.Module, x: np.ndarray, *, layer_types: tuple[type[nn.Module], ...] = (nn.ReLU,)
) -> list[tuple[str, np.ndarray]]:
    """Run ``x`` through ``model`` once and return the output of every sub-module of one of
    ``layer_types`` (default: every ReLU), in the order they ran, as ``(name, array)`` pairs
    with float64 arrays of shape (n, width) (non-2-D outputs are flattened per example)."""
    from .zoo import layer_activations

    return [(name, a.reshape(a.shape[0], -1).astype(np.float64))
            for name, a in layer_activations(model, x, layer_types=layer_types)]
