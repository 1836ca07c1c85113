"""rl.cca_directions: correlations equal rl.cca / rl.svcca, variates equal an independent
whitening computation, weights reproduce the variates, projections are projectors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import replens as rl


def _pair(n=400, p=8, q=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) + 3.0
    y = x[:, :q] @ rng.standard_normal((q, q)) + 0.7 * rng.standard_normal((n, q)) - 1.0
    return x, y


def _whitened_cca(x, y):
    """Textbook CCA, independent of replens: Sxx^{-1/2} Sxy Syy^{-1/2} = U diag(rho) V^T."""
    xc, yc = x - x.mean(0), y - y.mean(0)

    def inverse_sqrt(s):
        values, vectors = np.linalg.eigh(s)
        return vectors @ np.diag(values ** -0.5) @ vectors.T

    wx, wy = inverse_sqrt(xc.T @ xc), inverse_sqrt(yc.T @ yc)
    u, rho, vt = np.linalg.svd(wx @ xc.T @ yc @ wy)
    k = rho.shape[0]
    return rho, xc @ wx @ u[:, :k], yc @ wy @ vt.T[:, :k]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rho_equals_cca_and_variates_equal_whitened_cca(seed):
    x, y = _pair(seed=seed)
    d = rl.cca_directions(x, y)
    assert np.max(np.abs(d.rho - rl.cca(x, y).rho)) < 1e-10
    rho, vx, vy = _whitened_cca(x, y)
    assert np.max(np.abs(d.rho - rho)) < 1e-10
    signs = np.sign(np.sum(d.variates_x * vx, axis=0))
    assert np.max(np.abs(d.variates_x - vx * signs)) < 1e-8
    assert np.max(np.abs(d.variates_y - vy * signs)) < 1e-8
    assert d.kept == (8, 6) and d.k == 6
    assert d.weights_x.shape == (8, 6) and d.weights_y.shape == (6, 6)
    assert d.variates_x.shape == (400, 6) and d.loadings_x.shape == (6, 8)


def test_variates_are_orthonormal_centred_and_correlate_by_rho():
    x, y = _pair()
    d = rl.cca_directions(x, y)
    for v in (d.variates_x, d.variates_y):
        assert np.max(np.abs(v.T @ v - np.eye(d.k))) < 1e-12
        assert np.max(np.abs(v.mean(axis=0))) < 1e-12
    assert np.max(np.abs(d.variates_x.T @ d.variates_y - np.diag(d.rho))) < 1e-12
    for i in range(d.k):
        assert abs(np.corrcoef(d.variates_x[:, i], d.variates_y[:, i])[0, 1] - d.rho[i]) < 1e-10
    assert np.all(np.diff(d.rho) <= 0)


def test_weights_and_means_reproduce_the_variates():
    x, y = _pair()
    d = rl.cca_directions(x, y)
    assert np.allclose(d.mean_x, x.mean(0), atol=1e-14) and np.allclose(d.mean_y, y.mean(0), atol=1e-14)
    assert np.max(np.abs((x - d.mean_x) @ d.weights_x - d.variates_x)) < 1e-10
    assert np.max(np.abs((y - d.mean_y) @ d.weights_y - d.variates_y)) < 1e-10


def test_duplicated_neurons_give_minimum_norm_weights():
    x, y = _pair()
    dup = np.hstack([x, x[:, :2], np.full((x.shape[0], 1), 5.0)])  # rank 8 of 11 columns
    d = rl.cca_directions(dup, y)
    assert d.kept == (8, 6)
    assert np.max(np.abs(d.rho - rl.cca(x, y).rho)) < 1e-10
    assert np.max(np.abs((dup - d.mean_x) @ d.weights_x - d.variates_x)) < 1e-10
    # Minimum norm: the weights lie in the row space of the centred data.
    centred = dup - dup.mean(0)
    row_space = np.linalg.pinv(centred) @ centred
    assert np.max(np.abs(row_space @ d.weights_x - d.weights_x)) < 1e-8
    assert np.all(d.weights_x[-1] == 0)


@pytest.mark.parametrize("options", [dict(threshold=0.9), dict(threshold=0.7, rule="singular_values"),
                                     dict(keep=3)])
def test_truncation_equals_svcca(options):
    x, y = _pair(p=12, q=10, seed=3)
    d = rl.cca_directions(x, y, **options)
    s = rl.svcca(x, y, **options)
    assert d.kept == s.kept
    assert d.rho.shape == s.rho.shape and np.max(np.abs(d.rho - s.rho)) < 1e-10
    assert np.max(np.abs((x - d.mean_x) @ d.weights_x - d.variates_x)) < 1e-10
    assert np.max(np.abs(d.variates_x.T @ d.variates_y - np.diag(d.rho))) < 1e-12
    # The truncated variates of X lie in the span of X's top singular directions.
    u = np.linalg.svd(x - x.mean(0), full_matrices=False)[0][:, : d.kept[0]]
    assert np.max(np.abs(u @ (u.T @ d.variates_x) - d.variates_x)) < 1e-10


def test_projector_is_the_regression_on_the_top_variates():
    x, y = _pair()
    d = rl.cca_directions(x, y)
    xc = x - x.mean(0)
    for k in (1, 3, 6):
        p = d.projector(k)
        assert p.shape == (8, 8)
        assert np.max(np.abs(p @ p - p)) < 1e-10
        v = d.variates_x[:, :k]
        assert np.max(np.abs(xc @ p - v @ (v.T @ xc))) < 1e-10
        # The textbook form W (W^T S W)^{-1} W^T S of the oblique projector.
        w, s = d.weights_x[:, :k], xc.T @ xc
        assert np.max(np.abs(p - w @ np.linalg.solve(w.T @ s @ w, w.T @ s))) < 1e-8
        assert np.max(np.abs(d.project(x, k) - (x.mean(0) + xc @ p))) < 1e-10
    # Y has 6 neurons of rank 6, so all 6 directions span it: projection is the identity.
    assert np.max(np.abs(d.project(y, 6, side="y") - y)) < 1e-10
    assert np.linalg.matrix_rank(d.projector(2, side="y")) == 2


def test_project_new_inputs_is_linear_and_accepts_torch():
    x, y = _pair()
    d = rl.cca_directions(x, y)
    new = np.random.default_rng(9).standard_normal((5, 8))
    expected = d.mean_x + (new - d.mean_x) @ d.projector(4)
    assert np.max(np.abs(d.project(new, 4) - expected)) < 1e-10
    assert np.max(np.abs(d.project(torch.from_numpy(new).float(), 4) - expected)) < 1e-5


def test_torch_inputs_give_the_numpy_result():
    x, y = _pair()
    d, t = rl.cca_directions(x, y), rl.cca_directions(torch.from_numpy(x), torch.from_numpy(y))
    assert isinstance(t.rho, np.ndarray) and isinstance(t.weights_x, np.ndarray)
    assert np.max(np.abs(d.rho - t.rho)) < 1e-10
    assert np.max(np.abs(np.abs(d.variates_x.T @ t.variates_x) - np.eye(d.k))) < 1e-8


def test_more_features_than_examples_warns():
    rng = np.random.default_rng(0)
    with pytest.warns(rl.UninformativeWarning, match="at least 5 canonical correlations equal 1"):
        d = rl.cca_directions(rng.standard_normal((20, 12)), rng.standard_normal((20, 12)))
    assert np.allclose(d.rho[:5], 1.0)


def test_keep_above_rank_warns_and_keeps_all():
    x, y = _pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = rl.cca_directions(x, y, keep=20)
    messages = [str(w.message) for w in caught if issubclass(w.category, rl.UninformativeWarning)]
    assert any("keep=20 exceeds the rank 8 of centred X" in m for m in messages)
    assert any("keep=20 exceeds the rank 6 of centred Y" in m for m in messages)
    assert d.kept == (8, 6)


def test_errors():
    x, y = _pair()
    with pytest.raises(rl.UnknownOptionError, match="give threshold or keep, not both"):
        rl.cca_directions(x, y, threshold=0.9, keep=3)
    with pytest.raises(rl.UnknownOptionError, match=r"threshold must be a number in \(0, 1\]"):
        rl.cca_directions(x, y, threshold=1.5)
    with pytest.raises(rl.UnknownOptionError, match="keep must be a positive integer"):
        rl.cca_directions(x, y, keep=0)
    with pytest.raises(rl.UnknownOptionError, match="rule must be one of"):
        rl.cca_directions(x, y, rule="energy")
    with pytest.raises(rl.ShapeError, match="same number of examples"):
        rl.cca_directions(x, y[:-1])
    with pytest.raises(rl.DegenerateInputError, match="every column of X is constant"):
        rl.cca_directions(np.ones_like(x), y)
    d = rl.cca_directions(x, y)
    with pytest.raises(rl.UnknownOptionError, match=r"k must be at most the number of canonical directions, 6"):
        d.project(x, 7)
    with pytest.raises(rl.UnknownOptionError, match="k must be a positive integer"):
        d.projector(0)
    with pytest.raises(rl.UnknownOptionError, match="side must be one of 'x', 'y'"):
        d.project(x, 2, side="z")
    with pytest.raises(rl.ShapeError, match="acts must have the 6 neurons of side 'y'"):
        d.project(x, 2, side="y")
    with pytest.raises(rl.ShapeError, match="acts must be 2-D"):
        d.project(x[0], 2)
    with pytest.raises(rl.NonFiniteError, match="acts contains NaN"):
        d.project(np.full((2, 8), np.nan), 2)


def test_result_is_frozen():
    x, y = _pair()
    d = rl.cca_directions(x, y)
    with pytest.raises(AttributeError):
        d.rho = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rl.cca_directions(x, y)  # no warning on a well-posed pair


def test_doctests():
    import doctest

    from replens.measures import directions

    assert doctest.testmod(directions).failed == 0
