"""The protocol every streaming estimator follows, and the co-moment estimators' shared base.

Each estimator is a small accumulator::

    est.update(x_batch, y_batch)    # add a batch of examples
    est.merge(other)                # add another estimator's (disjoint) examples
    est.compute()                   # the measure over everything seen so far

with the counters ``n_examples``, ``n_batches``, ``n_features`` and ``nbytes``. The checks
shared by all of them (each batch's values and shapes, whether two estimators can be
merged) live here too.

Device policy. ``update`` accepts numpy arrays and torch tensors on any device. The
accumulators of the co-moment estimators are float64 and live in the backend and on the
device of the first non-empty batch: the ``O(b p^2)`` work of a batch runs there, with no
per-batch copy to the host. Later batches and merged estimators are moved to that device.
``compute`` copies the ``O(p^2)`` accumulators to CPU numpy once and finishes there.
Estimators pickle, so shards can be accumulated in other processes and merged.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import partial
from typing import Any

import numpy as np

from ..._backend import Array, copy_array, namespace, nbytes, to_device_like, to_numpy
from ..._validate import check_pair, peak_magnitude, scale_exponent, times_power_of_two
from ...errors import (
    DegenerateInputError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UnknownOptionError,
)
from ._moments import Moments, absorbed, batch_moments, moved, rescaled_moments


# A batch whose largest magnitude exceeds the accumulators' unit by more than 2**_SAFE_SHIFT
# rebases them (fourth powers of 2**100 over many examples still fit float64).
_SAFE_SHIFT = 100


class StreamingEstimator(ABC):
    """update / merge / compute over a stream of batches, with the counters they share.

    Subclasses implement :meth:`update`, :meth:`merge`, :meth:`compute`, ``n_examples`` and
    ``nbytes``; :meth:`_options` returns the constructor options, which two estimators
    must share to be merged.
    """

    def __init__(self) -> None:
        self._n_features: tuple[int, int] | None = None
        self._n_batches = 0

    @property
    @abstractmethod
    def n_examples(self) -> int:
        """Number of examples (rows) seen so far, merged estimators included."""

    @property
    def n_batches(self) -> int:
        """Number of non-empty batches passed to :meth:`update`, merged estimators included."""
        return self._n_batches

    @property
    def n_features(self) -> tuple[int, int] | None:
        """``(p_x, p_y)``, fixed by the first batch; None before it."""
        return self._n_features

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Memory held by the accumulators, in bytes."""

    @abstractmethod
    def update(self, x_batch: Array, y_batch: Array) -> StreamingEstimator:
        """Add a batch of examples; returns self."""

    @abstractmethod
    def merge(self, other: StreamingEstimator) -> StreamingEstimator:
        """Add the examples another estimator of the same kind has seen; returns self."""

    @abstractmethod
    def compute(self) -> Any:
        """The measure over all the examples seen so far."""

    def _options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        options = "".join(f"{k}={v!r}, " for k, v in self._options().items())
        return (f"{type(self).__name__}({options}n_examples={self.n_examples}, "
                f"n_features={self.n_features})")

    def _checked_batch(self, x_batch: Array, y_batch: Array, **requirements: Any) -> tuple[Any, Array, Array]:
        """``(xp, x, y)`` from :func:`check_pair`, with the feature counts checked and fixed."""
        xp, x, y = check_pair(x_batch, y_batch, names=("x_batch", "y_batch"), **requirements)
        self._n_features = checked_features(self._n_features, x, y)
        return xp, x, y

    def _check_merge(self, other: Any) -> None:
        """Raise unless `other` can be merged into this estimator; adopt its feature counts."""
        check_mergeable(self, other)
        self._n_features = self._n_features or other._n_features


def checked_features(expected: tuple[int, int] | None, x: Array, y: Array) -> tuple[int, int]:
    """``(p_x, p_y)`` of a batch, raising ShapeError if it differs from the earlier batches'."""
    received = (int(x.shape[1]), int(y.shape[1]))
    if expected is not None and received != expected:
        name, got, want, array = next(
            (name, r, e, a) for name, r, e, a in zip(("x_batch", "y_batch"), received, expected, (x, y))
            if r != e)
        raise ShapeError(
            f"{name} has {got} features (columns) but earlier batches had {want}; got {name} of "
            f"shape {tuple(array.shape)}. Every batch must hold the same layers' activations.")
    return received


def check_mergeable(estimator: Any, other: Any) -> None:
    """Raise unless `other` is a distinct estimator of the same kind, options and layers."""
    kind = type(estimator).__name__
    if type(other) is not type(estimator):
        raise ReplensError(
            f"{kind}.merge needs another {kind}; got {type(other).__name__}.")
    if other is estimator:
        raise ReplensError(
            f"cannot merge a {kind} with itself: merge adds another estimator's examples, "
            f"and these would be counted twice. Merge estimators that saw disjoint data.")
    for option, value in estimator._options().items():
        if other._options()[option] != value:
            raise UnknownOptionError(
                f"cannot merge {kind}s with different options: this one has {option}={value!r}, "
                f"other has {option}={other._options()[option]!r}.")
    if None not in (estimator.n_features, other.n_features) and estimator.n_features != other.n_features:
        raise ShapeError(
            f"cannot merge {kind}s fed different layers: n_features (p_x, p_y) is "
            f"{estimator.n_features} here and {other.n_features} in other.")


class CoMomentEstimator(StreamingEstimator):
    """update / merge / n_examples for the estimators built on :class:`Moments`."""

    _with_norms = False

    def __init__(self) -> None:
        super().__init__()
        self._moments: Moments | None = None
        # The accumulators hold the batches scaled by 2**-exponent (X, Y); None until a batch
        # with a non-zero value fixes it (zeros are zeros at any scale). See _scaled_batch.
        self._exponents: list[int | None] = [None, None]

    @property
    def n_examples(self) -> int:
        """Number of examples (rows) seen so far, merged estimators included."""
        return 0 if self._moments is None else self._moments.n

    @property
    def nbytes(self) -> int:
        """Memory held by the accumulators, in bytes: ``O((p_x + p_y)^2)``, independent of n."""
        return 0 if self._moments is None else sum(nbytes(a) for a in self._moments.arrays())

    def update(self, x_batch: Array, y_batch: Array):
        """Add a batch of examples.

        Parameters
        ----------
        x_batch : array-like of shape (b, n_features_x)
            Activations of the first layer for `b` examples: numpy array or torch tensor on
            any device, float or integer. An empty batch (``b = 0``) changes nothing.
        y_batch : array-like of shape (b, n_features_y)
            Activations of the second layer for the same examples, in the same order.

        Returns
        -------
        self

        Raises
        ------
        ShapeError
            Not 2-D, different numbers of rows, or feature counts that differ from the
            earlier batches'.
        DtypeError, NonFiniteError
            Not real numbers, or NaN / infinite values.
        """
        xp, x, y = self._checked_batch(x_batch, y_batch, min_examples=0)
        if x.shape[0] == 0:
            return self
        if self._moments is not None:
            x, y = (to_device_like(self._moments.aa, a) for a in (x, y))
            xp = namespace(x, y)
        x, y = self._scaled_batch(xp, x, y)
        batch = batch_moments(xp, x, y, self._with_norms)
        self._moments = batch if self._moments is None else absorbed(self._moments, batch)
        self._n_batches += 1
        return self

    def merge(self, other):
        """Add the examples another estimator of the same kind has seen.

        The two must have seen disjoint examples (shards, or parallel passes); the result
        equals one pass over all of them, to rounding. `other` is not changed; its
        accumulators are moved to this estimator's device if needed.

        Returns
        -------
        self
        """
        self._check_merge(other)
        if other._moments is not None:
            theirs = other._moments
            for side in (0, 1):
                mine, given = self._exponents[side], other._exponents[side]
                if mine is None or given is None:
                    self._exponents[side] = given if mine is None else mine
                elif given > mine:
                    self._rebase(side, given)
            shifts = [(other._exponents[side] or 0) - (self._exponents[side] or 0) for side in (0, 1)]
            if any(shifts):
                theirs = rescaled_moments(theirs, *shifts)
            if self._moments is None:
                self._moments = moved(theirs, copy_array)  # owned: updated in place later
            else:
                here = moved(theirs, partial(to_device_like, self._moments.aa))
                self._moments = absorbed(self._moments, here)
        self._n_batches += other._n_batches
        return self

    def _scaled_batch(self, xp: Any, x: Array, y: Array) -> tuple[Array, Array]:
        """The batch scaled exactly by the estimator's powers of two, so that no accumulator
        overflows or underflows whatever the data's scale (every exact estimator here is
        invariant to scaling X or Y).

        The first batch with a non-zero value on a side fixes its exponent, as
        :func:`replens._validate.rescaled` would (0 for data within ``2**±100``); a later batch
        more than ``2**100`` larger rebases the accumulators to its exponent (multiplying them
        by powers of two, exactly); smaller batches are scaled with the current exponent.
        """
        scaled = []
        for side, batch in enumerate((x, y)):
            peak = peak_magnitude(xp, batch)
            current = self._exponents[side]
            if peak > 0:
                needed = math.frexp(peak)[1] - 1
                if current is None:
                    self._exponents[side] = current = scale_exponent(peak, batch.dtype) if abs(needed) else 0
                elif needed - current > _SAFE_SHIFT:
                    self._rebase(side, needed)
                    current = needed
            scaled.append(batch if not current else times_power_of_two(batch, -current))
        return scaled[0], scaled[1]

    def _rebase(self, side: int, exponent: int) -> None:
        """Re-express the accumulators of one side in units of ``2**exponent``."""
        shift = (self._exponents[side] or 0) - exponent
        if self._moments is not None and shift:
            self._moments = rescaled_moments(self._moments, shift if side == 0 else 0, shift if side == 1 else 0)
        self._exponents[side] = exponent

    def _numpy_moments(self, min_examples: int, reason: str | None = None) -> Moments:
        """The accumulators as CPU numpy float64, after the checks every compute shares."""
        n = self.n_examples
        if n < min_examples:
            why = f" ({reason})" if reason else ""
            raise TooFewExamplesError(
                f"need at least {min_examples} examples (rows) in total{why}; got {n} over "
                f"{self._n_batches} batch(es). Pass more batches to update() before compute().")
        moments = moved(self._moments, to_numpy)
        for name, comoment in (("X", moments.aa), ("Y", moments.bb)):
            # Constant columns accumulate exact zeros, so a zero trace means all are constant.
            if not np.trace(comoment) > 0:
                raise DegenerateInputError(
                    f"every column of {name} is constant over the {n} examples seen, so it "
                    f"carries no information to compare. Check that the batches hold the "
                    f"layer's activations for different inputs (shape (examples, features)).")
        return moments
