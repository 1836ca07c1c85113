"""How much faster CCA per spatial frequency is than CCA of flattened conv layers (SVCCA App. C.5).

Raghu et al. 2017 give the cost of the DFT route as ``k n log n + n^2 k^2.5`` against
``(k n^2)^2.5`` for CCA of the flattened (n x n x k) layer: the flattened problem has
``h w c`` units, the DFT route ``h w`` problems of ``c`` units each.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validate import check_positive_int
from ..errors import ReplensError, TooFewExamplesError, UninformativeWarning
from ..measures.cca import cca
from ..measures.dft import dft_cca

__all__ = ["DFTTiming", "time_dft_vs_full"]


@dataclass(frozen=True)
class DFTTiming:
    """What :func:`time_dft_vs_full` measured.

    Attributes
    ----------
    sizes : tuple of int
        Spatial sizes h (= w) timed.
    channels, n_examples : int
    dft_seconds, full_seconds : ndarray of shape (len(sizes),)
        Fastest CPU time (seconds, this process) of :func:`replens.dft_cca` and of
        :func:`replens.cca` on the flattened layers, over the repeats.
    """

    sizes: tuple[int, ...]
    channels: int
    n_examples: int
    dft_seconds: np.ndarray
    full_seconds: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        """``full_seconds / dft_seconds`` per size: how many times faster the DFT route is."""
        return self.full_seconds / self.dft_seconds


def time_dft_vs_full(sizes: Sequence[int], *, channels: int = 8, n_examples: int = 4000, repeats: int = 1,
                     seed: int = 0) -> DFTTiming:
    """Time DFT-CCA against flattened CCA on random conv layers of growing spatial size.

    For each h in `sizes`, two independent standard-normal layers of shape
    ``(n_examples, channels, h, h)`` are compared both ways; the fastest of `repeats`
    timings (``time.process_time``, the CPU time of this process, which is the time on one
    core when BLAS runs one thread) is kept. Cost: ``O(n (h^2 c)^2)`` per flattened CCA.
    Only the time is of interest: the UninformativeWarning full CCA raises when
    ``2 h^2 c > n - 1`` (as at claims.md's h = 16, c = 8, n = 4000) is silenced.

    Parameters
    ----------
    sizes : sequence of int
        Spatial sizes (square maps); each needs ``h^2 * channels < n_examples``.
    channels : int, default 8
    n_examples : int, default 4000
    repeats : int, default 1
    seed : int, default 0
        Seeds the random layers.

    Returns
    -------
    DFTTiming

    Raises
    ------
    ReplensError
        `sizes` is empty or holds a non-positive size.
    TooFewExamplesError
        A flattened layer would have at least `n_examples` units (full CCA is then
        uninformative, CKA paper Theorem 1).
    """
    channels = check_positive_int("channels", channels)
    n_examples = check_positive_int("n_examples", n_examples)
    repeats = check_positive_int("repeats", repeats)
    sizes = tuple(sizes)
    if not sizes or not all(isinstance(h, (int, np.integer)) and h >= 1 for h in sizes):
        raise ReplensError(f"sizes must be a non-empty sequence of positive integers; got {sizes!r}.")
    largest = max(sizes) ** 2 * channels
    if largest >= n_examples:
        raise TooFewExamplesError(f"the flattened layer at h = {max(sizes)} has {largest} units, at least "
                                  f"n_examples = {n_examples}; full CCA needs more examples than units. "
                                  f"Raise n_examples or lower sizes/channels.")
    rng = np.random.default_rng(seed)
    dft_seconds, full_seconds = [], []
    for h in sizes:
        x = rng.standard_normal((n_examples, channels, h, h))
        y = rng.standard_normal((n_examples, channels, h, h))
        dft_seconds.append(_fastest(lambda x=x, y=y: dft_cca(x, y, layout="NCHW"), repeats))
        flat_x, flat_y = x.reshape(n_examples, -1), y.reshape(n_examples, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UninformativeWarning)
            full_seconds.append(_fastest(lambda x=flat_x, y=flat_y: cca(x, y), repeats))
    return DFTTiming(sizes=tuple(int(h) for h in sizes), channels=channels, n_examples=n_examples,
                     dft_seconds=np.array(dft_seconds), full_seconds=np.array(full_seconds))


def _fastest(job, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        job()
        best = min(best, time.process_time() - started)
    return max(best, 1e-9)
