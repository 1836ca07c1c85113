"""Class subsets of a labelled split: ``class_subset(data, classes) -> (x_train, y_train, x_test, y_test)``.

Two tasks with disjoint classes stand in for the CKA paper's CIFAR-10 and CIFAR-100
(Kornblith et al. 2019, sec. 6.3, Fig. 7): e.g. MNIST digits 0-4 and digits 5-9, each a
5-way task. :func:`class_subset` keeps the examples of the chosen classes in both splits, in
their original order, and relabels them 0..k-1 in the order the classes are listed, so that
a network built with ``n_classes=k`` trains on them directly. Cost: O(n).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, UnknownOptionError

__all__ = ["class_subset"]

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def class_subset(data: Any, classes: Sequence[int]) -> Split:
    """The examples of `classes` in both splits of `data`, relabelled ``0..len(classes) - 1``.

    Parameters
    ----------
    data : (x_train, y_train, x_test, y_test)
        As :func:`replens.zoo.load` returns them for an image dataset: ``y`` int class labels
        of shape (n,).
    classes : sequence of int
        Distinct labels to keep; ``classes[i]`` becomes label ``i``.

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        New arrays (the inputs are not modified); ``x`` keeps its dtype and the examples
        their order, ``y`` is int64.

    Raises
    ------
    UnknownOptionError
        `classes` is empty, holds a non-integer or a repeated label, or a label absent from
        the training or test labels.
    ShapeError
        `data` is not four arrays, ``y`` is not one label per example of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(6.0)[:, None]
    >>> y = np.array([0, 5, 6, 5, 0, 6])
    >>> x_tr, y_tr, x_te, y_te = class_subset((x, y, x, y), [5, 6])
    >>> x_tr[:, 0].tolist(), y_tr.tolist()
    ([1.0, 2.0, 3.0, 5.0], [0, 1, 0, 1])
    """
    arrays = _four(data)
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise UnknownOptionError(f"classes must be a non-empty sequence of integer labels, e.g. [0, 1, 2, 3, 4]; "
                                 f"got {classes!r}.")
    labels = []
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise UnknownOptionError(f"classes must hold integer labels; got {c!r} in {list(classes)!r}.")
        labels.append(int(c))
    if len(set(labels)) != len(labels):
        raise UnknownOptionError(f"classes must be distinct labels; got {labels!r}.")
    out: list[np.ndarray] = []
    for split, (x, y) in (("training", arrays[:2]), ("test", arrays[2:])):
        present = set(np.unique(y).tolist())
        missing = [c for c in labels if c not in present]
        if missing:
            raise UnknownOptionError(f"classes {missing} have no example in the {split} split (its labels are "
                                     f"{sorted(present)}); choose classes from those.")
        keep = np.isin(y, labels)
        relabel = np.full(int(max(max(present), max(labels))) + 1, -1, dtype=np.int64)
        relabel[labels] = np.arange(len(labels), dtype=np.int64)
        out.extend([x[keep].copy(), relabel[y[keep]]])
    return out[0], out[1], out[2], out[3]


def _four(data: Any) -> Split:
    try:
        x_train, y_train, x_test, y_test = data
    except (TypeError, ValueError):
        raise ShapeError(f"data must be (x_train, y_train, x_test, y_test), as replens.zoo.load returns; got "
                         f"{type(data).__name__}.") from None
    arrays = tuple(np.asarray(a) for a in (x_train, y_train, x_test, y_test))
    for split, x, y in (("training", arrays[0], arrays[1]), ("test", arrays[2], arrays[3])):
        if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
            raise ShapeError(f"the {split} split needs one class label per example: y of shape (n,) for x of "
                             f"shape (n, ...); got x {x.shape} and y {y.shape}.")
        if not np.issubdtype(y.dtype, np.integer):
            raise ShapeError(f"the {split} labels must be integers; got dtype {y.dtype}.")
        if y.size and y.min() < 0:
            raise ShapeError(f"the {split} labels must be non-negative class indices; got {int(y.min())}.")
    return arrays  # type: ignore[return-value]
