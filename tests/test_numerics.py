"""Numerical robustness: duplicated and zero columns, ill conditioning, p >= n, large
offsets, low-precision and integer inputs, the float32 working precision.

Reference values come from small independent numpy implementations written from the
papers' formulas (SVD bases for CCA, explicit Gram matrices for HSIC/CKA), not from replens.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import replens as rl

from _measures import MEASURES as REGISTERED, PAIR_FUNCTIONS, invariant_to, known, pair_function, with_variants

# Pair-function options and outputs beyond the registry's defaults (not registered measures):
# canonical-correlation vectors, other SVCCA rules, RBF and debiased estimators. Every one sees
# its inputs only through singular values and subspaces or Gram matrices, so is invariant to
# orthogonal maps of either input.
VARIANTS = {
    "cca.rho": lambda x, y, **kw: rl.cca(x, y, **kw).rho,
    "svcca.rho": lambda x, y, **kw: rl.svcca(x, y, **kw).rho,
    "svcca.rho[singular_values]": lambda x, y, **kw: rl.svcca(x, y, rule="singular_values", **kw).rho,
    "svcca.rho[keep=2]": lambda x, y, **kw: rl.svcca(x, y, keep=2, **kw).rho,
    "cka.rbf.debiased": lambda x, y, **kw: rl.cka(x, y, kernel="rbf", debiased=True, **kw),
    "hsic.debiased": lambda x, y, **kw: rl.hsic(x, y, debiased=True, **kw),
    "hsic.rbf": lambda x, y, **kw: rl.hsic(x, y, kernel="rbf", **kw),
}
# Every registered measure (rl.measure(name, **options)(X, Y)), then the variants.
MEASURES = with_variants(PAIR_FUNCTIONS, VARIANTS)
ALL = sorted(MEASURES)
EPS = np.finfo(np.float64).eps


def close(a, b, rtol: float = 1e-10, atol: float = 1e-10) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def orthogonal(rng, p):
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def pair(seed: int = 0, n: int = 120, p1: int = 6, p2: int = 5):
    """A well-conditioned, correlated pair with non-zero column means."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p1)) + rng.normal(size=p1)
    k = min(3, p1)
    y = x[:, :k] @ rng.standard_normal((k, p2)) + 0.7 * rng.standard_normal((n, p2)) + 2.0
    return x, y


# ----------------------------------------------------------------------------- references


def ref_basis(a):
    ac = a - a.mean(axis=0)
    u, s, _ = np.linalg.svd(ac, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(ac.shape) * EPS))
    return ac, u[:, :rank]


def ref_cca(x, y):
    (_, qx), (_, qy) = ref_basis(x), ref_basis(y)
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def ref_pwcca(x, y):
    """Morcos et al. 2018 sec 2.2 / CKA paper eq. 9, weights from x."""
    (xc, qx), (_, qy) = ref_basis(x), ref_basis(y)
    u, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    h = qx @ u[:, : len(rho)]  # unit-norm canonical variates of x
    alpha = np.abs(h.T @ xc).sum(axis=1)
    return float(alpha @ rho / alpha.sum())


def ref_lr(x, y):
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    b, *_ = np.linalg.lstsq(yc, xc, rcond=None)
    return 1.0 - np.sum((xc - yc @ b) ** 2) / np.sum(xc**2)


def ref_gram(a, kernel, bandwidth=1.0):
    if kernel == "linear":
        return a @ a.T
    d = cdist(a, a, "sqeuclidean")
    return np.exp(-d / (2.0 * bandwidth**2 * np.median(d)))


def ref_hsic_from_grams(k, l, debiased):
    n = k.shape[0]
    if not debiased:
        h = np.eye(n) - 1.0 / n
        return float(np.trace(k @ h @ l @ h) / (n - 1) ** 2)
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))  # Song et al. 2012
    one = np.ones(n)
    value = (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
             - 2.0 / (n - 2) * (one @ k @ l @ one))
    return float(value / (n * (n - 3)))


def ref_hsic(x, y, kernel="linear", debiased=False):
    return ref_hsic_from_grams(ref_gram(x, kernel), ref_gram(y, kernel), debiased)


def ref_cka(x, y, kernel="linear", debiased=False):
    k, l = ref_gram(x, kernel), ref_gram(y, kernel)
    xy = ref_hsic_from_grams(k, l, debiased)
    return xy / np.sqrt(ref_hsic_from_grams(k, k, debiased) * ref_hsic_from_grams(l, l, debiased))


# Independent references, for the registered measures and variants that have one.
REFERENCES = {
    "cca.rho": ref_cca,
    "cca_mean_rho": lambda x, y: float(np.mean(ref_cca(x, y))),
    "cca_r2": lambda x, y: float(np.mean(ref_cca(x, y) ** 2)),
    "pwcca": ref_pwcca,
    "linear_regression_r2": ref_lr,
    "linear_cka": ref_cka,
    "debiased_linear_cka": lambda x, y: ref_cka(x, y, debiased=True),
    "rbf_cka": lambda x, y: ref_cka(x, y, "rbf"),
    "cka.rbf.debiased": lambda x, y: ref_cka(x, y, "rbf", debiased=True),
    "linear_hsic": ref_hsic,
    "hsic.debiased": lambda x, y: ref_hsic(x, y, debiased=True),
    "hsic.rbf": lambda x, y: ref_hsic(x, y, "rbf"),
}
known(REFERENCES, MEASURES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_agrees_with_independent_reference(name):
    for seed, (n, p1, p2) in enumerate([(120, 6, 5), (30, 2, 7), (9, 3, 2)]):
        x, y = pair(seed, n, p1, p2)
        close(MEASURES[name](x, y), REFERENCES[name](x, y), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- duplicated columns


def test_duplicated_columns_cca_rank_and_rho():
    x, y = pair(1)
    x_dup = np.hstack([x, x[:, [0, 0, 3]]])
    y_dup = np.hstack([y[:, [2]], y, -2.0 * y[:, [1]]])
    for xx, yy in ((x_dup, y), (x, y_dup), (x_dup, y_dup)):
        r = rl.cca(xx, yy)
        assert r.rank == (6, 5)
        close(r.rho, rl.cca(x, y).rho)
        close(r.rho, ref_cca(x, y))
        close(rl.svcca(xx, yy, threshold=1.0).rho, r.rho)


def _sqrt2_scaled(x, col):
    out = x.copy()
    out[:, col] *= np.sqrt(2.0)
    return out


@pytest.mark.parametrize("name", sorted(invariant_to("orthogonal") + list(VARIANTS)))
def test_duplicated_column_equals_sqrt2_scaled_column(name):
    """[a, a, b] has the same Gram matrix, singular values and left singular vectors as
    [sqrt(2) a, b] (a rotation of the two copies gives [0, sqrt(2) a, b]): every measure
    invariant to orthogonal maps, and so every one but PWCCA (which sums |<h, x_j>| per
    neuron), sees X only through those."""
    f = MEASURES[name]
    x, y = pair(2)
    x_dup = np.hstack([x, x[:, [1]]])
    y_dup = np.hstack([y[:, [4]], y])
    close(f(x_dup, y), f(_sqrt2_scaled(x, 1), y))
    close(f(x, y_dup), f(x, _sqrt2_scaled(y, 4)))


def test_duplicated_columns_pwcca():
    x, y = pair(3)
    x_dup = np.hstack([x, x[:, [1, 1]]])
    y_dup = np.hstack([y, y[:, [0]]])
    close(rl.pwcca(x, y_dup), rl.pwcca(x, y))  # Y enters only through its column space
    close(rl.pwcca(x_dup, y), ref_pwcca(x_dup, y))  # X's duplicated neuron counts thrice


# ----------------------------------------------------------------------------- zero / constant columns


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("fill", [0.0, 7.5])
def test_zero_or_constant_column_is_ignored(name, fill):
    """A column that is constant (all zero, or all 7.5) carries nothing: the result equals
    that of the same data with the column removed."""
    f = MEASURES[name]
    x, y = pair(4)
    col = np.full((x.shape[0], 1), fill)
    x_extra = np.hstack([x[:, :2], col, x[:, 2:]])
    y_extra = np.hstack([y, col, col])
    close(f(x_extra, y), f(x, y))
    close(f(x, y_extra), f(x, y))
    close(f(x_extra, y_extra), f(x, y))


def test_zero_column_does_not_count_towards_rank():
    x, y = pair(5)
    zeros = np.zeros((x.shape[0], 2))
    assert rl.cca(np.hstack([x, zeros]), y).rank == (6, 5)
    assert rl.svcca(np.hstack([x, zeros]), y, threshold=1.0).kept == (6, 5)


# ----------------------------------------------------------------------------- ill conditioning


def centred_orthonormal(rng, n, p):
    """n x p orthonormal columns, all orthogonal to the ones vector (exactly centred)."""
    g = rng.standard_normal((n, p + 1))
    g[:, 0] = 1.0
    q, _ = np.linalg.qr(g)
    return q[:, 1:]


def ill_conditioned(rng, n, p, cond):
    u = centred_orthonormal(rng, n, p)
    s = np.logspace(0.0, -np.log10(cond), p)
    return (u * s) @ orthogonal(rng, p).T


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6, 1e8, 1e10])
def test_ill_conditioned_same_column_space_gives_all_ones(cond):
    rng = np.random.default_rng(6)
    n, p = 200, 8
    x = ill_conditioned(rng, n, p, cond) + 5.0
    y = x @ orthogonal(rng, p)
    r = rl.cca(x, y)
    assert r.rank == (p, p)
    assert np.all(np.abs(r.rho - 1.0) <= 1e-6), r.rho
    assert abs(rl.svcca(x, y, keep=p).mean_rho - 1.0) <= 1e-6
    assert abs(rl.pwcca(x, y) - 1.0) <= 1e-6
    assert abs(rl.linear_regression_r2(x, y) - 1.0) <= 1e-6


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6, 1e8, 1e10])
def test_ill_conditioned_known_principal_angles(cond):
    """X and Y ill-conditioned with prescribed principal angles theta_i between their
    column spaces: the canonical correlations are exactly cos(theta_i) whatever the
    singular values, so only rounding of the inputs (about eps * cond) can move them."""
    rng = np.random.default_rng(7)
    n, p = 200, 6
    basis = centred_orthonormal(rng, n, 2 * p)
    ux, ux_perp = basis[:, :p], basis[:, p:]
    theta = np.linspace(0.05, 1.5, p)
    uy = ux * np.cos(theta) + ux_perp * np.sin(theta)
    s = np.logspace(0.0, -np.log10(cond), p)
    x = (ux * s) @ orthogonal(rng, p).T
    y = (uy * s[::-1]) @ orthogonal(rng, p).T
    expected = np.sort(np.cos(theta))[::-1]
    rho = rl.cca(x, y).rho
    tol = max(1e-12, 10 * EPS * cond)  # 2.2e-6 at cond 1e10
    np.testing.assert_allclose(rho, expected, rtol=0, atol=tol)
    # independent float64 SVD-based CCA on the very same numbers: agreement to rounding
    np.testing.assert_allclose(rho, ref_cca(x, y), rtol=0, atol=tol)


def test_condition_1e10_matches_svd_reference_on_generic_data():
    rng = np.random.default_rng(8)
    n, p = 300, 10
    x = ill_conditioned(rng, n, p, 1e10) + rng.normal(size=p)
    y = np.hstack([x[:, :4] + 1e-3 * rng.standard_normal((n, 4)), rng.standard_normal((n, 5))])
    r = rl.cca(x, y)
    assert r.rank == (10, 9)
    np.testing.assert_allclose(r.rho, ref_cca(x, y), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- p >= n


def test_wide_input_warns_and_returns_exact_ones():
    rng = np.random.default_rng(9)
    n = 20
    x = rng.standard_normal((n, 30))  # centred rank n - 1 = 19: spans all centred vectors
    y = rng.standard_normal((n, 5))
    with pytest.warns(rl.UninformativeWarning, match="at least 5 canonical correlations"):
        r = rl.cca(x, y)
    assert r.rank == (n - 1, 5)
    assert len(r.rho) == 5
    assert np.all(np.abs(r.rho - 1.0) <= 1e-10), r.rho
    with pytest.warns(rl.UninformativeWarning):
        s = rl.svcca(x, y, keep=n - 1)
    assert s.kept == (n - 1, 5)
    assert np.all(np.abs(s.rho - 1.0) <= 1e-10), s.rho
    with pytest.warns(rl.UninformativeWarning):
        value = rl.pwcca(x, y)
    assert abs(value - 1.0) <= 1e-10
    with pytest.warns(rl.UninformativeWarning):  # also the other way round
        r_yx = rl.cca(y, x)
    close(r_yx.rho, r.rho)
    # Y is regressed on a full-rank X: fitted exactly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        assert abs(rl.linear_regression_r2(y, x) - 1.0) <= 1e-10


def test_wide_both_sides_forced_count():
    """Theorem 1: with ranks r_x + r_y > n - 1, at least r_x + r_y - (n - 1) correlations
    are 1."""
    rng = np.random.default_rng(10)
    n = 40
    x, y = rng.standard_normal((n, 25)), rng.standard_normal((n, 22))
    with pytest.warns(rl.UninformativeWarning, match="at least 8 canonical"):
        r = rl.cca(x, y)
    assert r.rank == (25, 22)
    forced = 25 + 22 - (n - 1)
    assert np.all(np.abs(r.rho[:forced] - 1.0) <= 1e-10), r.rho[:forced]
    assert r.rho[forced] < 1.0 - 1e-3


def test_no_warning_when_ranks_fit():
    rng = np.random.default_rng(11)
    n = 20
    x, y = rng.standard_normal((n, 10)), rng.standard_normal((n, 9))  # 10 + 9 = n - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", rl.UninformativeWarning)
        rl.cca(x, y)
        rl.svcca(x, y)
        rl.pwcca(x, y)
        rl.cka(x, y)


@pytest.mark.parametrize("name", known(["linear_cka", "debiased_linear_cka", "rbf_cka", "linear_hsic",
                                         "hsic.debiased"], REFERENCES))
def test_wide_kernel_measures_match_reference(name):
    """p >= n takes the Gram-matrix path of the linear kernel."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((15, 40))
    y = x[:, :10] @ rng.standard_normal((10, 25)) + rng.standard_normal((15, 25))
    close(MEASURES[name](x, y), REFERENCES[name](x, y), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- large offsets


@pytest.mark.parametrize("name", ALL)
def test_large_offset_unchanged(name):
    f = MEASURES[name]
    x, y = pair(13)
    expected = f(x, y)
    close(f(x + 1e6, y + 1e6), expected, rtol=1e-8, atol=1e-8)
    close(f(x - 1e6, y), expected, rtol=1e-8, atol=1e-8)


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("low", [np.float32, np.float16])
def test_low_precision_inputs_computed_in_float64(name, low):
    f = MEASURES[name]
    x, y = pair(14)
    x_low, y_low = x.astype(low), y.astype(low)
    close(f(x_low, y_low), f(x_low.astype(np.float64), y_low.astype(np.float64)),
          rtol=1e-12, atol=1e-12)
    close(f(x_low, y), f(x_low.astype(np.float64), y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_float32_working_precision(name):
    f = MEASURES[name]
    x, y = pair(15)
    fast, exact = f(x, y, dtype="float32"), f(x, y)
    close(fast, exact, rtol=1e-4, atol=1e-4)
    fast_np = f(x, y, dtype=np.float32)  # the numpy dtype object is accepted too
    close(fast_np, fast, rtol=0, atol=1e-6)
    if name in REGISTERED:  # rl.measure normalised np.float32; the pair function takes it as given
        close(pair_function(name)(x, y, dtype=np.float32), fast, rtol=0, atol=1e-6)
    if isinstance(fast, np.ndarray):
        assert fast.dtype == np.float64
    else:
        assert type(fast) is float


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_integer_inputs_accepted(name, int_dtype):
    f = MEASURES[name]
    rng = np.random.default_rng(16)
    x = rng.integers(0, 50, size=(80, 5)).astype(int_dtype)
    y = (x[:, :3].astype(np.int64) @ rng.integers(-2, 3, size=(3, 4)) + rng.integers(0, 9, size=(80, 4)))
    y = np.abs(y).astype(int_dtype)
    close(f(x, y), f(x.astype(np.float64), y.astype(np.float64)), rtol=1e-12, atol=1e-12)


def test_results_are_numpy_float64_and_python_float():
    x, y = pair(17)
    r = rl.cca(x, y)
    assert type(r.rho) is np.ndarray and r.rho.dtype == np.float64
    assert type(r.mean_rho) is float and type(r.r2) is float
    assert type(r.rank) is tuple and all(type(k) is int for k in r.rank)
    s = rl.svcca(x, y)
    assert type(s.rho) is np.ndarray and s.rho.dtype == np.float64
    assert type(s.kept) is tuple and all(type(k) is int for k in s.kept)
    for value in (rl.pwcca(x, y), rl.linear_regression_r2(x, y), rl.cka(x, y), rl.hsic(x, y),
                  rl.cka(x, y, kernel="rbf"), rl.hsic(x, y, debiased=True)):
        assert type(value) is float


# ----------------------------------------------------------------------------- PWCCA after SVD truncation


def _pwcca_truncated_by_hand(x, y, threshold):
    """Morcos et al.'s PWCCA "with thresholding": SVD-truncate both, then weights from X's neurons."""
    xc, yc = x - x.mean(0), y - y.mean(0)

    def kept(centred):
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        k = int(np.argmax(np.cumsum(s**2) / np.sum(s**2) >= threshold)) + 1
        return u[:, :k]

    qx, qy = kept(xc), kept(yc)
    a, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    alpha = np.abs((qx @ a).T @ xc).sum(axis=1)
    return float(np.sum(alpha * rho) / np.sum(alpha))


@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.99])
def test_pwcca_threshold_truncates_then_weights_by_the_original_neurons(threshold):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 12)) @ np.diag(np.linspace(3, 0.1, 12))
    y = x @ rng.standard_normal((12, 9)) + 0.5 * rng.standard_normal((400, 9))
    expected = _pwcca_truncated_by_hand(x, y, threshold)
    assert rl.pwcca(x, y, threshold=threshold) == pytest.approx(expected, abs=1e-12)
    configured = rl.measure("pwcca", threshold=threshold)
    assert configured.label == f"pwcca(threshold={threshold})"
    assert configured(x, y) == pytest.approx(expected, abs=1e-12)
    for budget in (rl.compare.__kwdefaults__["memory_budget"], 8 * 1024):  # whole layers, row blocks
        m = rl.compare({"x": x}, {"y": y}, measures=configured, memory_budget=budget, progress=False)
        assert m.values[0, 0, 0] == pytest.approx(expected, abs=1e-12)
    assert rl.pwcca(x, y, threshold=threshold) != pytest.approx(rl.pwcca(x, y), abs=1e-6)


def test_pwcca_threshold_is_checked():
    x = np.random.default_rng(0).standard_normal((50, 4))
    with pytest.raises(rl.UnknownOptionError, match="threshold"):
        rl.pwcca(x, x, threshold=1.5)
    with pytest.raises(rl.UnknownOptionError, match="threshold"):
        rl.measure("pwcca", threshold=0)
