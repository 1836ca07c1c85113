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
    NumericalRangeError,
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
    Integers of magnitude above 2**53 are refused: float64 cannot hold them exactly.
    """
    _check_real_dtype(name, x)
    _check_finite(xp, name, x)
    _check_exact_integers(xp, name, x)
    with np.errstate(over="ignore"):
        cast = xp.astype(x, compute_dtype, copy=False)
    if cast.dtype != x.dtype and not bool(xp.all(xp.isfinite(cast))):
        target = str(cast.dtype).replace("torch.", "")
        largest = to_host(xp.max(xp.abs(x)))
        fix = (f"compute in float64 (dtype=None) or rescale {name}" if target == "float32"
               else f"rescale {name} (e.g. divide it by its largest magnitude; every measure but linear "
                    f"HSIC is invariant to that)")
        raise NonFiniteError(
            f"{name} holds values too large for {target} (largest magnitude {largest!s}, dtype "
            f"{x.dtype}); {fix}.")
    return cast


# ----------------------------------------------------------------------------- scale

# Integers up to 2**53 in magnitude are exactly representable in float64; beyond, casting rounds.
EXACT_INTEGER = 2**53

# A layer whose largest magnitude is 2**e with |e| above this bound (by working dtype) is rescaled
# by 2**-e before any product: sums of fourth powers over n * p entries (CKA's self terms) then
# neither overflow nor underflow. Inside the bound nothing is copied.
_SAFE_EXPONENT = {"float64": 100, "float32": 8}


def _check_exact_integers(xp: Any, name: str, x: Array) -> None:
    if "int" not in str(x.dtype) or math.prod(x.shape) == 0:
        return
    low, high = int(xp.min(x)), int(xp.max(x))
    if max(high, -low) > EXACT_INTEGER:
        raise DtypeError(
            f"{name} holds integers of magnitude up to {max(high, -low)}, beyond 2**53 = "
            f"{EXACT_INTEGER}, which float64 cannot represent exactly (dtype {x.dtype}). Subtract "
            f"each column's minimum first ({name} - {name}.min(axis=0): every built-in measure is "
            f"translation invariant), or convert to float64 yourself to accept the rounding.")


def peak_magnitude(xp: Any, x: Array) -> float:
    """Largest ``|x_ij|`` (0.0 for an empty array), without an ``abs`` copy of `x`."""
    if math.prod(x.shape) == 0:
        return 0.0
    return max(float(xp.max(x)), -float(xp.min(x)))


def safe_exponent(dtype: Any) -> int:
    """The largest ``|log2 peak|`` a layer in `dtype` is used at without rescaling."""
    return _SAFE_EXPONENT["float32" if "float32" in str(dtype) else "float64"]


def scale_exponent(peak: float, dtype: Any) -> int:
    """``e`` with ``peak / 2**e`` in [1, 2) when that is needed (see :func:`rescaled`), else 0."""
    if not peak > 0 or not math.isfinite(peak):
        return 0
    exponent = math.frexp(peak)[1] - 1
    return exponent if abs(exponent) > safe_exponent(dtype) else 0


def times_power_of_two(x: Array, exponent: int) -> Array:
    """``x * 2**exponent``, exact (bar underflow below the normal range), in steps that keep each
    factor finite."""
    while exponent:
        step = max(-1000, min(1000, exponent))
        x = x * (2.0**step)
        exponent -= step
    return x


def rescaled(xp: Any, x: Array) -> tuple[Array, int]:
    """``(x / 2**e, e)``: `x` scaled exactly by a power of two so that products cannot overflow.

    ``e = 0`` (and `x` itself, no copy) when the largest magnitude is within ``2**±100``
    (``2**±8`` in float32); otherwise the largest magnitude becomes [1, 2). Every measure
    invariant to isotropic scaling gives the same value on the result; measures with a known
    scaling (linear HSIC, by ``c^2`` per input) put the factor back with :func:`scaled_result`.
    """
    exponent = scale_exponent(peak_magnitude(xp, x), x.dtype)
    return (times_power_of_two(x, -exponent), exponent) if exponent else (x, 0)


def scaled_result(value: float, log2_factor: float, what: str) -> float:
    """``value * 2**log2_factor`` as a float64, or NumericalRangeError when that overflows or
    falls below float64's normal range (where it would lose digits or become 0.0)."""
    value = finite_result(value, what)
    if value == 0.0 or log2_factor == 0:
        return value
    mantissa, exponent = math.frexp(value)
    whole = math.floor(log2_factor)
    mantissa *= 2.0 ** (log2_factor - whole)
    total = exponent + whole
    if total > 1024 or (total == 1024 and abs(mantissa) >= 1.0):
        raise NumericalRangeError(
            f"{what} is about 2**{total} (the inputs' scale to the power the measure scales "
            f"with), beyond float64's largest number (about 2**1024 = 1.8e308). Rescale the "
            f"inputs (e.g. divide each by its largest magnitude), or use a scale-invariant "
            f"measure such as CKA.")
    if total < -1021:
        raise NumericalRangeError(
            f"{what} is about 2**{total}, below float64's smallest normal number (2**-1022 = "
            f"2.2e-308), where it would lose its digits or become 0.0. Rescale the inputs "
            f"(e.g. divide each by its largest magnitude), or use a scale-invariant measure "
            f"such as CKA.")
    return math.ldexp(mantissa, total)


def finite_result(value: float, what: str) -> float:
    """`value` as a float, or NumericalRangeError when it is NaN or infinite: a measure never
    hands back a number that is not one."""
    value = float(value)
    if not math.isfinite(value):
        raise NumericalRangeError(
            f"{what} came out {value} from finite inputs: the computation broke down. Please "
            f"report this with the inputs' shapes and scale.")
    return value


def unit_bounded(values: Any, tolerance: float, what: str) -> Any:
    """Cosines (canonical correlations, biased CKA, a fraction explained), reported at most 1.

    Rounding above 1 by at most `tolerance` is reported as 1; more raises ArithmeticError (a
    bug); NaN raises NumericalRangeError, never becomes 1. `values` is a float or a numpy array.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size and not bool(np.all(np.isfinite(array))):
        raise NumericalRangeError(
            f"{what} came out NaN or infinite from finite inputs: the computation broke down. "
            f"Please report this with the inputs' shapes and scale.")
    excess = float(array.max() - 1.0) if array.size else 0.0
    if excess > tolerance:
        raise ArithmeticError(f"{what} exceeds 1 by {excess:.3g}; please report this")
    clipped = np.minimum(array, 1.0)
    return float(clipped) if np.ndim(values) == 0 else clipped


def check_values_in_blocks(
    xp: Any, name: str, x: Array, compute_dtype: Any, *, block_rows: int,
    after_block: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_values` of a 2-D `x` read `block_rows` rows at a time, without casting it
    whole (a float32 memory map stays what it is); returns the column minima and maxima as
    float64 numpy arrays. ``after_block(start, stop)`` is called after each block (to let go
    of a memory map's pages).
    """
    _check_real_dtype(name, x)
    n, p = int(x.shape[0]), int(x.shape[1])
    low = np.full(p, np.inf)
    high = np.full(p, -np.inf)
    rows = max(1, int(block_rows))
    for start in range(0, n, rows):
        block = x[start:start + rows]
        if not bool(xp.all(xp.isfinite(block))):
            _check_finite(xp, name, x)
        _check_exact_integers(xp, name, block)
        with np.errstate(over="ignore"):  # a longdouble beyond float64 is refused just below
            low = np.minimum(low, np.asarray(to_host(xp.min(block, axis=0)), dtype=np.float64))
            high = np.maximum(high, np.asarray(to_host(xp.max(block, axis=0)), dtype=np.float64))
        wider = getattr(block.dtype, "kind", "") == "f" and getattr(block.dtype, "itemsize", 0) > 8  # longdouble
        if block.dtype != compute_dtype and ("float32" in str(compute_dtype) or wider):
            with np.errstate(over="ignore"):
                cast = xp.astype(block, compute_dtype)
            if not bool(xp.all(xp.isfinite(cast))):
                check_values(xp, name, x, compute_dtype)
        if after_block is not None:
            after_block(start, min(start + rows, n))
    return low, high
