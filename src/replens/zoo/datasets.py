"""Offline datasets: ``load(name, seed=0) -> (x_train, y_train, x_test, y_test)``.

Nothing is downloaded; every dataset is on the machine already or ships with replens:

================ ============================ ============================= ====================
name             x (float32 unless noted)     y (int64)                     train / test
================ ============================ ============================= ====================
"digits"         (n, 1, 8, 8) in [0, 1]       (n,) classes 0..9             1198 / 599
"mnist"          (n, 1, 28, 28) in [0, 1]     (n,) classes 0..9             8000 / 2000
"mnist14"        (n, 1, 14, 14) in [0, 1]     (n,) classes 0..9             8000 / 2000
"text"           (n, seq_len) int64 indices   (n, seq_len) next characters  90% / 10% of windows
"toy_regression" (n, 1) in [-1, 1]            (n, 4) float32 targets        2000 / 500
================ ============================ ============================= ====================

* ``"digits"``: scikit-learn's 1797 bundled 8x8 handwritten digits (pixel values 0..16,
  divided by 16); needs scikit-learn.
* ``"mnist"``: 10,000 real MNIST digits (LeCun, Cortes and Burges; CC BY-SA 3.0), stored in
  ``replens/zoo/data/mnist10k.npz`` as uint8 (see the README beside it); pixels / 255.
* ``"mnist14"``: the same images, 2x2 mean pooled to 14x14, then / 255.
* ``"text"``: characters of the docstrings of :data:`~replens.zoo.text.TEXT_MODULES` (a fixed,
  sorted list of pure-Python standard-library modules, read from their source files; about
  1 MB), encoded with the fixed vocabulary :data:`~replens.zoo.text.TEXT_VOCAB`
  (:mod:`replens.zoo.text`). The encoded corpus is cut into consecutive, non-overlapping
  runs of ``seq_len`` characters: ``x[i]`` is run i and ``y[i]`` the same run shifted one
  character on, so ``y[i, t]`` is the character after ``x[i, t]`` (``y[i, t] == x[i, t + 1]``
  for ``t < seq_len - 1``), the next-character target at every position. ``seed`` shuffles
  the runs and deals 10% of them to the test set. The corpus is fixed for one Python version
  (docstrings change between versions).

* ``"toy_regression"``: the 1-D regression of SVCCA Fig. 1 and 3 (claims.md S01): targets
  ``sin(pi x), cos(pi x), x**2, |x|`` (the columns of y, in that order; one full period of
  sine and cosine on the interval). Training inputs: 2000 draws of ``uniform(-1, 1)`` from
  ``numpy.random.default_rng(seed)``; test inputs: 500 evenly spaced points from -1 to 1,
  ascending (the same for every seed, ready to plot against the dataset index). Train with
  ``replens.zoo.train(..., loss="mse")``.

The image datasets are split stratified by class; ``seed`` fixes the split (and the order of
the examples within each split, a seeded shuffle, so that the first k test examples are a
class-balanced random probe set). ``seed`` is the split's seed only: it is independent of
the seeds that initialise and train networks. The same ``(name, seed)`` gives the same
arrays on every machine with the same numpy (and, for ``"text"``, the same Python).

Cost: digits and mnist load in well under a second (the MNIST file is decompressed once per
process and kept); the text corpus is parsed once per process (about 1 s).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from .._validate import check_positive_int
from ..errors import UnknownOptionError
from .text import encoded_corpus

__all__ = ["DATASETS", "MNIST_FILE", "load", "stratified_split"]

DATASETS = ("digits", "mnist", "mnist14", "text", "toy_regression")
"""The names :func:`load` accepts."""

MNIST_FILE = "mnist10k.npz"
"""The shipped MNIST subset, inside ``replens/zoo/data/``: ``images`` (10000, 28, 28) uint8 and
``labels`` (10000,) uint8."""

_TEST_FRACTION = {"digits": 1 / 3, "mnist": 0.2, "mnist14": 0.2, "text": 0.1}
_DEFAULT_SEQ_LEN = 50

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load(name: str, seed: int = 0, *, seq_len: int | None = None) -> Split:
    """Load a dataset offline and split it into training and test sets.

    Parameters
    ----------
    name : {"digits", "mnist", "mnist14", "text", "toy_regression"}
        Which dataset (shapes, dtypes and sizes in the module's table).
    seed : int, default 0
        Fixes the train/test split and the order of the examples in each split.
    seq_len : int, optional
        ``"text"`` only: characters per sequence (default 50).

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        Fresh arrays the caller may modify. Images: ``x`` float32 (n, 1, h, w) in [0, 1],
        ``y`` int64 (n,). Text: ``x`` and ``y`` int64 (n, seq_len), ``y`` the next
        characters of ``x``. toy_regression: ``x`` float32 (n, 1), ``y`` float32 (n, 4).

    Raises
    ------
    UnknownOptionError
        `name` is not one of :data:`DATASETS`, `seed` is not a non-negative integer, or
        `seq_len` is given for an image dataset or is not a positive integer.

    Examples
    --------
    >>> from replens.zoo import load
    >>> x_train, y_train, x_test, y_test = load("mnist14")
    >>> x_train.shape, x_train.dtype, y_test.shape
    ((8000, 1, 14, 14), dtype('float32'), (2000,))
    """
    if not isinstance(name, str) or name not in DATASETS:
        listed = ", ".join(repr(n) for n in DATASETS)
        raise UnknownOptionError(f"name must be one of {listed}; got {name!r}. "
                                 f"These datasets are available offline.")
    seed = _check_seed(seed)
    if name != "text" and seq_len is not None:
        raise UnknownOptionError(f"seq_len applies to the 'text' dataset only; got seq_len={seq_len!r} "
                                 f"for {name!r}. Leave it out for image datasets.")
    if name == "text":
        length = _DEFAULT_SEQ_LEN if seq_len is None else check_positive_int("seq_len", seq_len)
        return _text_split(length, seed)
    if name == "toy_regression":
        return _toy_regression(seed)
    images, labels = _images(name)
    train, test = stratified_split(labels, _TEST_FRACTION[name], seed)
    return images[train], labels[train], images[test], labels[test]


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of a stratified split of `labels`, each in a seeded random order.

    The test set takes ``round(test_fraction * n)`` examples, shared among the classes in
    proportion to their sizes (largest remainders get the leftover places), drawn at random
    within each class with ``numpy.random.default_rng(seed)``. Cost: O(n).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    n_test = int(round(test_fraction * labels.size))
    exact = counts * n_test / labels.size
    per_class = np.floor(exact).astype(np.int64)
    leftover = n_test - int(per_class.sum())
    per_class[np.argsort(-(exact - per_class), kind="stable")[:leftover]] += 1
    train, test = [], []
    for cls, k in zip(classes, per_class):
        members = rng.permutation(np.flatnonzero(labels == cls))
        test.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    return int(seed)


def _images(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (n, 1, h, w) in [0, 1], labels int64 (n,)), fresh copies."""
    if name == "digits":
        pixels, labels = _digits()
        return (pixels.reshape(-1, 1, 8, 8) / np.float32(16.0)).astype(np.float32), labels.copy()
    pixels, labels = _mnist_uint8()
    if name == "mnist14":
        pooled = pixels.reshape(-1, 14, 2, 14, 2).astype(np.float32).mean(axis=(2, 4))
        return (pooled / np.float32(255.0)).reshape(-1, 1, 14, 14).astype(np.float32), labels.astype(np.int64)
    return (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28), labels.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.asarray(data.data, dtype=np.float32), np.asarray(data.target, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def _mnist_uint8() -> tuple[np.ndarray, np.ndarray]:
    """The shipped images (10000, 28, 28) and labels (10000,), uint8, read-only."""
    with resources.as_file(resources.files(__package__) / "data" / MNIST_FILE) as path:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _text_split(seq_len: int, seed: int) -> Split:
    corpus = encoded_corpus()
    n_windows = (corpus.size - 1) // seq_len
    # windows overlap by one character: window i's targets end where window i+1's inputs start
    starts = np.arange(n_windows) * seq_len
    index = starts[:, None] + np.arange(seq_len + 1)[None, :]
    windows = corpus[index].astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_windows)
    n_test = int(round(_TEST_FRACTION["text"] * n_windows))
    test, train = order[:n_test], order[n_test:]
    return windows[train, :-1], windows[train, 1:], windows[test, :-1], windows[test, 1:]


TOY_TRAIN, TOY_TEST = 2000, 500
"""Sizes of the ``"toy_regression"`` splits."""


def toy_targets(x: np.ndarray) -> np.ndarray:
    """The four targets of ``"toy_regression"`` for inputs `x` (n, 1): ``sin(pi x), cos(pi x),
    x**2, |x|`` as float32 (n, 4), computed in float64."""
    t = np.asarray(x, dtype=np.float64)[:, 0]
    return np.stack([np.sin(np.pi * t), np.cos(np.pi * t), t ** 2, np.abs(t)], axis=1).astype(np.float32)


def _toy_regression(seed: int) -> Split:
    rng = np.random.default_rng(seed)
    x_train = rng.uniform(-1.0, 1.0, size=(TOY_TRAIN, 1)).astype(np.float32)
    x_test = np.linspace(-1.0, 1.0, TOY_TEST).reshape(-1, 1).astype(np.float32)
    return x_train, toy_targets(x_train), x_test, toy_targets(x_test)
