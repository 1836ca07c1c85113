"""Input checks shared by every measure, all run before any numerical work.

Each failure raises a :class:`~replens.errors.ReplensError` child whose message names the
argument, says what was expected and what was received, and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from ._backend import (
    Array,
    has_real_dtype,
    is_integer_scalar,
    is_real_scalar,
    namespace_of,
    resolve_dtype,
    to_host,
)
from .errors import (
    DtypeError,
    NonFiniteError,
    ShapeError,
    TooFewExamplesError,
    UnknownOptionError,
)


def check_option(name: str, value: Any, valid: Collection[Any]) -> None:
    """Raise UnknownOptionError unless `value` is one of `valid`, listing the valid ones."""
    if value not in valid:
        listed = ", ".join(repr(v) for v in valid)
        raise UnknownOptionError(f"{name} must be one of {listed}; got {value!r}.")


def _as_number(value: Any) -> float:
    """`value` as a float if it is a real number (not a bool or string), else NaN."""
    if not is_real_scalar(value):
        return math.nan
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """A number in (0, 1]; raise UnknownOptionError otherwise."""
    number = _as_number(value)
    if not (0.0 < number <= 1.0):
        raise UnknownOptionError(f"{name} must be a number in (0, 1]; got {value!r}.")
    return number


def check_positive_int(name: str, value: Any) -> int:
    """A positive integer (bool excluded); raise UnknownOptionError otherwise."""
    if not is_integer_scalar(value) or value < 1:
        raise UnknownOptionError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def check_positive_number(name: str, value: Any) -> float:
    """A finite number > 0; raise UnknownOptionError otherwise."""
    number = _as_number(value)
    if not (math.isfinite(number) and number > 0):
        raise UnknownOptionError(f"{name} must be a finite number > 0; got {value!r}.")
    return number


def _check_real_dtype(name: str, x: Array) -> None:
    if not has_real_dtype(x):
        raise DtypeError(
            f"{name} must hold real numbers (float16/32/64 or integers); got dtype {x.dtype}. "
            f"Convert it first, e.g. {name}.astype('float64') (or .double() for a torch tensor).")


def _check_finite(xp: Any, name: str, x: Array) -> None:
    finite = xp.isfinite(x)
    if bool(xp.all(finite)):
        return
    bad = np.argwhere(~to_host(finite))
    index = tuple(int(i) for i in bad[0])
    value = float(x[index])
    kind = "NaN" if math.isnan(value) else "infinite"
    raise NonFiniteError(
        f"{name} contains {kind} values ({len(bad)} of {math.prod(x.shape)} entries; the "
        f"first at index {index}). Remove or impute them before comparing.")


def check_matrix(name: str, x: Array) -> None:
    """Raise ShapeError unless `x` is 2-D (examples, features)."""
    ndim = len(x.shape)
    if ndim == 2:
        return
    if ndim == 1:
        fix = f"use {name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) for a single example"
    elif ndim == 0:
        fix = "pass a 2-D array of shape (examples, features)"
    else:
        fix = (f"flatten the feature axes with {name}.reshape({name}.shape[0], -1), "
               f"or use replens.compare with a conv mode")
    raise ShapeError(
        f"{name} must be 2-D with shape (examples, features); got {ndim}-D shape "
        f"{tuple(x.shape)}. To fix: {fix}.")


def check_pair(
    x: Array,
    y: Array,
    *,
    min_examples: int = 2,
    dtype: Any = None,
    names: tuple[str, str] = ("X", "Y"),
    reason: str | None = None,
) -> tuple[Any, Array, Array]:
    """Validate a pair of representations and cast them to the compute dtype.

    Returns ``(xp, x, y)``: the shared array namespace and both arrays in float64 (or the
    requested dtype) on their device. Checks, in order: 2-D, same number of examples, at
    least `min_examples` rows (`reason` says why, in the message), a real dtype, finite
    values.
    """
    xp, (x, y) = namespace_of(x, y)
    for name, a in zip(names, (x, y)):
        check_matrix(name, a)
    n_x, n_y = x.shape[0], y.shape[0]
    if n_x != n_y:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same number of examples (rows); got "
            f"{names[0]} {tuple(x.shape)} and {names[1]} {tuple(y.shape)}. Rows must be the same "
            f"inputs, in the same order, passed through both networks.")
    if n_x < min_examples:
        why = f" ({reason})" if reason else ""
        raise TooFewExamplesError(
            f"need at least {min_examples} examples (rows){why}; got {n_x} in "
            f"{names[0]} {tuple(x.shape)}. Pass more examples.")
    compute = resolve_dtype(xp, dtype)
    x, y = (check_values(xp, name, a, compute) for name, a in zip(names, (x, y)))
    return xp, x, y


def check_values(xp: Any, name: str, x: Array, compute_dtype: Any) -> Array:
    """Check that `x` holds real, finite numbers and return it in `compute_dtype`.

    The array keeps its shape and device; no copy is made when it already has the dtype.
    """
    _check_real_dtype(name, x)
    _check_finite(xp, name, x)
    with np.errstate(over="ignore"):
        cast = xp.astype(x, compute_dtype, copy=False)
    if cast.dtype != x.dtype and not bool(xp.all(xp.isfinite(cast))):
        raise NonFiniteError(
            f"{name} holds values too large for {str(cast.dtype).replace('torch.', '')} (largest magnitude "
            f"{float(xp.max(xp.abs(xp.astype(x, xp.float64)))):.3g}); compute in float64 "
            f"(dtype=None) or rescale {name}.")
    return cast
