"""replens: exact, fast similarity measures between neural-network representations.

Every function takes activations of shape (examples, features), as numpy arrays or torch
tensors, and returns a Python float or a small result object.
"""

from .errors import (
    DegenerateInputError,
    DtypeError,
    NonFiniteError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UninformativeWarning,
    UnknownOptionError,
)
from .compare import compare
from .dft import DFTCCAResult, dft_cca
from .activations import (
    ActivationCache,
    extract,
    extract_hf,
    extract_hf_to_cache,
    extract_to_cache,
    load_activations,
    save_activations,
)
from .measures import CCAResult, SVCCAResult, cca, cka, hsic, linear_regression_r2, pwcca, svcca
from .measures.catalog import MeasureInfo, measures
from .similarity_matrix import SimilarityMatrix
from . import streaming

__version__ = "0.1.0"

__all__ = [
    "cca",
    "svcca",
    "pwcca",
    "cka",
    "hsic",
    "linear_regression_r2",
    "compare",
    "streaming",
    "dft_cca",
    "extract",
    "extract_hf",
    "extract_to_cache",
    "extract_hf_to_cache",
    "load_activations",
    "save_activations",
    "ActivationCache",
    "DFTCCAResult",
    "measures",
    "MeasureInfo",
    "SimilarityMatrix",
    "CCAResult",
    "SVCCAResult",
    "ReplensError",
    "ShapeError",
    "NonFiniteError",
    "TooFewExamplesError",
    "DtypeError",
    "UnknownOptionError",
    "DegenerateInputError",
    "UninformativeWarning",
]
