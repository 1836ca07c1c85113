"""No silent wrong number at any scale (issue 10, item 6).

Inputs scaled by 10^k for any k in [-300, 300] give the unscaled value to 1e-10, through the
pair functions of every registered measure, compare (feature and Gram paths), streaming and
Fourier CCA; linear HSIC, which scales with c^2 per input, gives the exactly scaled value or a
NumericalRangeError when that value leaves float64's range, never 0.0, inf or NaN. Integers
beyond 2^53 are refused; extreme RBF bandwidths give the exact limit; a NaN never becomes a
number.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import replens as rl
from replens._validate import finite_result, rescaled, scaled_result, unit_bounded
from replens.measures.cca import weighted_correlation
from replens.measures.cka import cka_from_hsic

from _measures import INFO, NAMES

SCALES = [-300, -200, -150, -100, -30, 30, 100, 150, 200, 300]
# Measures whose value scales with c_x^2 c_y^2 (unnormalised linear HSIC); every other
# registered measure is invariant to isotropic scaling of each input.
SCALES_WITH_C_SQUARED = ("linear_hsic",)
SCALE_FREE = [name for name in NAMES if name not in SCALES_WITH_C_SQUARED]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        yield


def layers(seed: int = 0, n: int = 40, p: int = 5, q: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) + rng.normal(size=p)
    y = np.tanh(x[:, :3] @ rng.standard_normal((3, q))) + 0.5 * rng.standard_normal((n, q)) - 1.0
    return x, y


def expected_hsic_or_none(value: float, log10_factor: float) -> float | None:
    """The exactly scaled HSIC, or None where it is outside float64's normal range."""
    magnitude = math.log10(abs(value)) + log10_factor
    if not -307.0 < magnitude < 308.0:
        return None
    return value * 10.0 ** (log10_factor / 2) * 10.0 ** (log10_factor / 2)


def test_every_registered_measure_is_covered():
    assert set(SCALE_FREE) | set(SCALES_WITH_C_SQUARED) == set(INFO)
    for name in SCALE_FREE:
        assert "isotropic_scaling" in INFO[name].invariances, name


@pytest.mark.parametrize("name", SCALE_FREE)
@pytest.mark.parametrize("k", SCALES)
def test_pair_functions_are_unchanged_by_any_scale(name, k):
    x, y = layers()
    m = rl.measure(name)
    base = m(x, y)
    for scaled in ((x * 10.0**k, y * 10.0**k), (x * 10.0**k, y), (x, y * 10.0**-k)):
        value = m(*scaled)
        assert math.isfinite(value)
        assert abs(value - base) <= 1e-10, (name, k, value, base)


@given(kx=st.integers(-300, 300), ky=st.integers(-300, 300), seed=st.integers(0, 50))
@settings(max_examples=25, deadline=None)
def test_pair_functions_at_random_scales(kx, ky, seed):
    x, y = layers(seed)
    for name in SCALE_FREE:
        m = rl.measure(name)
        assert abs(m(x * 10.0**kx, y * 10.0**ky) - m(x, y)) <= 1e-10, name


@pytest.mark.parametrize("kx,ky", [(k, k) for k in SCALES] + [(150, -150), (300, -300), (-200, 60), (80, 70)])
def test_linear_hsic_gives_the_exactly_scaled_value_or_a_clear_error(kx, ky):
    x, y = layers()
    base = rl.hsic(x, y)
    expected = expected_hsic_or_none(base, 2 * kx + 2 * ky)
    for f in (rl.hsic, rl.measure("linear_hsic")):
        if expected is None:
            with pytest.raises(rl.NumericalRangeError, match=r"linear_hsic|HSIC is about 2\*\*-?\d+"):
                f(x * 10.0**kx, y * 10.0**ky)
        else:
            value = f(x * 10.0**kx, y * 10.0**ky)
            assert value == pytest.approx(expected, rel=1e-10)


def test_linear_hsic_overflow_message_names_the_fix():
    x, y = layers()
    with pytest.raises(rl.NumericalRangeError, match=r"beyond float64's largest number.*Rescale the inputs"):
        rl.hsic(x * 1e200, y * 1e200)
    with pytest.raises(rl.NumericalRangeError, match=r"below float64's smallest normal number"):
        rl.hsic(x * 1e-200, y * 1e-200)
    with pytest.raises(rl.NumericalRangeError, match="HSIC"):
        rl.hsic(x * 1e-200, y * 1e-200, debiased=True)


def _net(seed: int, n: int, widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, out = rng.standard_normal((n, widths[0])), {}
    for i, w in enumerate(widths):
        x = np.tanh(x @ rng.standard_normal((x.shape[1], w)) / 2) + 0.3 * rng.standard_normal((n, w))
        out[f"block{i}"] = x
    return out


@pytest.mark.parametrize("shape", [(60, (5, 7)), (30, (40, 50))], ids=["feature_space", "gram_space"])
@pytest.mark.parametrize("k", [-300, -150, 150, 300])
def test_compare_is_unchanged_by_any_scale(shape, k):
    n, widths = shape
    a, b = _net(1, n, widths), _net(2, n, widths)
    base = rl.compare(a, b, measures=SCALE_FREE)
    scaled = rl.compare({name: layer * 10.0**k for name, layer in a.items()},
                        {name: layer * 10.0**-k for name, layer in b.items()}, measures=SCALE_FREE)
    np.testing.assert_allclose(scaled.values, base.values, rtol=0, atol=1e-10)
    itself = rl.compare({name: layer * 10.0**k for name, layer in a.items()}, measures=SCALE_FREE)
    np.testing.assert_allclose(itself.values, rl.compare(a, measures=SCALE_FREE).values, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(60, (5, 7)), (30, (40, 50))], ids=["feature_space", "gram_space"])
@pytest.mark.parametrize("kx,ky", [(40, 30), (-40, -30), (100, 100), (-100, -100)])
def test_compare_linear_hsic_is_exactly_scaled_or_refused(shape, kx, ky):
    n, widths = shape
    a, b = _net(1, n, widths), _net(2, n, widths)
    base = rl.compare(a, b, measures="linear_hsic").values
    a_scaled = {name: layer * 10.0**kx for name, layer in a.items()}
    b_scaled = {name: layer * 10.0**ky for name, layer in b.items()}
    expected = [expected_hsic_or_none(v, 2 * kx + 2 * ky) for v in base.ravel()]
    if any(e is None for e in expected):
        with pytest.raises(rl.NumericalRangeError, match="linear_hsic"):
            rl.compare(a_scaled, b_scaled, measures="linear_hsic")
        return
    values = rl.compare(a_scaled, b_scaled, measures="linear_hsic").values
    np.testing.assert_allclose(values.ravel(), expected, rtol=1e-10)


@pytest.mark.parametrize("k", [-300, -150, 150, 300])
def test_streaming_estimators_are_unchanged_by_any_scale(k):
    x, y = layers(3, n=60)
    c = 10.0**k
    for make, reference in ((lambda: rl.streaming.LinearCKA(), rl.cka(x, y)),
                            (lambda: rl.streaming.LinearCKA(debiased=True), rl.cka(x, y, debiased=True))):
        est = make()
        for start in range(0, 60, 16):
            est.update(x[start:start + 16] * c, y[start:start + 16] / c)
        assert abs(est.compute() - reference) <= 1e-10
    est = rl.streaming.CCA()
    for start in range(0, 60, 16):
        est.update(x[start:start + 16] * c, y[start:start + 16] * c)
    np.testing.assert_allclose(est.compute().rho, rl.cca(x, y).rho, atol=1e-10)
    assert abs(est.pwcca() - rl.pwcca(x, y)) <= 1e-10
    assert abs(est.svcca(keep=2).mean_rho - rl.svcca(x, y, keep=2).mean_rho) <= 1e-10
    plain, scaled = rl.streaming.MinibatchCKA(), rl.streaming.MinibatchCKA()
    for start in range(0, 60, 15):
        plain.update(x[start:start + 15], y[start:start + 15])
        scaled.update(x[start:start + 15] * c, y[start:start + 15] * c)
    assert abs(scaled.compute() - plain.compute()) <= 1e-10


def test_streaming_batches_of_very_different_scales_and_merges():
    """A later batch 1e250 times larger rebases the accumulators exactly; merging estimators
    whose units differ gives one pass over all the batches."""
    x, y = layers(4, n=64)
    scale = np.where(np.arange(64) < 32, 1e-150, 1e100)[:, None]
    reference = rl.cka(x * scale, y * scale)
    one = rl.streaming.LinearCKA()
    for start in range(0, 64, 16):
        one.update(x[start:start + 16] * scale[start:start + 16], y[start:start + 16] * scale[start:start + 16])
    assert abs(one.compute() - reference) <= 1e-10
    first, second = rl.streaming.LinearCKA(), rl.streaming.LinearCKA()
    first.update(x[:32] * 1e-150, y[:32] * 1e-150)
    second.update(x[32:] * 1e100, y[32:] * 1e100)
    assert abs(first.merge(second).compute() - reference) <= 1e-10
    low, high = rl.streaming.MinibatchCKA(), rl.streaming.MinibatchCKA()
    low.update(x[:32] * 1e-150, y[:32] * 1e-150)
    high.update(x[32:] * 1e100, y[32:] * 1e100)
    both = rl.streaming.MinibatchCKA()
    both.update(x[:32], y[:32])
    both.update(x[32:], y[32:])
    assert math.isfinite(low.merge(high).compute())


@pytest.mark.parametrize("k", [-300, -150, 150, 300])
def test_fourier_cca_is_unchanged_by_any_scale(k):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4, 4, 3))
    y = np.tanh(x) + 0.2 * rng.standard_normal((40, 4, 4, 3))
    base = rl.dft_cca(x, y)
    np.testing.assert_allclose(rl.dft_cca(x * 10.0**k, y * 10.0**-k).rho, base.rho, atol=1e-10)
    matrix = rl.compare({"x": x * 10.0**k}, {"y": y * 10.0**k}, measures=("cca_mean_rho", "cca_r2"),
                        conv="dft", layout="NHWC")
    np.testing.assert_allclose(matrix.values[:, 0, 0], [base.mean_rho, base.r2], atol=1e-10)


# ----------------------------------------------------------------------------- integers


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_integers_beyond_2_53_are_refused_everywhere(dtype):
    x, y = layers()
    big = (np.round(x * 1000) + 2**60).astype(dtype)
    message = r"integers of magnitude up to \d+, beyond 2\*\*53.*Subtract each column's minimum"
    for name in NAMES:
        with pytest.raises(rl.DtypeError, match=message):
            rl.measure(name)(big, y)
    with pytest.raises(rl.DtypeError, match=message):
        rl.compare({"x": big}, {"y": y})
    with pytest.raises(rl.DtypeError, match=message):
        rl.streaming.LinearCKA().update(big, y)
    with pytest.raises(rl.DtypeError, match=message):
        rl.dft_cca(big.reshape(40, 5, 1, 1), y.reshape(40, 4, 1, 1))


def test_integers_up_to_2_53_are_exact_and_the_suggested_fix_works():
    x, y = layers()
    ints = np.round(x * 1000).astype(np.int64)
    at_limit = ints + (2**53 - int(ints.max()))
    assert int(at_limit.max()) == 2**53
    for name in NAMES:
        m = rl.measure(name)
        assert abs(m(at_limit, y) - m(ints.astype(np.float64), y)) <= 1e-10, name
    big = ints + 2**60
    fixed = big - big.min(axis=0)
    assert abs(rl.cka(fixed, y) - rl.cka(ints.astype(np.float64), y)) <= 1e-12


# ----------------------------------------------------------------------------- RBF bandwidths


def _ref_cka(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - 1.0 / n
    kc, lc = h @ k @ h, h @ l @ h
    return float(np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc)))


def _squared_distances(a: np.ndarray) -> np.ndarray:
    ac = a - a.mean(axis=0)
    g = ac @ ac.T
    return np.maximum(np.diag(g)[:, None] + np.diag(g)[None, :] - 2 * g, 0)


@pytest.mark.parametrize("bandwidth", [1e-300, 1e-30, 1e-8])
def test_tiny_rbf_bandwidths_give_the_identity_kernel_limit(bandwidth):
    """sigma -> 0: K = I for distinct examples (never 0 / 0 on the diagonal), so CKA = 1, and
    HSIC = tr(H H) / (n - 1)^2 = 1 / (n - 1)."""
    x, y = layers()
    n = x.shape[0]
    assert rl.cka(x, y, kernel="rbf", bandwidth=bandwidth) == pytest.approx(1.0, abs=1e-12)
    assert rl.measure("rbf_cka", bandwidth=bandwidth)(x, y) == pytest.approx(1.0, abs=1e-12)
    assert rl.hsic(x, y, kernel="rbf", bandwidth=bandwidth) == pytest.approx(1.0 / (n - 1), rel=1e-12)
    assert rl.compare({"x": x}, {"y": y}, measures=rl.measure("rbf_cka", bandwidth=bandwidth)).values[0, 0, 0] \
        == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("bandwidth", [1e8, 1e30, 1e150, 1e300])
def test_huge_rbf_bandwidths_give_the_linear_limit(bandwidth):
    """sigma -> inf: K = 1 - d^2 / (2 sigma^2) + ..., whose centred form is Xc Xc^T / sigma^2:
    RBF CKA tends to linear CKA. exp() alone rounds K to all ones long before."""
    x, y = layers()
    assert rl.cka(x, y, kernel="rbf", bandwidth=bandwidth) == pytest.approx(rl.cka(x, y), abs=1e-10)
    assert rl.measure("rbf_cka", bandwidth=bandwidth)(x, y) == pytest.approx(rl.cka(x, y), abs=1e-10)
    assert rl.cka(x, y, kernel="rbf", bandwidth=bandwidth, debiased=True) == pytest.approx(
        rl.cka(x, y, debiased=True), abs=1e-10)
    matrix = rl.compare({"x": x}, {"y": y}, measures=rl.measure("rbf_cka", bandwidth=bandwidth))
    assert matrix.values[0, 0, 0] == pytest.approx(rl.cka(x, y), abs=1e-10)


def test_rbf_hsic_at_a_huge_bandwidth_is_exact_or_refused():
    x, y = layers()
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    dx, dy = _squared_distances(x), _squared_distances(y)
    bandwidth = 1e50
    kx = -dx / (2 * bandwidth**2 * np.median(dx))
    ky = -dy / (2 * bandwidth**2 * np.median(dy))
    expected = float(np.trace(kx @ h @ ky @ h) / (n - 1) ** 2)
    assert rl.hsic(x, y, kernel="rbf", bandwidth=bandwidth) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(rl.NumericalRangeError, match="below float64's smallest normal number"):
        rl.hsic(x, y, kernel="rbf", bandwidth=1e200)


def test_moderate_rbf_bandwidths_keep_their_values():
    x, y = layers()
    for bandwidth in (0.2, 1.0, 5.0):
        kx = np.exp(-_squared_distances(x) / (2 * bandwidth**2 * np.median(_squared_distances(x))))
        ky = np.exp(-_squared_distances(y) / (2 * bandwidth**2 * np.median(_squared_distances(y))))
        assert rl.cka(x, y, kernel="rbf", bandwidth=bandwidth) == pytest.approx(_ref_cka(kx, ky), abs=1e-12)


# ----------------------------------------------------------------------------- NaN


def test_a_nan_never_becomes_a_number():
    nan = float("nan")
    with pytest.raises(rl.NumericalRangeError, match="NaN or infinite"):
        unit_bounded(nan, 1e-8, "a fraction")
    with pytest.raises(rl.NumericalRangeError, match="NaN or infinite"):
        unit_bounded(np.array([0.5, nan]), 1e-8, "canonical correlation")
    with pytest.raises(rl.NumericalRangeError, match="came out nan"):
        cka_from_hsic(nan, 1.0, 1.0, False)
    with pytest.raises(rl.NumericalRangeError, match="came out nan"):
        cka_from_hsic(1.0, nan, 1.0, True)
    with pytest.raises(rl.NumericalRangeError, match="came out inf"):
        finite_result(math.inf, "PWCCA")
    with pytest.raises(rl.NumericalRangeError):
        weighted_correlation(np.array([1.0, nan]), np.ones((2, 3)), 1e-8)
    with pytest.raises(rl.NumericalRangeError):
        scaled_result(nan, 3.0, "HSIC")
    assert unit_bounded(1.0 + 1e-12, 1e-8, "x") == 1.0
    with pytest.raises(ArithmeticError, match="exceeds 1 by"):
        unit_bounded(1.1, 1e-8, "x")


def test_linear_regression_r2_refuses_a_nan_instead_of_reporting_one(monkeypatch):
    """The old ``min(1.0, nan)`` returned 1.0: a perfect fit made from a NaN."""
    from replens.measures import regression

    x, y = layers()
    monkeypatch.setattr(regression, "to_float", lambda value: float("nan"))
    with pytest.raises(rl.NumericalRangeError, match="linear_regression_r2 came out NaN"):
        rl.linear_regression_r2(x, y)


def test_rescaled_is_exact_and_leaves_ordinary_data_alone():
    from replens._validate import times_power_of_two

    x, _ = layers()
    same, exponent = rescaled(np, x)
    assert same is x and exponent == 0
    for k in (-300, -200, 120, 300):
        original = x * 10.0**k
        scaled, exponent = rescaled(np, original)
        assert exponent != 0 and 1.0 <= np.abs(scaled).max() < 2.0
        np.testing.assert_array_equal(times_power_of_two(scaled, exponent), original)


def test_long_double_inputs_beyond_float64_are_refused_with_the_fix():
    x, y = layers()
    huge = x.astype(np.longdouble) * np.longdouble("1e400")
    message = r"too large for float64 \(largest magnitude .*e\+400, dtype float128\); rescale"
    with pytest.raises(rl.NonFiniteError, match=message):
        rl.cka(huge, y)
    with pytest.raises(rl.NonFiniteError, match=message):
        rl.compare({"x": huge}, {"y": y})


def test_float32_working_precision_rescales_or_refuses_clearly():
    x, y = layers()
    for name in ("linear_cka", "cca_mean_rho", "pwcca", "rbf_cka"):
        m = rl.measure(name, dtype="float32")
        assert abs(m(x * 1e30, y * 1e-30) - m(x, y)) <= 1e-5, name  # float32 rounding, not scale
    with pytest.raises(rl.NonFiniteError, match=r"too large for float32 .*compute in float64 \(dtype=None\)"):
        rl.cka(x * 1e300, y, dtype="float32")
