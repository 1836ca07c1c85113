"""Small networks for the digits: a deep ReLU MLP and an all-convolutional CNN.

Both take the flat (n, 64) rows of :class:`~replens.zoo.digits.DigitsSplit`; every hidden
representation is the output of a named ``nn.ReLU``. torch is imported when a model is built.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = ["IMAGE_SHAPE", "build_cnn", "build_mlp"]

IMAGE_SHAPE = (1, 8, 8)
"""Channels, height and width of a digit: its 64 features are the 8x8 pixels row by row."""


def build_mlp(in_features: int, hidden_widths: Sequence[int], n_classes: int) -> nn.Sequential:
    """``in -> [Linear, ReLU] * len(hidden_widths) -> Linear(n_classes)``.

    Modules are named ``fc1, h1, fc2, h2, ..., out``: ``h<k>`` is the k-th ReLU, whose output
    is the k-th hidden representation.
    """
    from torch import nn

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


def build_cnn(channels: Sequence[int], n_classes: int, *, strides: Sequence[int] | None = None,
              image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> nn.Sequential:
    """``(n, 64) -> unflatten (n, 1, 8, 8) -> [Conv3x3 pad 1 stride s_k, ReLU] * len(channels)
    -> global average pool -> Linear(n_classes)``.

    The model takes the same flat (n, 64) rows as the MLP. Modules are named ``conv1, relu1,
    ..., pool, flat, out``: ``relu<k>`` is the k-th hidden representation, (n, c_k, h_k, w_k).
    ``strides`` defaults to 1 everywhere.
    """
    from torch import nn

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
