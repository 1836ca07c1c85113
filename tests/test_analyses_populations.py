"""Known answers for replens.analyses.populations (PWCCA sec. 3.2, CKA sec. 6.2 helpers)."""

from __future__ import annotations

import numpy as np
import pytest

from replens.analyses.populations import (
    distance_accuracy_correlation,
    gram_factor,
    mean_jackknife,
    subsample_units,
)
from replens.errors import ShapeError, TooFewExamplesError, UnknownOptionError
from replens.stats import jackknife


def _linear_cka(x, y):
    x = x.reshape(len(x), -1) - x.reshape(len(x), -1).mean(axis=0)
    y = y.reshape(len(y), -1) - y.reshape(len(y), -1).mean(axis=0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


# ------------------------------------------------------------------ subsample_units


def test_subsample_units_keeps_whole_columns_in_order():
    x = np.arange(60.0).reshape(3, 20) * 1.0
    sub = subsample_units(x, 7, seed=3)
    assert sub.shape == (3, 7)
    columns = [int(c) for c in sub[0]]          # row 0 holds the column indices 0..19
    assert columns == sorted(columns) and len(set(columns)) == 7
    np.testing.assert_array_equal(sub, x[:, columns])


def test_subsample_units_is_seeded_and_takes_channels_of_conv_layers():
    x = np.random.default_rng(0).standard_normal((4, 16, 3, 3))
    a, b, c = (subsample_units(x, 5, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (4, 5, 3, 3)
    picked = [k for k in range(16) if any(np.array_equal(x[:, k], a[:, j]) for j in range(5))]
    assert len(picked) == 5
    np.testing.assert_array_equal(subsample_units(x, 16, seed=9), x)


def test_subsample_units_rejects_too_many_units():
    with pytest.raises(ShapeError, match="m <= 4"):
        subsample_units(np.zeros((3, 4)), 5, seed=0)
    with pytest.raises(ShapeError):
        subsample_units(np.zeros(3), 1, seed=0)


# ------------------------------------------------------------------ distance_accuracy_correlation


def test_distance_accuracy_correlation_is_minus_one_when_distance_falls_linearly_with_pair_accuracy():
    acc = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    D = 1.0 - (acc[:, None] + acc[None, :]) / 2.0
    np.fill_diagonal(D, 0.0)
    res = distance_accuracy_correlation(D, acc)
    assert res.over == "pairs" and res.accuracy.shape == (15,)
    assert res.r == pytest.approx(-1.0, abs=1e-12)
    flipped = distance_accuracy_correlation(-D + 2.0 - np.diag(np.full(6, 2.0)), acc)
    assert flipped.r == pytest.approx(1.0, abs=1e-12)


def test_distance_accuracy_correlation_uses_only_pairs_within_groups():
    rng = np.random.default_rng(1)
    D = rng.uniform(0.1, 1.0, (6, 6))
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    acc = rng.uniform(0.5, 1.0, 6)
    groups = ["a", "a", "a", "b", "b", "b"]
    res = distance_accuracy_correlation(D, acc, groups=groups)
    pairs = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)]
    x = np.array([(acc[i] + acc[j]) / 2 for i, j in pairs])
    y = np.array([D[i, j] for i, j in pairs])
    np.testing.assert_allclose(np.sort(res.distance), np.sort(y))
    assert res.r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


def test_distance_accuracy_correlation_per_network_by_hand():
    D = np.array([[0, .2, .9, .9], [.2, 0, .9, .9], [.9, .9, 0, .6], [.9, .9, .6, 0]])
    res = distance_accuracy_correlation(D, [.9, .9, .5, .7], groups=[0, 0, 1, 1], over="networks")
    np.testing.assert_allclose(res.distance, [0.2, 0.2, 0.6, 0.6])
    # by hand: cov = -0.12, var_x = 0.11, var_y = 0.16 (sums of squares)
    assert res.r == pytest.approx(-0.12 / np.sqrt(0.11 * 0.16), abs=1e-12)


def test_distance_accuracy_correlation_errors():
    D = np.zeros((3, 3))
    with pytest.raises(UnknownOptionError):
        distance_accuracy_correlation(D, [1, 2, 3], over="both")
    with pytest.raises(ShapeError):
        distance_accuracy_correlation(D, [1, 2])
    with pytest.raises(TooFewExamplesError):
        distance_accuracy_correlation(D, [1, 2, 3], groups=[0, 0, 1])
    with pytest.raises(ShapeError, match=r"got 2 layers \(a, b\)\. Pass one layer's distances, D\[layer\]"):
        distance_accuracy_correlation({"a": D, "b": D}, [1, 2, 3])


# ------------------------------------------------------------------ gram_factor and mean_jackknife


def test_gram_factor_keeps_the_gram_matrix_and_linear_cka_with_its_jackknife():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 4, 5, 5))            # 100 flattened features > 30 examples
    y = x.reshape(30, -1)[:, :20] @ rng.standard_normal((20, 60)) + rng.standard_normal((30, 60))
    fx, fy = gram_factor(x), gram_factor(y)
    assert fx.shape == (30, 30) and fy.shape == (30, 30)
    flat = x.reshape(30, -1)
    np.testing.assert_allclose(fx @ fx.T, flat @ flat.T, atol=1e-10)
    assert _linear_cka(fx, fy) == pytest.approx(_linear_cka(flat, y), abs=1e-10)
    full, reduced = jackknife(flat, y), jackknife(fx, fy)
    np.testing.assert_allclose(reduced.values, full.values, atol=1e-10)
    assert reduced.se == pytest.approx(full.se, abs=1e-10)


def test_gram_factor_drops_null_directions_of_a_low_rank_layer():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 50))
    f = gram_factor(x)
    assert f.shape == (20, 3)
    np.testing.assert_allclose(f @ f.T, x @ x.T, atol=1e-9)


def test_mean_jackknife_equals_brute_force_leave_one_out_of_the_mean():
    rng = np.random.default_rng(4)
    n = 12
    x = rng.standard_normal((n, 5))
    ys = [x @ rng.standard_normal((5, 4)) + s * rng.standard_normal((n, 4)) for s in (0.5, 2.0)]
    res = mean_jackknife([jackknife(x, y) for y in ys])
    theta = np.mean([_linear_cka(x, y) for y in ys])
    loo = np.array([np.mean([_linear_cka(np.delete(x, i, 0), np.delete(y, i, 0)) for y in ys]) for i in range(n)])
    assert res.statistic == pytest.approx(theta, abs=1e-12)
    np.testing.assert_allclose(res.values, loo, atol=1e-12)
    se = np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2))
    assert res.se == pytest.approx(se, abs=1e-12)
    assert res.bias == pytest.approx((n - 1) * (loo.mean() - theta), abs=1e-12)


def test_mean_jackknife_rejects_mismatched_examples():
    a = jackknife(np.eye(6)[:, :3] + 0.1, np.eye(6)[:, 1:4] + 0.2)
    b = jackknife(np.eye(7)[:, :3] + 0.1, np.eye(7)[:, 1:4] + 0.2)
    with pytest.raises(ShapeError):
        mean_jackknife([a, b])
    with pytest.raises(ShapeError):
        mean_jackknife([])
