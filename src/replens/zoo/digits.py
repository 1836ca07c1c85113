"""Offline data: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

The split is stratified and fixed by ``split_seed``; features are standardised with the
training split's mean and standard deviation (constant pixels are left at zero).
scikit-learn is imported only when the digits are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._io import optional_import

__all__ = ["DigitsSplit", "load_digits_split"]


@dataclass(frozen=True)
class DigitsSplit:
    """Standardised digits, split into a training set and a held-out set.

    ``x_*`` are float32 arrays (n, 64) for training; ``y_*`` are int64 labels in 0..9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def load_digits_split(*, test_fraction: float = 1 / 3, split_seed: int = 0) -> DigitsSplit:
    """Load sklearn's digits, split them (stratified, deterministic) and standardise them."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    load_digits = optional_import("sklearn.datasets", "demo", "loading sklearn's digits").load_digits
    train_test_split = optional_import("sklearn.model_selection", "demo", "splitting the digits").train_test_split

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0.0] = 1.0  # pixels that are constant on the training split stay at 0
    return DigitsSplit(
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=y_train,
        x_test=((x_test - mean) / std).astype(np.float32),
        y_test=y_test,
    )
