"""A zoo of architecturally identical networks trained on digits from different seeds.

The CKA paper's sanity check (Kornblith et al. 2019, sec. 6.1) needs several networks of
one architecture that differ only in their random initialisation and mini-batch order.
This module trains two such zoos on scikit-learn's bundled 8x8 digits, on the CPU, in a
few seconds:

* ``"mlp"``: a deep ReLU MLP, ``64 -> [64] * 8 -> 10`` (the demo's :func:`build_mlp`);
* ``"cnn"``: a small all-convolutional net on the 8x8 images in the spirit of the paper's
  All-CNN-C-like network: six 3x3 convolutions (padding 1) with a ReLU after each, channels
  16, 16, 32, 32, 64, 64, downsampling by stride-2 convolutions (maps 4x4, 4x4, 2x2, 2x2,
  1x1, 1x1: 256, 256, 128, 128, 64, 64 units), then a global average pool and a linear
  read-out.

and reads every hidden layer (every ReLU's output, in the order the layers ran) on the
held-out split: MLP layers as (n, width), conv layers as (n, c, h, w) (NCHW).

Training is deterministic: a seed fixes the initialisation (``torch.manual_seed`` inside
``torch.random.fork_rng``, so the caller's RNG is untouched) and the mini-batch order (a
private ``torch.Generator``); every op used has a deterministic CPU kernel. Call
``torch.set_num_threads(1)`` first for bit-for-bit equal runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..activations import extract
from .digits import DigitsSplit
from .mlp import TrainedNet, fit_classifier, train_mlp

__all__ = [
    "ARCHITECTURES",
    "Zoo",
    "ZooConfig",
    "build_cnn",
    "layer_activations",
    "train_cnn",
    "train_zoo",
]

IMAGE_SHAPE = (1, 8, 8)
"""Channels, height and width of a digit: its 64 features are the 8x8 pixels row by row."""


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


def build_cnn(channels: Sequence[int], n_classes: int, *, strides: Sequence[int] | None = None,
              image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> nn.Sequential:
    """``(n, 64) -> unflatten (n, 1, 8, 8) -> [Conv3x3 pad 1 stride s_k, ReLU] * len(channels)
    -> global average pool -> Linear(n_classes)``.

    The model takes the same flat (n, 64) rows as the MLP. Modules are named ``conv1, relu1,
    ..., pool, flat, out``: ``relu<k>`` is the k-th hidden representation, (n, c_k, h_k, w_k).
    ``strides`` defaults to 1 everywhere.
    """
    widths = [int(c) for c in channels]
    if not widths or any(c < 1 for c in widths):
        raise ValueError(f"channels must be one or more positive ints, got {list(channels)!r}")
    steps = [1] * len(widths) if strides is None else [int(s) for s in strides]
    if len(steps) != len(widths) or any(s < 1 for s in steps):
        raise ValueError(f"strides must be {len(widths)} positive ints (one per conv layer), "
                         f"got {None if strides is None else list(strides)!r}")
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    modules["image"] = nn.Unflatten(1, image_shape)
    previous = image_shape[0]
    for k, (width, stride) in enumerate(zip(widths, steps), start=1):
        modules[f"conv{k}"] = nn.Conv2d(previous, width, kernel_size=3, stride=stride, padding=1)
        modules[f"relu{k}"] = nn.ReLU()
        previous = width
    modules["pool"] = nn.AdaptiveAvgPool2d(1)
    modules["flat"] = nn.Flatten()
    modules["out"] = nn.Linear(previous, int(n_classes))
    return nn.Sequential(modules)


def train_cnn(split: DigitsSplit, *, seed: int, channels: Sequence[int] = (16, 16, 32, 32, 64, 64),
              strides: Sequence[int] | None = (2, 1, 2, 1, 2, 1), epochs: int = 20,
              lr: float = 3e-3, batch_size: int = 64) -> TrainedNet:
    """Train one CNN with Adam and cross-entropy, exactly as :func:`train_mlp` trains an MLP:
    ``seed`` fixes the initialisation and the mini-batch order. Returns the model in eval
    mode with its held-out accuracy (``hidden_widths`` holds the channels)."""
    return fit_classifier(lambda: build_cnn(channels, split.n_classes, strides=strides), split,
                          seed=seed, widths=channels, epochs=epochs, lr=lr, batch_size=batch_size)


def layer_activations(model: nn.Module, x: np.ndarray, *,
                      layer_types: tuple[type[nn.Module], ...] = (nn.ReLU,)
                      ) -> list[tuple[str, np.ndarray]]:
    """Every output of a sub-module of ``layer_types`` (default: every ReLU) for inputs ``x``.

    One forward pass under ``torch.inference_mode`` with forward hooks; returns ``(name,
    array)`` pairs in the order the modules ran, as float32 arrays of the module's own
    shape: (n, width) for MLP layers, (n, c, h, w) (NCHW) for conv layers. Unlike
    :func:`replens.demo.mlp.hidden_activations`, nothing is flattened: how a conv layer
    becomes a matrix is the comparison's choice (``rl.compare(conv=...)``).
    """
    taps = [name for name, module in model.named_modules() if name and isinstance(module, layer_types)]
    if not taps:
        raise ValueError(f"model has no sub-module of type {[t.__name__ for t in layer_types]}")
    acts = extract(model, torch.as_tensor(x, dtype=torch.float32), layers=taps, progress=False,
                   batch_size=len(x))
    return list(acts.items())


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
