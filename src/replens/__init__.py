"""replens: exact, fast similarity measures between neural-network representations.

Every function takes activations of shape (examples, features), as numpy arrays or torch
tensors, and returns a Python float or a small result object.
"""

from .errors import (
    AccuracyWarning,
    CorruptFileError,
    DegenerateInputError,
    ExtractionError,
    DtypeError,
    NonFiniteError,
    NumericalRangeError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UninformativeWarning,
    UnknownOptionError,
)
from .engine import compare
from .measures.dft import DFTCCAResult, dft_cca
from .activations import (
    ActivationCache,
    extract,
    extract_hf,
    extract_hf_to_cache,
    extract_to_cache,
    load_activations,
    save_activations,
)
from .measures import (
    CCAResult,
    Measure,
    MeasureInfo,
    SVCCAResult,
    cca,
    cka,
    hsic,
    linear_regression_r2,
    measure,
    pwcca,
    register_measure,
    svcca,
    unregister_measure,
)
from .measures.registry import measures
from .measures.directions import CCADirections, cca_directions
from .results import SimilarityMatrix
from .measures import streaming
from . import stats
from . import zoo
from . import reproduce
from . import analyses
from .sweeps import sweep

__version__ = "0.1.0"

__all__ = [
    "cca",
    "cca_directions",
    "CCADirections",
    "analyses",
    "sweep",
    "reproduce",
    "svcca",
    "pwcca",
    "cka",
    "hsic",
    "linear_regression_r2",
    "compare",
    "streaming",
    "stats",
    "zoo",
    "dft_cca",
    "extract",
    "extract_hf",
    "extract_to_cache",
    "extract_hf_to_cache",
    "load_activations",
    "save_activations",
    "ActivationCache",
    "DFTCCAResult",
    "measure",
    "measures",
    "register_measure",
    "unregister_measure",
    "Measure",
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
    "CorruptFileError",
    "ExtractionError",
    "AccuracyWarning",
    "NumericalRangeError",
]
