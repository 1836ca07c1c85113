"""Synthetic pairs of representations sharing a planted signal subspace (PWCCA Fig. 2, SVCCA App. B).

Two representations share ``d_signal`` common (signal) dimensions and each carries its own
``d_noise`` uncommon (noise) dimensions, mixed into neuron space by a random map. The PWCCA
paper gives neither the noise variance nor the mixing of its Fig. 2; both are options here
and are stated in every result that uses them.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_option, check_positive_int, check_positive_number
from ..errors import UnknownOptionError

__all__ = ["MIXINGS", "synthetic_pc_partners", "synthetic_shared_pair"]

MIXINGS = ("orthogonal", "gaussian", "none")


def synthetic_shared_pair(
    n: int,
    d_signal: int,
    d_noise: int,
    *,
    noise_var: float = 0.1,
    d_noise_x: int | None = None,
    mixing: str = "orthogonal",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two representations with a planted shared subspace of dimension `d_signal`.

    ``X = [S, N_x] M_x`` and ``Y = [S, N_y] M_y``: ``S`` (n, d_signal) standard normal and
    shared, ``N_x`` (n, d_noise_x) and ``N_y`` (n, d_noise) independent normal noise of
    variance `noise_var`, ``M`` a random map to neuron space drawn per side. With
    ``mixing="orthogonal"`` (default) ``M`` is a Haar-random orthogonal matrix, so every
    neuron mixes signal and noise but the variances are kept; ``"gaussian"`` draws ``M``
    with i.i.d. N(0, 1/p) entries (an invertible, non-orthogonal map); ``"none"`` leaves the
    coordinates as they are (signal in the first `d_signal` neurons).

    Parameters
    ----------
    n : int
        Number of examples (rows).
    d_signal : int
        Dimension of the shared subspace; the population canonical correlations are 1 for
        `d_signal` directions and 0 for the rest.
    d_noise : int
        Noise dimensions of Y (and of X unless `d_noise_x` is given); may be 0.
    noise_var : float, default 0.1
        Variance of every noise dimension (the signal has variance 1).
    d_noise_x : int, optional
        Noise dimensions of X when they differ from Y's (SVCCA App. B: A has none).
    mixing : {"orthogonal", "gaussian", "none"}, default "orthogonal"
    seed : int, default 0

    Returns
    -------
    X : ndarray of shape (n, d_signal + d_noise_x), float64
    Y : ndarray of shape (n, d_signal + d_noise), float64

    Notes
    -----
    Cost ``O(n p^2)`` for the mixing (``p = d_signal + d_noise``). At finite n the sample
    canonical correlations of the noise directions are not 0 but of order ``sqrt(p / n)``.

    Examples
    --------
    >>> import replens as rl
    >>> X, Y = rl.analyses.synthetic_shared_pair(500, 3, 7, noise_var=0.01)
    >>> X.shape, Y.shape, bool(rl.cca(X, Y).rho[2] > 0.99)
    ((500, 10), (500, 10), True)
    """
    n = check_positive_int("n", n)
    d_signal = check_positive_int("d_signal", d_signal)
    d_noise = _check_count("d_noise", d_noise)
    d_noise_x = d_noise if d_noise_x is None else _check_count("d_noise_x", d_noise_x)
    noise_var = check_positive_number("noise_var", noise_var)
    check_option("mixing", mixing, MIXINGS)
    seed = _check_count("seed", seed)
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n, d_signal))
    sides = []
    for noise_dims in (d_noise_x, d_noise):
        noise = np.sqrt(noise_var) * rng.standard_normal((n, noise_dims))
        latent = np.concatenate([signal, noise], axis=1)
        sides.append(latent @ _mixing_matrix(rng, latent.shape[1], mixing))
    return sides[0], sides[1]


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UnknownOptionError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def _mixing_matrix(rng: np.random.Generator, p: int, mixing: str) -> np.ndarray:
    if mixing == "none":
        return np.eye(p)
    gaussian = rng.standard_normal((p, p))
    if mixing == "gaussian":
        return gaussian / np.sqrt(p)
    q, r = np.linalg.qr(gaussian)
    return q * np.sign(np.diag(r))  # Haar measure (Mezzadri 2007)


def synthetic_pc_partners(
    n: int,
    p: int,
    k: int,
    *,
    decay: float = 0.8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A representation and two partners sharing only its k largest or only its k smallest PCs.

    CKA paper sec. 2.1, Fig. 1: an index invariant to invertible linear maps "assigns the
    same score to networks that match only in large principal components or networks that
    match only in small principal components". ``X = Z diag(s)`` with ``s_i = decay^i``
    (i = 0 .. p-1) and ``Z`` standard normal; ``Y_large`` keeps X's first k columns and
    draws the other p - k afresh with the same scales; ``Y_small`` keeps X's last k columns
    and draws the first p - k afresh. Both partners share exactly k directions with X, so
    every CCA coefficient distribution is the same in law; CKA weighs them by variance.

    Parameters
    ----------
    n, p, k : int
        Examples, features, shared components (``1 <= k < p``).
    decay : float in (0, 1), default 0.8
        Ratio of consecutive standard deviations.
    seed : int, default 0

    Returns
    -------
    X, Y_large, Y_small : ndarray of shape (n, p), float64

    Examples
    --------
    >>> import replens as rl
    >>> X, large, small = rl.analyses.synthetic_pc_partners(1000, 10, 3)
    >>> bool(rl.cka(X, large) > rl.cka(X, small))
    True
    """
    n = check_positive_int("n", n)
    p = check_positive_int("p", p)
    k = check_positive_int("k", k)
    if k >= p:
        raise UnknownOptionError(f"k must be below p, {p} (the partners share k of the p components); got k={k}.")
    decay = float(decay) if isinstance(decay, (int, float)) and not isinstance(decay, bool) else float("nan")
    if not 0 < decay < 1:
        raise UnknownOptionError(f"decay must be a number in (0, 1); got {decay!r}.")
    seed = _check_count("seed", seed)
    rng = np.random.default_rng(seed)
    scales = decay ** np.arange(p)
    x = rng.standard_normal((n, p)) * scales
    large = np.concatenate([x[:, :k], rng.standard_normal((n, p - k)) * scales[k:]], axis=1)
    small = np.concatenate([rng.standard_normal((n, p - k)) * scales[: p - k], x[:, p - k:]], axis=1)
    return x, large, small
