"""Tiny models and datasets named by ``module.path:factory`` specs in the CLI tests.

Importable as ``_cli_models`` because pytest puts the tests folder on ``sys.path``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

N_FEATURES = 6
N_EXAMPLES = 50


def mlp() -> nn.Module:
    """A 6 -> 8 -> 5 -> 3 ReLU MLP, the same weights every call."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))


def other_mlp() -> nn.Module:
    """The same architecture as :func:`mlp` with other weights."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))


def small_cnn() -> nn.Module:
    """Conv net on (3, 8, 8) images: 4-D outputs for --pool mean."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 2))


def not_a_module() -> str:
    return "a string, not a model"


def broken() -> nn.Module:
    raise RuntimeError("the factory could not build the network")


def inputs() -> np.ndarray:
    """(N_EXAMPLES, N_FEATURES) float32 inputs for :func:`mlp`."""
    return np.random.default_rng(0).standard_normal((N_EXAMPLES, N_FEATURES)).astype(np.float32)


class PairDataset:
    """A map-style dataset of (x, label) pairs, as torchvision datasets give."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = torch.as_tensor(x)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.x[index], index % 3


def pair_dataset() -> PairDataset:
    return PairDataset(inputs())


class FailingDataset(PairDataset):
    """Raises KeyboardInterrupt at item `fail_at` while `armed`: an interrupted extraction.

    Every index read is appended to `fetched`, so a test can see what a resumed run reads.
    """

    armed = True
    fail_at = 23
    fetched: list[int] = []

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        FailingDataset.fetched.append(index)
        if FailingDataset.armed and index == FailingDataset.fail_at:
            raise KeyboardInterrupt
        return super().__getitem__(index)


def failing_dataset() -> FailingDataset:
    return FailingDataset(inputs())


def images() -> np.ndarray:
    """(20, 3, 8, 8) float32 images for :func:`small_cnn`."""
    return np.random.default_rng(1).standard_normal((20, 3, 8, 8)).astype(np.float32)
