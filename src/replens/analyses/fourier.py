"""Theorem 1 of the SVCCA paper: conv layers on translation-invariant data, in the DFT basis.

Raghu et al. 2017 (sec. 3, App. C): given (1) conv and pool layers with circular boundaries
and (2) a dataset that contains every translation of its images, the covariance of the
per-channel 2-D DFTs of a conv layer is block diagonal, with one c x c block per spatial
frequency; CCA then splits into one small CCA per frequency (:func:`replens.dft_cca`).
:func:`translation_orbit` builds such a dataset and :func:`dft_offblock_fraction` measures
how far activations are from the block-diagonal structure.
"""

from __future__ import annotations

import numpy as np

from .._backend import Array, to_numpy
from .._validate import check_option
from ..errors import NonFiniteError, ShapeError, TooFewExamplesError

__all__ = ["dft_offblock_fraction", "translation_orbit"]

LAYOUTS = ("NCHW", "NHWC")
BASES = ("dft", "pixel")


def translation_orbit(images: Array, *, layout: str = "NCHW") -> np.ndarray:
    """Every circular shift of every image: the dataset Theorem 1 of the SVCCA paper assumes.

    ``orbit[k * h * w + dy * w + dx] = roll(images[k], (dy, dx))`` over the two spatial axes,
    for ``dy in range(h)``, ``dx in range(w)``. Memory ``h w`` times the input.

    Parameters
    ----------
    images : array-like of shape (n, c, h, w), (n, h, w, c) with ``layout="NHWC"``, or (n, h, w)
        Images (numpy array or torch tensor; the result is a float64 numpy array).
    layout : {"NCHW", "NHWC"}, default "NCHW"
        Axis order of 4-D input.

    Returns
    -------
    ndarray of shape (n * h * w, ...) with the axes of `images`

    Raises
    ------
    ShapeError
        `images` is not 3-D or 4-D, or has an empty axis.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rl.analyses.translation_orbit(np.arange(4.0).reshape(1, 1, 2, 2))[:, 0].tolist()
    [[[0.0, 1.0], [2.0, 3.0]], [[1.0, 0.0], [3.0, 2.0]], [[2.0, 3.0], [0.0, 1.0]], [[3.0, 2.0], [1.0, 0.0]]]
    """
    check_option("layout", layout, LAYOUTS)
    x = to_numpy(images)
    if x.ndim not in (3, 4) or 0 in x.shape:
        raise ShapeError(f"images must be (n, c, h, w), (n, h, w, c) with layout='NHWC', or (n, h, w) "
                         f"with no empty axis; got shape {x.shape}.")
    axes = (1, 2) if x.ndim == 3 or layout == "NHWC" else (2, 3)
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    shifted = [np.roll(x, (dy, dx), axis=axes) for dy in range(h) for dx in range(w)]
    # (h*w, n, ...) -> (n, h*w, ...) -> (n*h*w, ...): image-major order
    return np.stack(shifted, axis=1).reshape(x.shape[0] * h * w, *x.shape[1:])


def dft_offblock_fraction(acts: Array, layout: str = "NCHW", *, basis: str = "dft") -> float:
    """Fraction of the DFT covariance's energy outside the c x c per-frequency blocks.

    With ``F[n, u, a]`` the 2-D DFT over the spatial axes of channel ``a`` at frequency
    ``u = (k_h, k_w)``, centred over the examples, the covariance is
    ``Sigma[(u, a), (v, b)] = (1/n) sum_n F[n, u, a] conj(F[n, v, b])``; the result is
    ``sum_{u != v} |Sigma|^2 / sum |Sigma|^2`` (squared Frobenius energy). Theorem 1 makes it
    0 for circular conv layers on a translation orbit; for real data it says how good the
    per-frequency approximation of :func:`replens.dft_cca` is. Cost ``O(n h w c log(h w))``
    for the transforms plus ``O(min(n, h w c)^2 max(n, h w c))`` for the energies (the
    total is computed from the n x n Gram matrix when there are fewer examples than units).

    Parameters
    ----------
    acts : array-like of shape (n, c, h, w), or (n, h, w, c) with ``layout="NHWC"``
        Activations of one conv layer (numpy array or torch tensor).
    layout : {"NCHW", "NHWC"}, default "NCHW"
        Axis order.
    basis : {"dft", "pixel"}, default "dft"
        ``"pixel"`` skips the transform: the energy off the c x c blocks of each spatial
        location, the baseline the DFT basis is compared with (SVCCA Fig. App.2 a vs b).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ShapeError
        `acts` is not 4-D or has an empty axis.
    TooFewExamplesError
        Fewer than 2 examples.
    NonFiniteError
        `acts` has a NaN or inf, or every example is the same (zero covariance).

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> orbit = rl.analyses.translation_orbit(np.random.default_rng(0).standard_normal((3, 2, 4, 4)))
    >>> rl.analyses.dft_offblock_fraction(orbit) < 1e-20
    True
    """
    check_option("layout", layout, LAYOUTS)
    check_option("basis", basis, BASES)
    x = to_numpy(acts)
    if x.ndim != 4 or 0 in x.shape:
        raise ShapeError(f"acts must be 4-D (n, c, h, w), or (n, h, w, c) with layout='NHWC', with no "
                         f"empty axis; got shape {x.shape}.")
    if layout == "NCHW":
        x = np.moveaxis(x, 1, 3)
    n, h, w, c = x.shape
    if n < 2:
        raise TooFewExamplesError(f"acts needs at least 2 examples to form a covariance; got {n}.")
    if not np.all(np.isfinite(x)):
        raise NonFiniteError("acts has non-finite values (NaN or inf); the covariance needs finite ones.")
    f = (np.fft.fft2(x, axes=(1, 2)) if basis == "dft" else x.astype(np.complex128)).reshape(n, h * w, c)
    f -= f.mean(axis=0)
    # per-frequency c x c blocks: (h w, c, c)
    blocks = np.einsum("nua,nub->uab", f, f.conj()) / n
    block_energy = float(np.sum(np.abs(blocks) ** 2))
    flat = f.reshape(n, h * w * c)
    gram = flat @ flat.conj().T if n < h * w * c else flat.conj().T @ flat
    total = float(np.sum(np.abs(gram) ** 2)) / n**2
    if total == 0.0:
        raise NonFiniteError("acts has zero covariance (every example is the same); the off-block "
                             "fraction is undefined.")
    if n < h * w * c:
        return float(min(1.0, max(0.0, (total - block_energy) / total)))
    # with the full covariance at hand, sum the off-block entries directly (no cancellation)
    sigma = (gram / n).reshape(h * w, c, h * w, c)
    off = sigma.copy()
    off[np.arange(h * w), :, np.arange(h * w), :] = 0
    return float(np.sum(np.abs(off) ** 2)) / total
