"""The zoo's torch modules that ``nn.Sequential`` cannot express: a ResNet basic block and an
LSTM layer that returns only its hidden-state sequence.

Importing this module imports torch; :mod:`.networks` imports it when a network is built.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "LSTMLayer"]


class BasicBlock(nn.Module):
    """A ResNet basic block (He et al. 2016): ``relu2(bn2(conv2(relu1(bn1(conv1(x))))) + s(x))``.

    ``s`` is the identity, or ``shortcut``, a strided 1x1 convolution (and batch norm) when the
    block changes the resolution or the channels. Without batch norm ``bn1``/``bn2`` are None
    and the convolutions have biases. The block's output is its post-residual activation;
    ``relu1``'s is the block interior. Shapes: (n, in_channels, h, w) -> (n, out_channels,
    h / stride, w / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, batchnorm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batchnorm)
        self.bn1 = nn.BatchNorm2d(out_channels) if batchnorm else None
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batchnorm)
        self.bn2 = nn.BatchNorm2d(out_channels) if batchnorm else None
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            projection: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 1, stride=stride,
                                                     bias=not batchnorm)]
            if batchnorm:
                projection.append(nn.BatchNorm2d(out_channels))
            self.shortcut = nn.Sequential(*projection)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.relu1(out if self.bn1 is None else self.bn1(out))
        out = self.conv2(out)
        out = out if self.bn2 is None else self.bn2(out)
        return self.relu2(out + (x if self.shortcut is None else self.shortcut(x)))


class LSTMLayer(nn.Module):
    """One LSTM layer, batch first, whose output is its hidden-state sequence alone:
    (n, T, in_features) -> (n, T, hidden), so that a forward hook on it sees the layer's
    representation at every time step. The wrapped ``nn.LSTM`` is ``self.lstm``."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]
