"""Similarity measures: the registry, then one module per family (each registers its measures).

The import order below is the order :func:`replens.measures` lists the built-ins in.
"""

from .registry import Measure, MeasureInfo, measure, measures, register_measure, unregister_measure
from .cka import cka, hsic
from .cca import CCAResult, SVCCAResult, cca, pwcca, svcca
from .regression import linear_regression_r2
from .directions import CCADirections, cca_directions

__all__ = ["Measure", "MeasureInfo", "measure", "measures", "register_measure", "unregister_measure",
           "CCAResult", "SVCCAResult", "cca", "svcca", "pwcca", "cka", "hsic", "linear_regression_r2",
           "CCADirections", "cca_directions"]
