"""PWCCA is well defined when canonical correlations tie (issue 10, item 7).

Skip connections make exact ties common: a layer that copies part of its input has several
canonical correlations of exactly 1 with it. Inside a tied block the canonical variates are
defined only up to a rotation, and PWCCA's weights (sums of absolute projections) depend on
which one rounding picks: before the fix the value moved by about 0.01 under rotations of Y.
Now the variates inside each tied block (consecutive gaps <= sqrt(eps)) are the principal
axes of X's neurons projected onto the block, so rotations, rescalings and invertible maps of
Y leave PWCCA unchanged to 1e-10, in the pair function, compare (both directions) and
streaming.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import replens as rl
from replens.measures.cca import tie_tolerance, tied_blocks, weighted_correlation

EPS = np.finfo(np.float64).eps


def orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def skip_connection(seed: int, n: int = 200, p: int = 8, copied: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Y = [the first `copied` neurons of X, a nonlinear function of X + noise]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) @ rng.standard_normal((p, p))
    rest = np.tanh(x @ rng.standard_normal((p, p - copied))) + 0.5 * rng.standard_normal((n, p - copied))
    return x, np.hstack([x[:, :copied], rest])


def test_skip_connections_give_tied_correlations():
    x, y = skip_connection(0)
    rho = rl.cca(x, y).rho
    np.testing.assert_allclose(rho[:4], 1.0, atol=1e-12)
    assert [(b.start, b.stop) for b in tied_blocks(rho, tie_tolerance(EPS))] == [(0, 4)]


@pytest.mark.parametrize("seed", range(6))
def test_pwcca_is_unchanged_by_rotations_rescalings_and_invertible_maps_of_y(seed):
    x, y = skip_connection(seed)
    rng = np.random.default_rng(100 + seed)
    base = rl.pwcca(x, y)
    for _ in range(4):
        for transformed in (y @ orthogonal(rng, 8), 10.0 ** rng.uniform(-3, 3) * y,
                            y @ rng.standard_normal((8, 8)), 1e200 * y @ orthogonal(rng, 8) + 5.0):
            assert abs(rl.pwcca(x, transformed) - base) <= 1e-10


@pytest.mark.parametrize("seed", range(3))
def test_compare_and_streaming_pwcca_choose_the_same_variates(seed):
    x, y = skip_connection(seed)
    rng = np.random.default_rng(200 + seed)
    rotated = y @ orthogonal(rng, 8)
    base = rl.pwcca(x, y)
    matrix = rl.compare({"x": x}, {"y": rotated}, measures="pwcca")
    assert abs(matrix.values[0, 0, 0] - base) <= 1e-10
    itself = rl.compare({"x": x, "y": rotated}, measures="pwcca")  # both directions from one SVD
    assert abs(itself["pwcca"][0, 1] - base) <= 1e-10
    assert abs(itself["pwcca"][1, 0] - rl.pwcca(rotated, x)) <= 1e-10
    est = rl.streaming.CCA()
    for start in range(0, 200, 64):
        est.update(x[start:start + 64], rotated[start:start + 64])
    assert abs(est.pwcca() - base) <= 1e-10


def test_forced_ties_of_wide_inputs_are_also_canonical():
    """rank X + rank Y > n - 1 forces correlations to 1 (Theorem 1): same rule, same invariance."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((30, 20))
    y = rng.standard_normal((30, 15))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        base = rl.pwcca(x, y)
        for _ in range(4):
            assert abs(rl.pwcca(x, y @ orthogonal(rng, 15)) - base) <= 1e-10


def test_untied_correlations_keep_the_paper_value():
    """Without ties the canonical variates are unique (up to sign) and nothing changes."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((150, 5))
    y = x @ rng.standard_normal((5, 4)) + rng.standard_normal((150, 4))
    rho = rl.cca(x, y).rho
    assert not tied_blocks(rho, tie_tolerance(EPS))
    xc, yc = x - x.mean(0), y - y.mean(0)
    qx, qy = np.linalg.qr(xc)[0], np.linalg.qr(yc)[0]
    a, s, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    alpha = np.abs((qx @ a).T @ xc).sum(axis=1)
    assert rl.pwcca(x, y) == pytest.approx(float(alpha @ s / alpha.sum()), abs=1e-12)


def test_tie_tolerance_is_sqrt_eps_and_blocks_chain():
    assert tie_tolerance(EPS) == pytest.approx(np.sqrt(EPS))
    assert tie_tolerance(np.finfo(np.float32).eps) == pytest.approx(np.sqrt(np.finfo(np.float32).eps))
    rho = np.array([1.0, 1.0 - 1e-9, 1.0 - 2e-9, 0.7, 0.5, 0.5 - 1e-12, 0.1])
    assert [(b.start, b.stop) for b in tied_blocks(rho, 1.5e-8)] == [(0, 3), (4, 6)]
    assert tied_blocks(np.array([0.9]), 1.5e-8) == []


def test_weighted_correlation_depends_only_on_the_span_of_a_tied_block():
    rng = np.random.default_rng(11)
    projections = rng.standard_normal((5, 9))
    rho = np.array([1.0, 1.0, 1.0, 0.6, 0.2])
    base = weighted_correlation(rho, projections, 1e-8)
    for _ in range(5):
        rotation = np.eye(5)
        rotation[:3, :3] = orthogonal(rng, 3)
        assert weighted_correlation(rho, rotation.T @ projections, 1e-8) == pytest.approx(base, abs=1e-13)
    naive = np.abs(projections).sum(axis=1)
    assert base != pytest.approx(float(naive @ rho / naive.sum()), abs=1e-6)
