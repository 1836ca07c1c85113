"""Similarity measures, one module per family."""

from .cca import CCAResult, SVCCAResult, cca, pwcca, svcca
from .cka import cka, hsic
from .regression import linear_regression_r2

__all__ = ["CCAResult", "SVCCAResult", "cca", "svcca", "pwcca", "cka", "hsic", "linear_regression_r2"]
