"""replens.zoo.subsets.class_subset: keeps the chosen classes in order and relabels them 0..k-1."""

from __future__ import annotations

import numpy as np
import pytest

from replens.errors import ShapeError, UnknownOptionError
from replens.zoo.subsets import class_subset


def _toy():
    x_tr = np.arange(8, dtype=np.float32).reshape(8, 1)
    y_tr = np.array([3, 0, 1, 3, 2, 1, 0, 2], dtype=np.int64)
    x_te = np.arange(100, 104, dtype=np.float32).reshape(4, 1)
    y_te = np.array([2, 3, 0, 1], dtype=np.int64)
    return x_tr, y_tr, x_te, y_te


def test_known_answer_keeps_order_and_relabels_in_the_order_listed():
    x_tr, y_tr, x_te, y_te = class_subset(_toy(), [3, 1])
    assert x_tr[:, 0].tolist() == [0, 2, 3, 5] and y_tr.tolist() == [0, 1, 0, 1]
    assert x_te[:, 0].tolist() == [101, 103] and y_te.tolist() == [0, 1]
    assert y_tr.dtype == np.int64 and x_tr.dtype == np.float32


def test_inputs_untouched_and_outputs_are_copies():
    data = _toy()
    before = [a.copy() for a in data]
    out = class_subset(data, [0, 2])
    out[0][:] = -1
    for a, b in zip(data, before):
        np.testing.assert_array_equal(a, b)


def test_mnist14_halves_partition_the_split():
    from replens.zoo import load

    data = load("mnist14", seed=0)
    a = class_subset(data, [0, 1, 2, 3, 4])
    b = class_subset(data, [5, 6, 7, 8, 9])
    assert len(a[0]) + len(b[0]) == len(data[0]) and len(a[2]) + len(b[2]) == len(data[2])
    assert set(a[1].tolist()) == set(b[3].tolist()) == set(range(5))
    np.testing.assert_array_equal(b[2], data[2][data[3] >= 5])
    np.testing.assert_array_equal(b[3], data[3][data[3] >= 5] - 5)


@pytest.mark.parametrize("classes", [[], [1, 1], [0.5], "01", [True]])
def test_bad_classes_are_refused(classes):
    with pytest.raises(UnknownOptionError):
        class_subset(_toy(), classes)


def test_absent_class_names_the_split():
    with pytest.raises(UnknownOptionError, match="training"):
        class_subset(_toy(), [7])


def test_bad_data_is_refused():
    x_tr, y_tr, x_te, y_te = _toy()
    with pytest.raises(ShapeError):
        class_subset((x_tr, y_tr[:-1], x_te, y_te), [0])
    with pytest.raises(ShapeError):
        class_subset((x_tr, y_tr), [0])
    with pytest.raises(ShapeError):
        class_subset((x_tr, y_tr.astype(float), x_te, y_te), [0])
