"""A model both a test and a child process can build: the same class name, the same weights.

Importable as ``_trust_models`` (pytest puts the tests folder on ``sys.path``; child processes
get it through PYTHONPATH). ``SlowMLP`` sleeps in its forward pass when REPLENS_TEST_SLOW is
set, so a test can kill the process that runs it between two chunks.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from torch import nn


class SlowMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delay = float(os.environ.get("REPLENS_TEST_SLOW", "0"))
        if delay:
            time.sleep(delay)
        return self.fc2(torch.relu(self.fc1(x)))


def inputs(n: int = 60) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 6)).astype(np.float32)


class Loud(nn.Module):
    """Outputs up to about 1e5 from its second layer: beyond float16 (65504), fine in float32."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.small = nn.Linear(6, 4)
        self.loud = nn.Linear(4, 2)
        with torch.no_grad():
            self.loud.weight.fill_(3e4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.loud(self.small(x).abs() + 1.0)


def loud() -> nn.Module:
    return Loud()


def slow_mlp() -> nn.Module:
    return SlowMLP()
