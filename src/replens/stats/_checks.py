"""Argument checks shared by the statistics, all run before any numerical work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import is_integer_scalar, is_real_scalar, to_host
from .._validate import check_option
from ..errors import ShapeError, UnknownOptionError
from ..measures.registry import Measure, as_measure

GROUP_MODES = ("between", "within")
ALTERNATIVES = ("greater", "less", "two-sided")


def generator(seed: Any) -> np.random.Generator:
    """A numpy Generator from an int, a SeedSequence, a Generator (used as is) or None (fresh entropy).

    The global numpy random state is never read or changed.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or is_integer_scalar(seed) or isinstance(seed, np.random.SeedSequence):
        if is_integer_scalar(seed) and seed < 0:
            raise UnknownOptionError(f"seed must be a non-negative integer, a numpy Generator or None; "
                                     f"got {seed!r}.")
        return np.random.default_rng(seed)
    raise UnknownOptionError(f"seed must be a non-negative integer, a numpy Generator or None; got "
                             f"{type(seed).__name__} {seed!r:.60}.")


def count(name: str, value: Any, *, minimum: int) -> int:
    """An integer >= `minimum` (bool excluded), else UnknownOptionError naming `name`."""
    if not is_integer_scalar(value) or value < minimum:
        raise UnknownOptionError(f"{name} must be an integer >= {minimum}; got {value!r}. "
                                 f"Pass e.g. {name}=1000.")
    return int(value)


def confidence_level(value: Any) -> float:
    """A number strictly between 0 and 1."""
    if not is_real_scalar(value) or not 0.0 < float(value) < 1.0:
        raise UnknownOptionError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95); "
                                 f"got {value!r}.")
    return float(value)


def option(name: str, value: Any, valid: tuple[str, ...]) -> str:
    check_option(name, value, valid)
    return value


@dataclass(frozen=True)
class Groups:
    """Integer labels of the examples, as positions: group ``k`` holds rows ``members[k]``.

    Attributes
    ----------
    labels : ndarray of shape (n,)
        The group index (0 .. n_groups - 1, in order of first appearance) of each example.
    members : tuple of ndarray
        Row indices of each group, ascending.
    """

    labels: np.ndarray
    members: tuple[np.ndarray, ...]

    @property
    def n_groups(self) -> int:
        return len(self.members)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(m) for m in self.members])


def singletons(n: int) -> Groups:
    """Every example its own group."""
    rows = np.arange(n)
    return Groups(rows, tuple(rows[:, None]))


def check_groups(groups: Any, n: int) -> Groups | None:
    """`groups` as :class:`Groups`: integer labels, one per example, at least two groups."""
    if groups is None:
        return None
    try:
        labels = to_host(groups) if hasattr(groups, "shape") else np.asarray(groups)
    except Exception as exc:  # noqa: BLE001 - numpy's message says what could not be read
        raise ShapeError(f"groups must be a 1-D array of integer labels; could not read "
                         f"{type(groups).__name__}: {exc}") from exc
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ShapeError(f"groups must hold one integer label per example: shape ({n},); got shape "
                         f"{tuple(labels.shape)}. Pass e.g. the image index of every augmented copy.")
    if labels.dtype.kind not in "iu":
        raise ShapeError(f"groups must hold integer labels; got dtype {labels.dtype}. Map your labels "
                         f"to integers first, e.g. np.unique(labels, return_inverse=True)[1].")
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)  # number groups by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    positions = rank[inverse.reshape(-1)]
    if order.size < 2:
        raise ShapeError(f"groups has a single group (all {n} examples share label {labels[0]!r}); "
                         f"resampling and permuting whole groups needs at least two. Pass groups=None "
                         f"or finer labels.")
    by_group = np.argsort(positions, kind="stable")
    members = tuple(np.split(by_group, np.cumsum(np.bincount(positions))[:-1]))
    return Groups(positions.astype(np.int64), members)


def measure_of(measure: Any) -> Measure:
    """A Measure from a registered name, a configured measure or a callable f(X, Y) -> float."""
    return as_measure(measure)
