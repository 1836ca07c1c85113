"""Result types: the similarity matrix of a layer-by-layer comparison."""

from .matrix import SimilarityMatrix

__all__ = ["SimilarityMatrix"]
