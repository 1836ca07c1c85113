"""Small input helpers of the direction analyses: float64 matrices checked before any work."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import to_numpy
from .._validate import check_pair


def checked_pair(x: Any, y: Any, *, names: tuple[str, str] = ("X", "Y"), min_examples: int = 2,
                 reason: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 numpy matrices, validated as every pair measure validates them."""
    _, x, y = check_pair(x, y, names=names, min_examples=min_examples, reason=reason)
    return np.asarray(to_numpy(x), dtype=np.float64), np.asarray(to_numpy(y), dtype=np.float64)


def centred_svd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of the centred matrix, truncated at the numerical rank.

    Rank tolerance ``s_max * max(n, p) * eps`` (as numpy's ``matrix_rank``). Returns
    ``(U (n, r), s (r,), Vt (r, p))``, ``s`` descending.
    """
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return u[:, :0], s[:0], vt[:0]
    rank = int(np.sum(s > s[0] * max(centred.shape) * np.finfo(np.float64).eps))
    return u[:, :rank], s[:rank], vt[:rank]
