"""The depth pathology of plain CNNs: how many layers are near-copies of the last one.

Kornblith et al. 2019 (sec. 6.2, Fig. 3): in plain CNNs made 8x deeper, "more than half of
the network are very similar to the last layer" under linear CKA, and linear probes
plateau less than halfway; BN or residual connections remove the pathology.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_fraction
from ..errors import ShapeError
from ._similarity import layer_matrix

__all__ = ["fraction_similar_to_last"]


def fraction_similar_to_last(sim_matrix: Any, measure: str = "linear_cka", tau: float = 0.8) -> float:
    """Fraction of a network's layers whose similarity to its last layer is at least `tau`.

    ``(1 / L) * #{i : S[i, L-1] >= tau}`` for the (L, L) matrix ``S`` of a network against
    itself, layers in depth order; the last layer counts itself (``S[L-1, L-1]`` is 1 for
    CKA). Cost ``O(L)``.

    Parameters
    ----------
    sim_matrix : SimilarityMatrix or array-like of shape (L, L)
        ``rl.compare(layers, measures=...)`` of one network with itself, or a plain matrix.
    measure : str, default "linear_cka"
        The measure to read from a SimilarityMatrix; ignored for arrays.
    tau : float in (0, 1], default 0.8
        The similarity at which a layer counts as "very similar" (0.8 as in claims.md K08;
        the paper gives no number).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ShapeError
        The matrix is not square.
    UnknownOptionError
        `tau` is not in (0, 1], or `measure` is not in the SimilarityMatrix.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> s = np.array([[1, .5, .2], [.5, 1, .9], [.2, .9, 1]])
    >>> rl.analyses.fraction_similar_to_last(s, tau=0.8)
    0.6666666666666666
    """
    tau = check_fraction("tau", tau)
    values, _, _ = layer_matrix(sim_matrix, measure)
    if values.shape[0] != values.shape[1]:
        raise ShapeError(f"fraction_similar_to_last needs one network compared with itself (a square "
                         f"matrix, layers in depth order on both axes); got shape {values.shape}. "
                         f"Pass rl.compare(layers) with a single list of layers.")
    return float(np.mean(values[:, -1] >= tau))
