"""Signal and noise directions: which canonical directions of a layer stay put over training.

PWCCA paper Fig 1d-f: CCA between layer L early in training (t_early) and at T/2 gives
coefficients ``rho_{T/2}``; the k canonical variates of L(T/2) with the highest
coefficients form S ("top converged"), the k with the lowest form B. CCA of S and of B with
L at every later step t then shows S staying correlated ("signal") while B "rapidly becomes
uncorrelated" ("noise"), apart from a spike at T/2, where B lies in L's own span.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _progress
from .._backend import to_numpy
from .._validate import check_positive_int
from ..errors import UninformativeWarning, UnknownOptionError
from ..measures.cca import correlate, prepare_cca, ranks_uninformative
from ..measures.directions import cca_directions
from ._checkpoints import checked_checkpoints, checked_index, checked_modes

__all__ = ["DirectionStability", "direction_stability"]


@dataclass(frozen=True)
class DirectionStability:
    """Result of :func:`direction_stability`, float64.

    Attributes
    ----------
    steps : ndarray of shape (T',)
        Steps of the checkpoints after the early one, where S and B are tracked.
    top, bottom : ndarray of shape (T',)
        Mean canonical correlation of S (top-k directions) and of B (bottom-k) with the
        layer at each of `steps`.
    top_rho, bottom_rho : ndarray of shape (T', k)
        The canonical correlations themselves, descending (NaN-padded where L(t) has
        rank below k).
    rho : ndarray of shape (r,)
        ``rho_{T/2}``: the coefficients of the early-vs-middle CCA that ranked the directions.
    k : int
        Directions in each set.
    early_step, middle_step : float
        Steps of the two checkpoints the directions come from.
    layer : str
        The layer followed.
    """

    steps: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    top_rho: np.ndarray
    bottom_rho: np.ndarray
    rho: np.ndarray
    k: int
    early_step: float
    middle_step: float
    layer: str


def direction_stability(
    checkpoints: Sequence[Any],
    layer: str,
    early: int = 0,
    middle: int | None = None,
    k: int = 100,
    *,
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    progress: bool | None = None,
) -> DirectionStability:
    """How the top-k and bottom-k converged CCA directions of a layer hold up over training.

    PWCCA paper Fig 1d-f: with ``cca_directions(L(t_early), L(t_middle))`` (exact CCA,
    :func:`replens.cca_directions`), ``S = variates_y[:, :k]`` and ``B = variates_y[:, -k:]``
    (variates of the middle checkpoint's layer, orthonormal over the probe examples); then
    for every checkpoint t after the early one, the canonical correlations of S and of B
    with L(t). Cost: one CCA of the layer plus, per checkpoint, one basis of L(t) and two
    (k x r) SVDs.

    Parameters
    ----------
    checkpoints : sequence
        As for :func:`replens.analyses.learning_dynamics`, in training order.
    layer : str
        The layer to follow.
    early : int, default 0
        Index of the early checkpoint.
    middle : int, optional
        Index of the checkpoint the directions are ranked at; None takes the checkpoint
        whose step is nearest to the middle of the recorded steps (the paper's T/2).
    k : int, default 100
        Directions in each set; at most the number of canonical pairs of the two
        checkpoints. When ``2k`` exceeds it the sets overlap (a warning says so).
    conv, layout, sequence : str
        How 4-D and 3-D layers become (examples, features), as in :func:`replens.compare`.
    progress : bool or None, default None
        Progress bar over the checkpoints on stderr.

    Returns
    -------
    DirectionStability
        ``steps``, ``top``, ``bottom`` (mean rho per step), ``top_rho``, ``bottom_rho``,
        ``rho`` and the settings.

    Notes
    -----
    The bottom set's values never reach 0: CCA of k random directions with p neurons on n
    examples has mean rho of order ``sqrt(p / n)`` (the permutation floor; compare against
    :func:`replens.stats.permutation_test` of the same pair).
    """
    if not isinstance(layer, str):
        raise UnknownOptionError(f"layer must be a layer name (str); got {type(layer).__name__} {layer!r:.60}.")
    k = check_positive_int("k", k)
    modes = checked_modes(conv, layout, sequence)
    parsed, _ = checked_checkpoints(checkpoints, layers=[layer], minimum=2)
    early = checked_index("early", early, len(parsed))
    steps = np.array([float(c.step) for c in parsed])
    if early == len(parsed) - 1:
        raise UnknownOptionError(f"early must leave later checkpoints to track; got early={early}, the last "
                                 f"of {len(parsed)} checkpoints.")
    if middle is None:
        after = steps[early + 1:]
        middle = early + 1 + int(np.argmin(np.abs(after - 0.5 * (steps[0] + steps[-1]))))
    middle = checked_index("middle", middle, len(parsed))
    if middle <= early:
        raise UnknownOptionError(
            f"middle must be a checkpoint after early; got early={early} ({parsed[early].label}) and "
            f"middle={middle} ({parsed[middle].label}).")
    first = parsed[0]
    width = modes.width(tuple(first.layers[layer].shape), first.layer_label(layer))
    if k > width:
        raise UnknownOptionError(f"k must be at most the {width} features of {layer!r}; got k={k}.")

    directions = cca_directions(to_numpy(modes.matrix(parsed[early], layer)[1]),
                                to_numpy(modes.matrix(parsed[middle], layer)[1]))
    if k > directions.k:
        raise UnknownOptionError(
            f"k must be at most the {directions.k} canonical directions of {layer!r} between "
            f"{parsed[early].label} and {parsed[middle].label} (the smaller rank); got k={k}.")
    if 2 * k > directions.k:
        warnings.warn(f"2k = {2 * k} exceeds the {directions.k} canonical directions, so the top and bottom "
                      f"sets share {2 * k - directions.k}.", UninformativeWarning, stacklevel=2)
    top_set = prepare_cca(np, directions.variates_y[:, :k], "S")
    bottom_set = prepare_cca(np, directions.variates_y[:, -k:], "B")

    later = parsed[early + 1:]
    top_rho, bottom_rho = np.full((len(later), k), np.nan), np.full((len(later), k), np.nan)
    forced: list[str] = []
    for t, checkpoint in enumerate(_progress.wrap(later, progress, total=len(later),
                                                  desc="replens direction_stability", unit="checkpoint")):
        basis = prepare_cca(np, to_numpy(modes.matrix(checkpoint, layer)[1]), checkpoint.layer_label(layer))
        if ranks_uninformative(top_set, basis, int(basis.centred.shape[0])):
            forced.append(checkpoint.label)
        for out, chosen in ((top_rho, top_set), (bottom_rho, bottom_set)):
            rho = correlate(np, chosen, basis).rho
            out[t, : rho.shape[0]] = rho
    if forced:
        warnings.warn(
            f"{len(forced)} checkpoints (e.g. {forced[0]}) give k + rank > n - 1 for {layer!r}: some "
            f"canonical correlations of the direction sets are 1 whatever the data (Kornblith et al. "
            f"2019, Theorem 1). Use more probe examples or a smaller k.", UninformativeWarning, stacklevel=2)
    return DirectionStability(
        steps=steps[early + 1:], top=np.nanmean(top_rho, axis=1), bottom=np.nanmean(bottom_rho, axis=1),
        top_rho=top_rho, bottom_rho=bottom_rho, rho=directions.rho, k=k,
        early_step=parsed[early].step, middle_step=parsed[middle].step, layer=layer)
