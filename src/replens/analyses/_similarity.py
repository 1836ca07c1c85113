"""Reading one measure's (layers A x layers B) matrix out of a SimilarityMatrix or an array.

Private helper of the layer-structure analyses (``correspondence``, ``pathology``,
``block_contrast``): they accept what :func:`replens.compare` returns or a plain 2-D array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NonFiniteError, ReplensError, ShapeError
from ..results.matrix import SimilarityMatrix

__all__ = ["layer_matrix"]


def layer_matrix(sim_matrix: Any, measure: Any, *, argument: str = "sim_matrix"
                 ) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """``(values (L_a, L_b) float64, layers_a, layers_b)`` of `measure` in `sim_matrix`.

    A :class:`SimilarityMatrix` is indexed by `measure` (label or bare name); a 2-D array is
    taken as it is (its layers are named ``"0", "1", ...``) and `measure` is ignored.
    """
    if isinstance(sim_matrix, SimilarityMatrix):
        values = np.asarray(sim_matrix[measure], dtype=np.float64)
        layers_a, layers_b = tuple(sim_matrix.layers_a), tuple(sim_matrix.layers_b)
    else:
        try:
            values = np.asarray(sim_matrix, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ReplensError(f"{argument} must be a SimilarityMatrix (rl.compare's result) or a 2-D "
                               f"array of similarities; got {type(sim_matrix).__name__}.") from exc
        if values.ndim != 2:
            raise ShapeError(f"{argument} must be a SimilarityMatrix or a 2-D array (layers of A x "
                             f"layers of B); got a {values.ndim}-D array of shape {values.shape}.")
        layers_a = tuple(str(i) for i in range(values.shape[0]))
        layers_b = tuple(str(j) for j in range(values.shape[1]))
    if values.size == 0:
        raise ShapeError(f"{argument} holds no layers (shape {values.shape}).")
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise NonFiniteError(f"{argument} has a non-finite similarity at (layer {layers_a[bad[0]]!r}, "
                             f"layer {layers_b[bad[1]]!r}); every entry must be finite.")
    return values, layers_a, layers_b
