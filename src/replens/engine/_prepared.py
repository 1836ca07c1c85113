"""Per-layer preparations kept within a memory budget, least recently used dropped first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass
from typing import Any

from .._backend import nbytes


def held_bytes(prepared: Any) -> int:
    """Bytes held by the arrays of a preparation: an array, or a dataclass / tuple of them."""
    if hasattr(prepared, "shape") and hasattr(prepared, "dtype"):
        return nbytes(prepared)
    if is_dataclass(prepared) and not isinstance(prepared, type):
        return sum(held_bytes(getattr(prepared, item.name)) for item in fields(prepared))
    if isinstance(prepared, (tuple, list)):
        return sum(held_bytes(item) for item in prepared)
    return 0


class PreparedLayers:
    """Preparations computed on first use and kept within `budget` bytes.

    Pairs are visited row by row, so a layer of A is reused along its row and layers of B
    across rows; when the budget cannot hold them all, the least recently used are dropped
    and recomputed when needed again (slower, never wrong).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The preparation stored under `key`, built by `build()` if it is not held."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        prepared = build()
        size = held_bytes(prepared)
        while self._cache and self._bytes + size > self.budget:
            _, dropped = self._cache.popitem(last=False)
            self._bytes -= held_bytes(dropped)
        self._cache[key] = prepared
        self._bytes += size
        return prepared
