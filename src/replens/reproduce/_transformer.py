"""The small Transformer encoder of K07 (claims.md K07): MNIST rows as 28 tokens.

The zoo has no Transformer, so K07's network is defined here, in the zoo's spirit: seeded
initialisation that leaves the caller's random state alone, trained by
:func:`replens.zoo.train`. Each of its sublayers is a module whose output is the residual
stream after it, so :func:`replens.zoo.layer_activations` with
``layer_types=sublayer_types()`` records the 2 x depth sublayers the CKA paper compares (its "12
sublayers" of a 6-layer encoder).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["build_encoder", "sublayer_types"]


@functools.cache
def _classes() -> tuple[type, type, type]:
    import torch
    from torch import nn

    class SelfAttentionSublayer(nn.Module):
        """``x + MHA(LN(x))`` (pre-norm): (n, T, d) -> (n, T, d)."""

        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.attention = nn.MultiheadAttention(d, heads, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.norm(x)
            return x + self.attention(h, h, h, need_weights=False)[0]

    class FeedForwardSublayer(nn.Module):
        """``x + W2 relu(W1 LN(x))`` (pre-norm): (n, T, d) -> (n, T, d)."""

        def __init__(self, d: int, hidden: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.mlp(self.norm(x))

    class RowEncoder(nn.Module):
        """Images (n, 1, 28, 28) -> 28 row tokens -> encoder -> mean over tokens -> 10 logits."""

        def __init__(self, d: int, layers: int, heads: int, hidden: int, tokens: int, features: int) -> None:
            super().__init__()
            self.embed = nn.Linear(features, d)
            self.position = nn.Parameter(torch.zeros(1, tokens, d))
            blocks: list[nn.Module] = []
            for _ in range(layers):
                blocks += [SelfAttentionSublayer(d, heads), FeedForwardSublayer(d, hidden)]
            self.blocks = nn.Sequential(*blocks)
            self.norm = nn.LayerNorm(d)
            self.out = nn.Linear(d, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.embed(x.flatten(1, 2) if x.dim() == 4 else x) + self.position
            return self.out(self.norm(self.blocks(h)).mean(dim=1))

    return SelfAttentionSublayer, FeedForwardSublayer, RowEncoder


def sublayer_types() -> tuple[type, type]:
    """The module types whose outputs are the sublayers (for ``layer_activations``)."""
    attention, feed_forward, _ = _classes()
    return attention, feed_forward


def build_encoder(*, seed: int, d: int = 64, layers: int = 3, heads: int = 4, hidden: int = 128) -> Any:
    """A freshly initialised row encoder for 28 x 28 images; the caller's torch RNG is untouched."""
    import torch

    *_, encoder = _classes()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return encoder(d, layers, heads, hidden, tokens=28, features=28)
