"""Zoos: networks of one architecture trained on the digits from different seeds.

The CKA paper's sanity check (Kornblith et al. 2019, sec. 6.1) needs several networks of
one architecture that differ only in their random initialisation and mini-batch order.
Two such zoos train on the CPU in a few seconds:

* ``"mlp"``: a deep ReLU MLP, ``64 -> [64] * 8 -> 10`` (:func:`~replens.zoo.models.build_mlp`);
* ``"cnn"``: a small all-convolutional net on the 8x8 images in the spirit of the paper's
  All-CNN-C-like network: six 3x3 convolutions (padding 1) with a ReLU after each, channels
  16, 16, 32, 32, 64, 64, downsampling by stride-2 convolutions (maps 4x4, 4x4, 2x2, 2x2,
  1x1, 1x1: 256, 256, 128, 128, 64, 64 units), then a global average pool and a linear
  read-out (:func:`~replens.zoo.models.build_cnn`).

Every hidden layer (every ReLU's output, in the order the layers ran) is read on the
held-out split: MLP layers as (n, width), conv layers as (n, c, h, w) (NCHW).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .digits import DigitsSplit
from .layers import layer_activations
from .training import TrainedNet, train_cnn, train_mlp

__all__ = ["ARCHITECTURES", "Zoo", "ZooConfig", "train_zoo"]


@dataclass(frozen=True)
class ZooConfig:
    """How one zoo's networks are built and trained.

    Attributes
    ----------
    architecture : {"mlp", "cnn"}
        Which network family.
    widths : tuple of int
        Hidden widths of the MLP, or channels of each conv layer of the CNN.
    strides : tuple of int
        Stride of each conv layer (CNN only; empty for the MLP).
    epochs, lr, batch_size
        Adam's schedule, the same for every seed.
    """

    architecture: str
    widths: tuple[int, ...]
    epochs: int
    lr: float
    batch_size: int
    strides: tuple[int, ...] = ()

    def describe(self, n_features: int = 64, n_classes: int = 10) -> str:
        """One line such as ``ReLU MLP 64 -> 64 x 8 -> 10``."""
        if self.architecture == "mlp":
            return f"ReLU MLP {n_features} -> {_run_lengths(self.widths)} -> {n_classes}"
        layers = ", ".join(f"{c}" + (f"/s{s}" if s != 1 else "") for c, s in zip(self.widths, self.strides))
        return (f"CNN on 8x8 digits: {len(self.widths)} x [conv 3x3 pad 1, ReLU], channels/stride "
                f"{layers}; global average pool; linear -> {n_classes}")


def _run_lengths(widths: Sequence[int]) -> str:
    return f"{widths[0]} x {len(widths)}" if len(set(widths)) == 1 else " -> ".join(map(str, widths))


ARCHITECTURES: dict[str, ZooConfig] = {
    "mlp": ZooConfig("mlp", (64,) * 8, epochs=20, lr=1e-3, batch_size=32),
    "cnn": ZooConfig("cnn", (16, 16, 32, 32, 64, 64), epochs=20, lr=3e-3, batch_size=64,
                     strides=(2, 1, 2, 1, 2, 1)),
}
"""The default zoos of :func:`replens.demo.sanity.run_sanity_check`."""


@dataclass
class Zoo:
    """Networks of one architecture, one per seed, and their hidden layers on held-out data.

    Attributes
    ----------
    config : ZooConfig
    nets : list of TrainedNet
        One per seed, in seed order; ``accuracy`` is the held-out accuracy.
    layers : list of list of (str, ndarray)
        ``layers[k]`` holds network k's hidden layers in the order they ran, as
        ``(name, activations)`` with float32 arrays (n, width) or (n, c, h, w).
    """

    config: ZooConfig
    nets: list[TrainedNet]
    layers: list[list[tuple[str, np.ndarray]]]

    @property
    def architecture(self) -> str:
        return self.config.architecture

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.layers[0])


def train_zoo(split: DigitsSplit, config: ZooConfig, seeds: Sequence[int]) -> Zoo:
    """Train one network of ``config`` per seed and read its hidden layers on
    ``split.x_test``. Cost: a few seconds per network on one core for the default zoos."""
    if config.architecture not in ("mlp", "cnn"):
        raise ValueError(f"architecture must be 'mlp' or 'cnn', got {config.architecture!r}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be one or more distinct ints, got {list(seeds)!r}")
    nets = []
    for seed in seeds:
        if config.architecture == "mlp":
            net = train_mlp(split, seed=seed, hidden_widths=config.widths, epochs=config.epochs,
                            lr=config.lr, batch_size=config.batch_size)
        else:
            net = train_cnn(split, seed=seed, channels=config.widths, strides=config.strides or None,
                            epochs=config.epochs, lr=config.lr, batch_size=config.batch_size)
        nets.append(net)
    layers = [layer_activations(net.model, split.x_test) for net in nets]
    return Zoo(config=config, nets=nets, layers=layers)
