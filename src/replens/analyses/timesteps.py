"""Similarity of a recurrent network's hidden state across the timesteps of a sequence.

PWCCA paper sec. 4 (App. A.2-A.4): with the hidden states ``h_t`` (n examples x d units) at
every timestep t of the same n sequences, the (T, T) matrix of a measure between
timesteps shows how the representation moves over the sequence; CCA finds similarity
"missed by traditional metrics", yet the hidden state often varies nonlinearly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Array, namespace_of
from ..engine.compare import compare
from ..errors import ShapeError, TooFewExamplesError
from ..measures.registry import Measure, as_measure

__all__ = ["timestep_similarity"]


def timestep_similarity(
    hidden: Array,
    measure: str | Measure | Any = "pwcca",
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """The (T, T) matrix of a measure between the hidden states at every pair of timesteps.

    ``values[i, j] = m(hidden[:, i, :], hidden[:, j, :])``: asymmetric measures keep their
    direction (PWCCA's weights come from timestep i). Each timestep is prepared once, and a
    symmetric measure scores each pair once, through :func:`replens.compare`; cost ``T``
    preparations (``O(n d^2)`` each for the CCA family) and ``T (T + 1) / 2`` scores.

    Parameters
    ----------
    hidden : array-like of shape (n_sequences, T, d)
        Hidden (or cell) states of one layer for the same n sequences at T timesteps
        (numpy array or torch tensor).
    measure : str, Measure or callable, default "pwcca"
        A registered name, ``rl.measure(...)`` or ``f(X, Y) -> float``.
    progress : bool or None, default None
        Progress bar over the pairs on stderr.

    Returns
    -------
    ndarray of shape (T, T), float64

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> h = np.random.default_rng(0).standard_normal((200, 3, 4))
    >>> rl.analyses.timestep_similarity(h, "linear_cka").shape
    (3, 3)
    """
    m = as_measure(measure)
    xp, (hidden,) = namespace_of(hidden)
    if len(hidden.shape) != 3:
        raise ShapeError(
            f"hidden must be 3-D with shape (sequences, timesteps, units); got {len(hidden.shape)}-D shape "
            f"{tuple(hidden.shape)}. Stack the states of every timestep along axis 1.")
    n, steps, _ = hidden.shape
    if n < m.info.min_examples:
        raise TooFewExamplesError(f"{m.label} needs at least {m.info.min_examples} sequences (rows of hidden); "
                                  f"got {n} in hidden {tuple(hidden.shape)}.")
    if steps < 1:
        raise ShapeError(f"hidden holds no timesteps (shape {tuple(hidden.shape)}).")
    layers = [(f"t={t}", hidden[:, t, :]) for t in range(steps)]
    return compare(layers, measures=[m], progress=progress).values[0]
