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
    "CorruptFileError",
    "ExtractionError",
    "NumericalRangeError",
    "UninformativeWarning",
    "AccuracyWarning",
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


class CorruptFileError(ReplensError):
    """A file or cache is damaged: a checksum differs, a header declares more than the file
    holds, or its structure cannot be parsed. The message names the file and the chunk."""


class ExtractionError(ReplensError):
    """Extracting activations failed, e.g. a layer's values overflow the requested dtype."""


class NumericalRangeError(ReplensError, ArithmeticError):
    """A result cannot be given as a trustworthy float64: its exact value overflows float64 or
    underflows below its normal range (linear HSIC of inputs scaled by 1e200), or the
    computation broke down to NaN. The message says which and what to do."""


class UninformativeWarning(UserWarning):
    """The value is exact but says little, e.g. CCA when features outnumber examples."""


class AccuracyWarning(RuntimeWarning):
    """A value may be less accurate than usual, e.g. streaming CCA on ill-conditioned data."""
