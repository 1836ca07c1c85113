"""Deterministic training on the digits: Adam and cross-entropy, one seed per network.

A seed fixes the initialisation (``torch.manual_seed`` inside ``torch.random.fork_rng``, so
the caller's RNG is untouched) and the mini-batch order (a private ``torch.Generator``);
every op used has a deterministic CPU kernel. Call ``torch.set_num_threads(1)`` first for
bit-for-bit equal runs. torch is imported when a network is trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .digits import DigitsSplit
from .models import build_cnn, build_mlp

__all__ = ["TrainedNet", "accuracy", "fit_classifier", "train_cnn", "train_mlp"]


@dataclass
class TrainedNet:
    """A trained network (a ``torch.nn.Module`` in eval mode), its seed and held-out accuracy.

    ``hidden_widths`` holds the MLP's hidden widths or the CNN's channels.
    """

    model: Any
    seed: int
    accuracy: float
    hidden_widths: tuple[int, ...]


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x``'s rows whose arg-max logit equals the label in ``y``."""
    import torch

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
    """Train one MLP (:func:`~replens.zoo.models.build_mlp`) with Adam and cross-entropy;
    ``seed`` fixes the initialisation and the mini-batch order. Returns the model (in eval
    mode) with its held-out accuracy."""
    return fit_classifier(lambda: build_mlp(split.n_features, hidden_widths, split.n_classes), split,
                          seed=seed, widths=hidden_widths, epochs=epochs, lr=lr, batch_size=batch_size)


def train_cnn(split: DigitsSplit, *, seed: int, channels: Sequence[int] = (16, 16, 32, 32, 64, 64),
              strides: Sequence[int] | None = (2, 1, 2, 1, 2, 1), epochs: int = 20,
              lr: float = 3e-3, batch_size: int = 64) -> TrainedNet:
    """Train one CNN (:func:`~replens.zoo.models.build_cnn`) exactly as :func:`train_mlp`
    trains an MLP: ``seed`` fixes the initialisation and the mini-batch order. Returns the
    model in eval mode with its held-out accuracy (``hidden_widths`` holds the channels)."""
    return fit_classifier(lambda: build_cnn(channels, split.n_classes, strides=strides), split,
                          seed=seed, widths=channels, epochs=epochs, lr=lr, batch_size=batch_size)


def fit_classifier(build: Callable[[], Any], split: DigitsSplit, *, seed: int, widths: Sequence[int],
                   epochs: int, lr: float, batch_size: int) -> TrainedNet:
    """Build a model with ``build()`` and train it with Adam and cross-entropy, deterministically.

    ``seed`` fixes the initialisation and the mini-batch order; the caller's torch random state
    is left unchanged. Cost: ``epochs`` passes over ``split.x_train``. Returns the model in eval
    mode with its held-out accuracy.
    """
    import torch
    from torch import nn

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
