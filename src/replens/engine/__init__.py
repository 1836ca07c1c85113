"""The engine: every measure between every layer of A and of B, per-layer work shared."""

from .compare import compare

__all__ = ["compare"]
