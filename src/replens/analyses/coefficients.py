"""Canonical correlations of one layer over training against the layer at a reference step.

PWCCA paper sec. 2.2 (Fig 1a-c): the sorted coefficients ``rho_t^(i)`` of layer L at step
t against L at the final step T; many keep changing after the network's accuracy has
converged, which the paper reads as noise in the representation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _progress
from .._validate import check_fraction, check_option, check_positive_int
from ..errors import UninformativeWarning, UnknownOptionError
from ..measures.cca import SVCCA_RULES, correlate, prepare_cca, prepare_svcca, ranks_uninformative
from ._checkpoints import Checkpoint, Modes, checked_checkpoints, checked_index, checked_modes, warn_forced

__all__ = ["coefficients_over_training"]


def coefficients_over_training(
    checkpoints: Sequence[Any],
    layer: str,
    reference: int = -1,
    *,
    threshold: float | None = None,
    keep: int | None = None,
    rule: str = "variance",
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    progress: bool | None = None,
) -> np.ndarray:
    """Canonical correlations of `layer` at every checkpoint against `layer` at the reference.

    Row t holds ``rho(L(t), L(T_ref))``, descending, as :func:`replens.cca` (or, with
    `threshold` / `keep`, :func:`replens.svcca`) computes them. The reference layer is
    prepared once; each checkpoint then costs one basis (``O(n p^2)``) and one small SVD.

    Parameters
    ----------
    checkpoints : sequence
        As for :func:`replens.analyses.learning_dynamics`: ``(step, layers)`` pairs or
        activation caches, in training order, for the same probe examples.
    layer : str
        The layer to follow.
    reference : int, default -1
        Index of the reference checkpoint (-1: the last).
    threshold, keep, rule
        Optional SVCCA truncation before CCA, as in :func:`replens.svcca` (None: plain CCA).
    conv, layout, sequence : str
        How 4-D and 3-D layers become (examples, features), as in :func:`replens.compare`.
    progress : bool or None, default None
        Progress bar over the checkpoints on stderr.

    Returns
    -------
    ndarray of shape (T, k), float64
        ``k`` the largest number of coefficients at any step (``min`` of the two ranks, or
        of the directions kept); rows with fewer (a rank-deficient checkpoint, or fewer
        directions kept by `threshold`) are padded with NaN, and an
        :class:`~replens.UninformativeWarning` names them.
    """
    check_option("rule", rule, SVCCA_RULES)
    if threshold is not None and keep is not None:
        raise UnknownOptionError(f"give threshold or keep, not both (threshold={threshold!r}, keep={keep!r}).")
    threshold = None if threshold is None else check_fraction("threshold", threshold)
    keep = None if keep is None else check_positive_int("keep", keep)
    if not isinstance(layer, str):
        raise UnknownOptionError(f"layer must be a layer name (str); got {type(layer).__name__} {layer!r:.60}.")
    modes = checked_modes(conv, layout, sequence)
    parsed, _ = checked_checkpoints(checkpoints, layers=[layer])
    reference = checked_index("reference", reference, len(parsed))
    truncation = None if threshold is None and keep is None else dict(
        threshold=1.0 if threshold is None else threshold, rule=rule, keep=keep)

    target = _basis(parsed[reference], layer, modes, truncation)
    rows: list[np.ndarray] = []
    forced: list[str] = []
    for t, checkpoint in enumerate(_progress.wrap(parsed, progress, total=len(parsed),
                                                  desc="replens coefficients_over_training",
                                                  unit="checkpoint")):
        basis = target if t == reference else _basis(checkpoint, layer, modes, truncation)
        if ranks_uninformative(basis[1], target[1], int(basis[1].centred.shape[0])):
            forced.append(checkpoint.label)
        rows.append(correlate(basis[0], basis[1], target[1]).rho)
    if forced:
        warn_forced(forced, layer)
    width = max(row.shape[0] for row in rows)
    short = [parsed[t].label for t, row in enumerate(rows) if row.shape[0] < width]
    if short:
        why = ("the truncation kept fewer directions there" if truncation else
               "a lower rank: dead or duplicated units")
        warnings.warn(
            f"{len(short)} checkpoints ({', '.join(short[:3])}{', ...' if len(short) > 3 else ''}) have fewer "
            f"than {width} canonical correlations for {layer!r} ({why}); their rows are padded with NaN.",
            UninformativeWarning, stacklevel=2)
    coefficients = np.full((len(rows), width), np.nan)
    for t, row in enumerate(rows):
        coefficients[t, : row.shape[0]] = row
    return coefficients


def _basis(checkpoint: Checkpoint, layer: str, modes: Modes, truncation: dict | None) -> tuple[Any, Any]:
    xp, matrix = modes.matrix(checkpoint, layer)
    label = checkpoint.layer_label(layer)
    if truncation is None:
        return xp, prepare_cca(xp, matrix, label)
    return xp, prepare_svcca(xp, matrix, name=label, **truncation)
