"""Which layer of network B corresponds to each layer of network A (CKA paper sec. 6.2, Fig. 5).

Comparing a network with a deeper sibling, Kornblith et al. 2019 find that "new layers are
effectively inserted in between the old layers": the most similar layer of B,
``argmax_j S[i, j]``, grows with the depth i of A. Between two networks of the same
architecture from different seeds (sec. 6.1), the argmax should be the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._similarity import layer_matrix

__all__ = ["LayerCorrespondence", "layer_correspondence"]


@dataclass(frozen=True)
class LayerCorrespondence:
    """The argmax map of :func:`layer_correspondence`.

    Attributes
    ----------
    layers_a, layers_b : tuple of str
        Layer names of the two networks.
    argmax : tuple of str
        For each layer of A, the most similar layer of B (ties go to the shallowest).
    argmax_index : ndarray of shape (L_a,), int
        Its position in ``layers_b``.
    best : ndarray of shape (L_a,), float64
        The similarity at the argmax.
    monotonicity : float
        Spearman rank correlation between depth in A (0 .. L_a - 1) and ``argmax_index``; 1
        for a map that never goes back. NaN when A has one layer or the argmax is constant.
    identity_accuracy : float or None
        Fraction of layers i of A whose argmax is layer i of B (the sanity check of sec. 6.1);
        None unless L_a == L_b.
    measure : str
        The measure the map was read from (``""`` for a plain array).
    """

    layers_a: tuple[str, ...]
    layers_b: tuple[str, ...]
    argmax: tuple[str, ...]
    argmax_index: np.ndarray
    best: np.ndarray
    monotonicity: float
    identity_accuracy: float | None
    measure: str

    @property
    def is_identity(self) -> bool:
        """True when every layer of A maps to the layer of B at the same depth."""
        return self.identity_accuracy == 1.0

    @property
    def is_monotone(self) -> bool:
        """True when the argmax never decreases with depth in A."""
        return bool(np.all(np.diff(self.argmax_index) >= 0))


def layer_correspondence(sim_matrix: Any, measure: str = "linear_cka") -> LayerCorrespondence:
    """The most similar layer of B for every layer of A, and how monotone that map is.

    ``argmax_i = argmax_j S[i, j]`` over the columns of one measure's matrix ``S``
    (rows: layers of A in depth order, columns: layers of B). ``monotonicity`` is Spearman's
    rho between ``i`` and ``argmax_i``; ``identity_accuracy = mean_i [argmax_i == i]`` for
    square matrices. Cost ``O(L_a L_b)``.

    Parameters
    ----------
    sim_matrix : SimilarityMatrix or array-like of shape (L_a, L_b)
        ``rl.compare(layers_a, layers_b, ...)`` or a plain matrix of similarities, with both
        networks' layers in depth order. Use a similarity (higher = more alike), not a distance.
    measure : str, default "linear_cka"
        The measure to read from a SimilarityMatrix (label or bare name); ignored for arrays.

    Returns
    -------
    LayerCorrespondence

    Raises
    ------
    UnknownOptionError
        `measure` is not in the SimilarityMatrix.
    ShapeError, NonFiniteError
        The matrix is not 2-D, is empty or has a non-finite entry.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> c = rl.analyses.layer_correspondence(np.eye(3))
    >>> c.argmax_index.tolist(), c.identity_accuracy
    ([0, 1, 2], 1.0)
    """
    values, layers_a, layers_b = layer_matrix(sim_matrix, measure)
    index = np.argmax(values, axis=1)
    best = values[np.arange(len(layers_a)), index]
    monotonicity = _spearman(np.arange(len(layers_a)), index)
    identity = (float(np.mean(index == np.arange(len(layers_a))))
                if len(layers_a) == len(layers_b) else None)
    label = sim_matrix.measures[sim_matrix.index(measure)] if hasattr(sim_matrix, "measures") else ""
    return LayerCorrespondence(layers_a=layers_a, layers_b=layers_b,
                               argmax=tuple(layers_b[j] for j in index), argmax_index=index,
                               best=best, monotonicity=monotonicity, identity_accuracy=identity,
                               measure=label)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.all(y == y[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)
