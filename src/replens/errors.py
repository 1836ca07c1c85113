"""Exceptions and warnings raised by replens.

Every error replens raises on bad input is a :class:`ReplensError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working for callers that do not know
replens. The children say which check failed; every message names the argument, what was
expected, what was received and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ReplensError",
    "ShapeError",
    "NonFiniteError",
    "TooFewExamplesError",
    "DtypeError",
    "UnknownOptionError",
    "DegenerateInputError",
    "UninformativeWarning",
]


class ReplensError(ValueError):
    """Root of every replens input error."""


class ShapeError(ReplensError):
    """An array has the wrong number of dimensions or a different number of examples."""


class NonFiniteError(ReplensError):
    """An array holds NaN or infinite values."""


class TooFewExamplesError(ReplensError):
    """Too few examples (rows) for the requested estimator."""


class DtypeError(ReplensError, TypeError):
    """An array's dtype is not a real number type (bool, complex, object, string...)."""


class UnknownOptionError(ReplensError):
    """A keyword option got a value outside its valid set."""


class DegenerateInputError(ReplensError):
    """The input carries no information for the measure, e.g. every column is constant."""


class UninformativeWarning(UserWarning):
    """The value is exact but says little, e.g. CCA when features outnumber examples."""
