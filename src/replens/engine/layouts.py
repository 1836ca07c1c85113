"""Convolutional (n, h, w, c) and sequence (n, t, d) activations as (examples, features) matrices.

Measures compare 2-D matrices; how a 4-D or 3-D layer becomes one is a modelling choice
the caller makes explicitly:

conv modes (4-D, layout "NCHW" as PyTorch stores it, or "NHWC"):
    ``flatten``              (n, h*w*c): every unit is a feature.
    ``spatial_as_examples``  (n*h*w, c): each position is an example (SVCCA tutorial
                             style); every layer compared must have the same h and w.
    ``mean_pool``            (n, c): global average over positions.
    ``dft``                  kept 4-D for :func:`replens.dft_cca` (Fourier CCA).
sequence modes (3-D, (n, t, d)):
    ``flatten`` (n, t*d), ``time_as_examples`` (n*t, d), ``mean`` (n, d), ``last`` (n, d).
"""

from __future__ import annotations

from typing import Any

from .._backend import Array
from .._validate import check_option
from ..errors import ShapeError

CONV_MODES = ("flatten", "spatial_as_examples", "mean_pool", "dft")
SEQUENCE_MODES = ("flatten", "time_as_examples", "mean", "last")
LAYOUTS = ("NCHW", "NHWC")


def to_nhwc(xp: Any, x: Array, layout: str) -> Array:
    """A 4-D array in (n, h, w, c) order."""
    return xp.permute_dims(x, (0, 2, 3, 1)) if layout == "NCHW" else x


def as_matrix(xp: Any, name: str, x: Array, *, conv: str, layout: str, sequence: str) -> Array:
    """The (examples, features) matrix that represents layer `name` under the chosen modes.

    2-D layers pass through. Under ``conv="dft"`` 4-D layers are returned in NHWC order,
    unflattened. Raises ShapeError for layers of other dimensionality.
    """
    ndim = len(x.shape)
    if ndim == 2:
        return x
    if ndim == 4:
        x = to_nhwc(xp, x, layout)
        n, h, w, c = x.shape
        if conv == "flatten":
            return xp.reshape(x, (n, h * w * c))
        if conv == "spatial_as_examples":
            return xp.reshape(x, (n * h * w, c))
        if conv == "mean_pool":
            return xp.mean(x, axis=(1, 2))
        return x
    if ndim == 3:
        n, t, d = x.shape
        if sequence == "flatten":
            return xp.reshape(x, (n, t * d))
        if sequence == "time_as_examples":
            return xp.reshape(x, (n * t, d))
        if sequence == "mean":
            return xp.mean(x, axis=1)
        return x[:, -1, :]
    raise ShapeError(
        f"layer {name!r} has {ndim}-D shape {tuple(x.shape)}; expected 2-D (examples, "
        f"features), 3-D (examples, time, features) or 4-D conv activations ({'/'.join(LAYOUTS)}).")


def check_modes(conv: str, layout: str, sequence: str) -> None:
    """Raise UnknownOptionError for an unknown conv mode, layout or sequence mode."""
    check_option("conv", conv, CONV_MODES)
    check_option("layout", layout, LAYOUTS)
    check_option("sequence", sequence, SEQUENCE_MODES)
