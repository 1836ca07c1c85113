"""random_labels: a fixed, seeded permutation of the training labels (PWCCA sec. 3.1)."""

from __future__ import annotations

import numpy as np
import pytest

import replens as rl
from replens.errors import ShapeError, UnknownOptionError
from replens.zoo import random_labels


def test_known_permutation_of_a_small_vector():
    # numpy's default_rng(0).permutation(5) is [2, 4, 3, 0, 1] (PCG64's stream)
    y = np.array([10, 11, 12, 13, 14])
    assert np.random.default_rng(0).permutation(5).tolist() == [2, 4, 3, 0, 1]
    assert random_labels(y, seed=0).tolist() == [12, 14, 13, 10, 11]


def test_same_seed_same_labels_other_seed_other_labels():
    y = np.repeat(np.arange(10), 50)
    a, b, c = random_labels(y, seed=3), random_labels(y, seed=3), random_labels(y, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_class_counts_and_dtype_kept_input_untouched():
    y = np.repeat(np.arange(10, dtype=np.int64), [30, 40, 50, 60, 70, 80, 90, 100, 110, 120])
    before = y.copy()
    shuffled = random_labels(y, seed=1)
    assert shuffled.dtype == np.int64 and shuffled.shape == y.shape
    assert np.array_equal(np.bincount(shuffled), np.bincount(y))
    assert np.array_equal(y, before)
    assert not np.shares_memory(shuffled, y)


def test_labels_are_decoupled_from_the_examples():
    # ten balanced classes: a fraction sum_c p_c^2 = 0.1 of the labels stays correct by chance
    y = np.repeat(np.arange(10), 1000)
    agreement = float(np.mean(random_labels(y, seed=0) == y))
    assert 0.08 < agreement < 0.12


def test_global_numpy_state_untouched():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    random_labels(np.arange(100), seed=5)
    assert np.random.random() == expected


def test_exported_from_the_zoo():
    assert rl.zoo.random_labels is random_labels


@pytest.mark.parametrize("bad", [np.zeros((3, 2), dtype=int), np.array([0.0, 1.0]), np.array(["a", "b"])])
def test_rejects_labels_that_are_not_1d_integers(bad):
    with pytest.raises(ShapeError, match="1-D array of integer class labels"):
        random_labels(bad, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_rejects_a_bad_seed(seed):
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative integer"):
        random_labels(np.arange(4), seed=seed)
