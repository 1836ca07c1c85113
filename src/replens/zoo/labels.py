"""Random labels for memorising networks: ``random_labels(y, seed=...)`` (PWCCA sec. 3.1).

Morcos et al. (2018, sec. 3.1) train "memorizing" networks on CIFAR-10 "with random labels
(the same set of random labels was used for all networks)", after Zhang et al. (2017). A
network can fit such labels only by memorising the training set. :func:`random_labels` gives
that relabelling: one fixed random permutation of the training labels,

    y_random[i] = y[pi(i)],    pi = numpy.random.default_rng(seed).permutation(n)

so every memorising network trained with the same `seed` sees the same labels, and each class
keeps its number of examples. The labels are no longer linked to the images: an example
keeps its true label by chance only, for a fraction ``sum_c p_c**2`` of the examples in
expectation (``p_c`` the class frequencies; 0.1 for ten balanced classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, UnknownOptionError

__all__ = ["random_labels"]


def random_labels(y: Any, *, seed: int) -> np.ndarray:
    """A fixed random permutation of the labels `y`: the memorising networks' training labels.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        The true class labels of the training examples (e.g. ``replens.zoo.load(...)[1]``).
    seed : int
        Fixes the permutation (``numpy.random.default_rng(seed).permutation(n)``); the same
        `y` and `seed` give the same labels on every machine with the same numpy. Independent
        of the seeds that initialise and train networks. The global numpy random state is
        untouched.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``y[pi]`` for the permutation ``pi``, in `y`'s dtype: each class keeps its count.

    Raises
    ------
    ShapeError
        `y` is not a 1-D array of integer labels.
    UnknownOptionError
        `seed` is not a non-negative integer.

    Examples
    --------
    >>> import numpy as np
    >>> from replens.zoo import random_labels
    >>> y = np.repeat(np.arange(10), 100)
    >>> shuffled = random_labels(y, seed=0)
    >>> bool(np.array_equal(np.bincount(shuffled), np.bincount(y)))
    True
    >>> bool(np.array_equal(shuffled, random_labels(y, seed=0)))
    True
    """
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ShapeError(f"y must be a 1-D array of integer class labels (n,); got dtype {labels.dtype} and "
                         f"shape {labels.shape}. Pass the training labels, e.g. replens.zoo.load('digits')[1].")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    order = np.random.default_rng(int(seed)).permutation(labels.shape[0])
    return labels[order].copy()
