"""Linear probes: how linearly decodable the labels are from each layer (CKA paper Fig. 3).

Kornblith et al. 2019 (sec. 6.2) fit an "l2-regularized logistic regression" on every layer
of plain CNNs: probe accuracy "progressively improves with depth" in shallow nets but
"plateaus less than halfway" through an 8x deeper one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._backend import Array, to_numpy
from .._validate import check_option, check_positive_int, check_positive_number
from ..errors import NonFiniteError, ShapeError, TooFewExamplesError, UnknownOptionError

__all__ = ["linear_probe", "probe_plateau"]

POOLS = ("mean", "flatten")
LAYOUTS = ("NCHW", "NHWC")


def linear_probe(
    train_layers: Mapping[str, Array] | Sequence[tuple[str, Array]],
    y_train: Array,
    test_layers: Mapping[str, Array] | Sequence[tuple[str, Array]],
    y_test: Array,
    C: float = 1.0,
    pool: str = "mean",
    *,
    layout: str = "NCHW",
    max_iter: int = 1000,
) -> dict[str, float]:
    """Test accuracy of an l2-regularised logistic regression fitted on each layer.

    For each layer, features ``Z`` (n, p) are standardised with the mean and standard
    deviation of the *training* examples only (constant features are left at 0), then
    scikit-learn's ``LogisticRegression(C=C, penalty="l2", solver="lbfgs")`` minimises
    ``0.5 ||W||^2 + C sum_i CE(y_i, softmax(W z_i + b))`` (multinomial) on the training
    examples; the returned number is its accuracy on the test examples. Cost per layer
    about ``O(max_iter n p k)`` for k classes.

    Parameters
    ----------
    train_layers, test_layers : mapping name -> array, or sequence of (name, array) pairs
        Activations of the same layers on the training and the test examples: 2-D (n, p),
        or 4-D conv maps reduced per `pool`. Both must hold the same layer names.
    y_train, y_test : array-like of shape (n_train,), (n_test,)
        Integer (or any hashable) class labels.
    C : float > 0, default 1.0
        Inverse l2 strength (the paper does not state it).
    pool : {"mean", "flatten"}, default "mean"
        For 4-D layers: global average pooling over the spatial axes (c features), or every
        unit (h w c features).
    layout : {"NCHW", "NHWC"}, default "NCHW"
        Axis order of 4-D layers (PyTorch stores "NCHW").
    max_iter : int, default 1000
        Iterations of lbfgs.

    Returns
    -------
    dict of str to float
        Layer name -> test accuracy in [0, 1], in the order of `train_layers`.

    Raises
    ------
    ShapeError
        Layers differ between train and test, a layer is not 2-D or 4-D, its rows do not
        match the labels, or train and test feature widths differ.
    TooFewExamplesError
        The training labels hold a single class.
    UnknownOptionError
        `pool`, `layout`, `C` or `max_iter` is invalid.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> x = np.random.default_rng(0).standard_normal((100, 5)); y = (x[:, 0] > 0).astype(int)
    >>> rl.analyses.linear_probe({"h": x[:60]}, y[:60], {"h": x[60:]}, y[60:])["h"] > 0.9
    True
    """
    check_option("pool", pool, POOLS)
    check_option("layout", layout, LAYOUTS)
    C = check_positive_number("C", C)
    max_iter = check_positive_int("max_iter", max_iter)
    train = _named(train_layers, "train_layers")
    test = _named(test_layers, "test_layers")
    if list(train) != list(test):
        raise ShapeError(f"train_layers and test_layers must hold the same layers in the same order; "
                         f"got {list(train)} and {list(test)}.")
    y_tr, y_te = _labels(y_train, "y_train"), _labels(y_test, "y_test")
    if len(np.unique(y_tr)) < 2:
        raise TooFewExamplesError(f"y_train must hold at least two classes to fit a probe; got only "
                                  f"{np.unique(y_tr).tolist()}.")
    features = {}
    for name in train:
        z_tr = _features(train[name], f"train_layers[{name!r}]", pool, layout, len(y_tr), "y_train")
        z_te = _features(test[name], f"test_layers[{name!r}]", pool, layout, len(y_te), "y_test")
        if z_tr.shape[1] != z_te.shape[1]:
            raise ShapeError(f"layer {name!r} has {z_tr.shape[1]} features on train but {z_te.shape[1]} "
                             f"on test (after pool={pool!r}); pass the same layer for both.")
        features[name] = (z_tr, z_te)
    from sklearn.linear_model import LogisticRegression

    accuracy = {}
    for name, (z_tr, z_te) in features.items():
        mean = z_tr.mean(axis=0)
        scale = z_tr.std(axis=0)
        scale[scale == 0] = 1.0
        probe = LogisticRegression(C=C, max_iter=max_iter)
        probe.fit((z_tr - mean) / scale, y_tr)
        accuracy[name] = float(np.mean(probe.predict((z_te - mean) / scale) == y_te))
    return accuracy


def _named(layers: Any, argument: str) -> dict[str, Array]:
    items = list(layers.items()) if isinstance(layers, Mapping) else list(layers)
    if not items or not all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                            for item in items):
        raise ShapeError(f"{argument} must be a non-empty mapping name -> array or a sequence of (name, "
                         f"array) pairs.")
    named = dict(items)
    if len(named) != len(items):
        raise ShapeError(f"{argument} has duplicate layer names; names must be unique.")
    return named


def _labels(y: Any, argument: str) -> np.ndarray:
    labels = np.asarray(to_numpy(y) if hasattr(y, "detach") else y)
    if labels.ndim != 1:
        raise ShapeError(f"{argument} must be 1-D (one class label per example); got shape {labels.shape}.")
    return labels


def _features(x: Array, argument: str, pool: str, layout: str, n: int, labels: str) -> np.ndarray:
    z = to_numpy(x)
    if z.ndim == 4:
        if layout == "NHWC":
            z = np.moveaxis(z, 3, 1)
        z = z.mean(axis=(2, 3)) if pool == "mean" else z.reshape(len(z), -1)
    elif z.ndim != 2:
        raise ShapeError(f"{argument} must be 2-D (n, p) or 4-D (n, c, h, w); got shape {z.shape}. "
                         f"Reshape it to (examples, features).")
    if len(z) != n:
        raise ShapeError(f"{argument} has {len(z)} rows but {labels} has {n} labels; pass the "
                         f"activations of the labelled examples, in order.")
    if not np.all(np.isfinite(z)):
        raise NonFiniteError(f"{argument} has non-finite values; a probe needs finite features.")
    return z


def probe_plateau(accuracies: Mapping[str, float] | Sequence[float], *, tol: float = 0.01) -> int:
    """Index of the first layer whose probe accuracy is within `tol` of the best layer's.

    ``min {i : acc_i >= max_j acc_j - tol}`` over the layers in depth order: where the probe
    stops improving (CKA paper Fig. 3: in an 8x deep plain CNN it "plateaus less than
    halfway"). Cost ``O(L)``.

    Parameters
    ----------
    accuracies : mapping layer -> accuracy (e.g. :func:`linear_probe`'s result) or sequence
        Probe accuracies in depth order.
    tol : float >= 0, default 0.01
        How close to the best an accuracy must be to count as on the plateau.

    Returns
    -------
    int
        0-based layer index; divide ``index + 1`` by the number of layers for a fraction of depth.

    Raises
    ------
    ShapeError
        No accuracies.
    UnknownOptionError
        `tol` is negative or not a number.

    Examples
    --------
    >>> from replens.analyses.probes import probe_plateau
    >>> probe_plateau([0.5, 0.8, 0.895, 0.9, 0.88])
    2
    """
    values = np.asarray(list(accuracies.values()) if isinstance(accuracies, Mapping) else list(accuracies),
                        dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ShapeError(f"accuracies must be a non-empty sequence (or mapping) of per-layer accuracies; got "
                         f"shape {values.shape}.")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise UnknownOptionError(f"tol must be a number >= 0; got {tol!r}.")
    return int(np.argmax(values >= values.max() - tol))
