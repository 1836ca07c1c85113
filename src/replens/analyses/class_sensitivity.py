"""Where class information forms: each layer against one class's logit (SVCCA sec. 4.3, Fig. 6).

For each class c the logit ``z_c`` over the examples is a single column; CCA of a layer
against it gives the multiple correlation of ``z_c`` with the layer. For a conv layer the
paper uses DFT CCA: the logit is the same at every spatial position, so its 2-D DFT over
positions is zero except at frequency (0, 0), and only that block, each channel's spatial
sum (mean pooling up to a scale, to which CCA is invariant), can correlate with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._backend import is_integer_scalar, to_numpy
from .._validate import check_option
from ..errors import ShapeError, UnknownOptionError
from ..measures.registry import as_measure

__all__ = ["CONV_MODES", "class_sensitivity"]

CONV_MODES = ("dft", "mean_pool", "flatten")


def class_sensitivity(
    layers: Any,
    logits: Any,
    classes: Sequence[int],
    *,
    measure: Any = "cca_mean_rho",
    conv: str = "dft",
) -> np.ndarray:
    """Similarity of each layer with each class's logit: shape (n_classes, n_layers).

    Entry ``[i, j]`` is ``measure(layer_j, logits[:, [classes[i]]])``. 4-D layers (NCHW)
    become (n, channels) by ``conv``: ``"dft"`` and ``"mean_pool"`` give the same
    numbers for a CCA measure (see the module docstring), ``"flatten"`` keeps every
    position as a feature (with p >= n - 1 CCA against one column is 1 for any data,
    claims.md K01).

    Parameters
    ----------
    layers : mapping of str to array-like, or sequence of array-like
        Activations of each layer for the same n examples, (n, p) or (n, c, h, w).
    logits : array-like of shape (n, n_logits)
    classes : sequence of int
        Columns of `logits` to use.
    measure : str or Measure, default "cca_mean_rho"
    conv : {"dft", "mean_pool", "flatten"}, default "dft"

    Returns
    -------
    ndarray of shape (len(classes), n_layers), float64, layers in the order given.

    Notes
    -----
    Cost: one measure evaluation per (class, layer); for CCA ``O(n p^2)`` each.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> f = rng.standard_normal((300, 4))
    >>> z = np.c_[f[:, 0], rng.standard_normal(300)]
    >>> rl.analyses.class_sensitivity([f, rng.standard_normal((300, 4))], z, [0]).round(2)
    array([[1.  , 0.15]])
    """
    check_option("conv", conv, CONV_MODES)
    m = as_measure(measure)
    named = list(layers.items()) if isinstance(layers, Mapping) else (
        list(enumerate(layers)) if isinstance(layers, Sequence) and not isinstance(layers, str) else None)
    if not named:
        raise UnknownOptionError(f"layers must be a non-empty mapping name -> activations or a sequence of "
                                 f"activations; got {type(layers).__name__}.")
    z = np.asarray(to_numpy(logits) if hasattr(logits, "shape") else logits, dtype=np.float64)
    if z.ndim != 2:
        raise ShapeError(f"logits must be 2-D (examples, classes); got shape {z.shape}. Pass the network's "
                         f"outputs for the same examples.")
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise UnknownOptionError(f"classes must be a non-empty sequence of class indices; got {classes!r}.")
    for c in classes:
        if not is_integer_scalar(c) or not 0 <= c < z.shape[1]:
            raise UnknownOptionError(f"classes must be column indices of logits, 0 to {z.shape[1] - 1}; got {c!r}.")
    matrices = []
    for name, acts in named:
        a = np.asarray(to_numpy(acts) if hasattr(acts, "shape") else acts, dtype=np.float64)
        if a.shape[0] != z.shape[0]:
            raise ShapeError(f"layer {name!r} has {a.shape[0]} examples but logits has {z.shape[0]}; pass "
                             f"activations and logits of the same examples, in the same order.")
        if a.ndim == 4 and conv != "flatten":
            a = a.mean(axis=(2, 3))
        matrices.append(a.reshape(a.shape[0], -1))
    return np.array([[float(m(a, z[:, [c]])) for a in matrices] for c in classes], dtype=np.float64)
