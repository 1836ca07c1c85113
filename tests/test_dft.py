"""Fourier-domain CCA of conv layers (replens.measures.dft.dft_cca; SVCCA paper sec. 3.1, app. C).

Checked against: google/svcca's ``dft_ccas.fourier_ccas`` (tests/reference_data), Theorem 1
(brute-force CCA of the flattened layers on a translation-invariant dataset), the
average-pool CCA at the zero frequency, and a plain per-frequency loop written here from the
definition (full ``fft2``, google's frequency crop, SVD bases).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import replens as rl
from replens.measures.dft import DFTCCAResult, dft_cca

DATA = Path(__file__).parent / "reference_data"
CONV_CASES = ["c1_conv_n200_8x8_c16_c24", "c2_conv_resize_n100_8x8_c8_4x4_c12"]
EPS = np.finfo(np.float64).eps


def load(case: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{case}.npz") as data:
        return {key: data[key] for key in data.files}


# ------------------------------------------------------------------- an independent reference


def google_crop_indices(size: int, new: int) -> np.ndarray:
    """dft_ccas.fft_resize: indices whose fftfreq lies in [-new/2, new/2)."""
    freqs = np.fft.fftfreq(size, d=1.0 / size)
    return np.flatnonzero((freqs >= -new / 2.0) & (freqs < new / 2.0))


def loop_reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-frequency complex CCA, one frequency at a time, from the definition.

    Full fft2 of both layers, google's crop when the sizes differ, then at each location:
    centre, SVD bases (directions at most max(n, c) eps s_max dropped, s_max over the
    layer's frequencies), singular values of q_x^H q_y, zero-padded to min(c_x, c_y).
    """
    fx, fy = np.fft.fft2(x, axes=(1, 2)), np.fft.fft2(y, axes=(1, 2))
    if fx.shape[1:3] != fy.shape[1:3]:
        s = min(fx.shape[1], fy.shape[1])
        fx = fx[:, google_crop_indices(fx.shape[1], s)][:, :, google_crop_indices(fx.shape[2], s)]
        fy = fy[:, google_crop_indices(fy.shape[1], s)][:, :, google_crop_indices(fy.shape[2], s)]
    h, w = fx.shape[1:3]
    k = min(x.shape[3], y.shape[3])

    def centred(f: np.ndarray, i: int, j: int) -> np.ndarray:
        a = f[:, i, j, :]
        return a - a.mean(axis=0)

    def largest(f: np.ndarray) -> float:
        return max(np.linalg.svd(centred(f, i, j), compute_uv=False)[0]
                   for i in range(h) for j in range(w))

    def basis(a: np.ndarray, s_max: float) -> np.ndarray:
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        return u[:, s > max(a.shape) * EPS * s_max]

    sx, sy = largest(fx), largest(fy)
    out = np.zeros((h, w, k))
    for i in range(h):
        for j in range(w):
            qx, qy = basis(centred(fx, i, j), sx), basis(centred(fy, i, j), sy)
            rho = np.linalg.svd(qx.conj().T @ qy, compute_uv=False)[:k]
            out[i, j, : rho.shape[0]] = rho
    return out


# -------------------------------------------------------------- a translation-invariant dataset


def circular_conv(images: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(n, h, w, c_in) * (kh, kw, c_in, c_out) with circular boundary conditions."""
    out = np.zeros(images.shape[:3] + (filters.shape[3],))
    for dy in range(filters.shape[0]):
        for dx in range(filters.shape[1]):
            shifted = np.roll(images, shift=(-dy, -dx), axis=(1, 2))
            out += shifted @ filters[dy, dx]
    return out


def all_shifts(images: np.ndarray) -> np.ndarray:
    """Every circular (a, b) shift of every image: n = m * h * w."""
    m, h, w, c = images.shape
    shifted = [np.roll(images, shift=(a, b), axis=(1, 2)) for a in range(h) for b in range(w)]
    return np.concatenate(shifted, axis=0)


def translation_invariant_layers(seed: int, m: int, h: int, w: int, c_in: int, c_x: int, c_y: int):
    """Two circular conv layers with pointwise nonlinearities on a shift-closed dataset."""
    rng = np.random.default_rng(seed)
    images = all_shifts(rng.standard_normal((m, h, w, c_in)))
    layer_x = np.maximum(circular_conv(images, rng.standard_normal((3, 3, c_in, c_x))) + 0.3, 0)
    layer_y = np.tanh(circular_conv(layer_x, 0.5 * rng.standard_normal((3, 3, c_x, c_y))) + 0.1)
    return layer_x, layer_y


# ------------------------------------------------------------------------ 1. google reference


@pytest.mark.parametrize("case", CONV_CASES)
def test_matches_google_fourier_ccas(case):
    # google casts the float32 maps to complex64, so its FFT (numpy >= 2) runs in single
    # precision; its per-location CCA inverts epsilon-0 covariances. Measured effect on the
    # coefficients: up to about 2e-8 here (README point 5), hence 1e-6, not 1e-10.
    data = load(case)
    result = dft_cca(data["X"], data["Y"])
    assert isinstance(result, DFTCCAResult)
    expected = data["google_fourier__coef"]
    assert result.rho.shape == expected.shape == result.shape
    assert result.rho.dtype == np.float64
    np.testing.assert_allclose(result.rho, expected, rtol=0, atol=1e-6)
    assert result.mean_rho == pytest.approx(float(data["google_fourier__mean_all"]), abs=1e-6)
    assert float(result.rho[0, 0].mean()) == pytest.approx(
        float(data["google_fourier__dc_mean_all"]), abs=1e-6)
    assert float(result.rho.sum()) == pytest.approx(float(data["google_fourier__sum_total"]), abs=1e-4)
    np.testing.assert_allclose(result.rho.sum(axis=2), data["google_fourier__sum_loc"], atol=1e-5)


def test_resize_keeps_the_smaller_maps_frequencies():
    # 8x8 against 4x4: google keeps indices (0, 1, 6, 7) of the 8x8 spectrum, whose
    # frequencies (0, 1, -2, -1) are the 4x4 map's fftfreq order.
    np.testing.assert_array_equal(google_crop_indices(8, 4), [0, 1, 6, 7])
    data = load("c2_conv_resize_n100_8x8_c8_4x4_c12")
    result = dft_cca(data["X"], data["Y"])
    np.testing.assert_array_equal(result.frequencies[:, 0, 0], [0, 1, -2, -1])
    np.testing.assert_array_equal(result.frequencies[0, :, 1], [0, 1, -2, -1])
    np.testing.assert_array_equal(result.rank[..., 0], 8)
    np.testing.assert_array_equal(result.rank[..., 1], 12)


# ------------------------------------------------------------------------- 2. Theorem 1


@pytest.mark.parametrize("size", [(6, 6), (5, 4)])
def test_theorem1_equals_flattened_cca_on_translation_invariant_data(size):
    h, w = size
    c_x, c_y, m = 3, 4, 20  # per frequency: 7 channels against m = 20 distinct images
    layer_x, layer_y = translation_invariant_layers(0, m, h, w, c_in=3, c_x=c_x, c_y=c_y)
    n = layer_x.shape[0]
    assert n == m * h * w and n > h * w * (c_x + c_y)

    fourier = dft_cca(layer_x, layer_y).rho
    flat = rl.cca(layer_x.reshape(n, -1), layer_y.reshape(n, -1))
    assert flat.rank == (h * w * c_x, h * w * c_y)
    assert fourier.size == flat.rho.size == h * w * min(c_x, c_y)
    np.testing.assert_allclose(np.sort(fourier.ravel()), np.sort(flat.rho), rtol=0, atol=1e-8)
    assert 0.05 < float(fourier.min()) and float(fourier.max()) < 1 - 1e-3  # not trivial


def test_theorem1_needs_translation_invariance():
    # The same layers on a dataset that is not shift-closed: the identity fails, so the
    # test above is not passing by accident.
    layer_x, layer_y = translation_invariant_layers(0, 20, 6, 6, c_in=3, c_x=3, c_y=4)
    keep = np.random.default_rng(1).permutation(layer_x.shape[0])[:500]
    layer_x, layer_y = layer_x[keep], layer_y[keep]
    fourier = np.sort(dft_cca(layer_x, layer_y).rho.ravel())
    flat = np.sort(rl.cca(layer_x.reshape(500, -1), layer_y.reshape(500, -1)).rho)
    assert np.abs(fourier - flat).max() > 1e-3


# -------------------------------------------------------------- 3. zero frequency = mean pool


@pytest.mark.parametrize("case", CONV_CASES)
def test_zero_frequency_is_average_pool_cca(case):
    data = load(case)
    x, y = data["X"].astype(np.float64), data["Y"].astype(np.float64)
    result = dft_cca(x, y)
    assert tuple(result.frequencies[0, 0]) == (0, 0)
    pooled = rl.cca(x.mean(axis=(1, 2)), y.mean(axis=(1, 2))).rho
    np.testing.assert_allclose(result.rho[0, 0], pooled, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.rho[0, 0], data["google_avgpool_cca__coef"], atol=1e-7)


# ---------------------------------------------------------------- 4. layouts and backends


@pytest.mark.parametrize("case", CONV_CASES)
def test_nchw_layout_equals_nhwc(case):
    data = load(case)
    nhwc = dft_cca(data["X"], data["Y"])
    nchw = dft_cca(data["X"].transpose(0, 3, 1, 2), data["Y"].transpose(0, 3, 1, 2), layout="NCHW")
    np.testing.assert_allclose(nchw.rho, nhwc.rho, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(nchw.frequencies, nhwc.frequencies)


@pytest.mark.parametrize("case", CONV_CASES)
def test_torch_equals_numpy(case):
    data = load(case)
    expected = dft_cca(data["X"], data["Y"]).rho
    x, y = torch.from_numpy(data["X"]), torch.from_numpy(data["Y"])
    for got in (dft_cca(x, y), dft_cca(x, data["Y"]),
                dft_cca(x.permute(0, 3, 1, 2), y.permute(0, 3, 1, 2), layout="NCHW")):
        assert isinstance(got.rho, np.ndarray) and got.rho.dtype == np.float64
        np.testing.assert_allclose(got.rho, expected, rtol=0, atol=1e-10)


def test_float32_working_precision():
    data = load("c1_conv_n200_8x8_c16_c24")
    expected = dft_cca(data["X"], data["Y"]).rho
    for x, y in ((data["X"], data["Y"]), (torch.from_numpy(data["X"]), torch.from_numpy(data["Y"]))):
        got = dft_cca(x, y, dtype="float32")
        assert got.rho.dtype == np.float64
        np.testing.assert_allclose(got.rho, expected, rtol=0, atol=1e-5)


# ---------------------------------------------------- the batched code against a plain loop


def _gaussian(rng, n, h, w, c, *, cond=1.0):
    return rng.standard_normal((n, h, w, c)) * np.logspace(0, np.log10(cond), c)


def _cases():
    rng = np.random.default_rng(7)
    g = lambda *shape, **kw: _gaussian(rng, *shape, **kw)  # noqa: E731
    dup = g(50, 6, 6, 4)
    dup[..., 3] = 2 * dup[..., 0]
    zero = g(50, 6, 6, 5)
    zero[..., 4] = 0
    constant = g(50, 6, 6, 4)
    constant[..., 2] = 1.5
    return {
        "same_even": (g(50, 6, 6, 3), g(50, 6, 6, 4)),
        "same_nonsquare_odd": (g(50, 5, 7, 3), g(50, 5, 7, 2)),
        "resize_7_3": (g(40, 7, 7, 3), g(40, 3, 3, 5)),
        "resize_6_4": (g(40, 6, 6, 3), g(40, 4, 4, 5)),
        "resize_5_2": (g(40, 5, 5, 3), g(40, 2, 2, 2)),
        "resize_smaller_first": (g(40, 4, 4, 2), g(40, 8, 8, 3)),
        "one_position": (g(30, 1, 1, 3), g(30, 1, 1, 2)),
        "more_channels_than_examples": (g(6, 4, 4, 8), g(6, 4, 4, 5)),
        "two_pass_and_svd_paths": (g(60, 4, 4, 5, cond=1e4), g(60, 4, 4, 5, cond=1e7)),
        "rank_deficient": (dup, zero),
        "constant_channel": (constant, g(50, 6, 6, 4)),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_equals_per_frequency_loop(name):
    x, y = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        result = dft_cca(x, y)
    expected = loop_reference(x, y)
    assert result.rho.shape == expected.shape
    np.testing.assert_allclose(result.rho, expected, rtol=0, atol=1e-12)
    assert np.all(np.diff(result.rho, axis=2) <= 0)


def test_rank_deficient_frequencies_are_padded_with_zeros():
    x, y = CASES["rank_deficient"]  # x: a duplicated channel (rank 3); y: a zero channel (rank 4)
    result = dft_cca(x, y)
    np.testing.assert_array_equal(result.rank[..., 0], 3)
    np.testing.assert_array_equal(result.rank[..., 1], 4)
    assert result.rho.shape == (6, 6, 4)
    np.testing.assert_array_equal(result.rho[..., 3], 0.0)
    assert float(result.rho[..., 2].min()) > 0


def test_spatially_constant_map_has_only_the_zero_frequency():
    # Non-zero frequencies of a spatially constant map hold only FFT rounding residue; the
    # layer-wide rank tolerance gives them rank 0 (zeros), not spurious correlations.
    rng = np.random.default_rng(3)
    x = np.broadcast_to(rng.standard_normal((50, 1, 1, 3)), (50, 7, 7, 3)).copy()
    y = rng.standard_normal((50, 7, 7, 4)) + x[..., :1]
    result = dft_cca(x, y)
    assert result.rank[0, 0, 0] == 3
    nonzero = np.ones((7, 7), dtype=bool)
    nonzero[0, 0] = False
    np.testing.assert_array_equal(result.rank[nonzero, 0], 0)
    np.testing.assert_array_equal(result.rho[nonzero], 0.0)
    np.testing.assert_allclose(result.rho[0, 0], rl.cca(x.mean((1, 2)), y.mean((1, 2))).rho, atol=1e-12)


# -------------------------------------------------------------------------------- properties


def test_hermitian_symmetry_and_summaries():
    data = load("c1_conv_n200_8x8_c16_c24")
    result = dft_cca(data["X"], data["Y"])
    mirrored = result.rho[(-np.arange(8)) % 8][:, (-np.arange(8)) % 8]
    np.testing.assert_array_equal(result.rho, mirrored)  # rho(k) = rho(-k), computed once
    assert result.mean_rho == pytest.approx(float(result.rho.mean()), abs=1e-15)
    assert result.r2 == pytest.approx(float((result.rho**2).mean()), abs=1e-15)
    assert result.shape == (8, 8, 16)
    assert np.all((result.rho >= 0) & (result.rho <= 1))


def test_resize_symmetry_except_on_the_cropped_nyquist_line():
    data = load("c2_conv_resize_n100_8x8_c8_4x4_c12")
    rho = dft_cca(data["X"], data["Y"]).rho
    for i in (0, 1, 3):  # frequency -2 (index 2) has no kept partner in the 8x8 map
        for j in (0, 1, 3):
            np.testing.assert_array_equal(rho[i, j], rho[-i % 4, -j % 4])
    assert np.abs(rho[2, 1] - rho[2, 3]).max() > 1e-3


def test_symmetric_and_invariant_to_invertible_channel_maps():
    data = load("c2_conv_resize_n100_8x8_c8_4x4_c12")
    x, y = data["X"].astype(np.float64), data["Y"].astype(np.float64)
    base = dft_cca(x, y).rho
    np.testing.assert_allclose(dft_cca(y, x).rho, base, rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    mix_x, mix_y = rng.standard_normal((8, 8)), rng.standard_normal((12, 12))
    moved = dft_cca(3.0 * x @ mix_x + 5.0, y @ mix_y - 2.0).rho
    np.testing.assert_allclose(moved, base, rtol=0, atol=1e-9)


def test_uninformative_warning_when_channels_outnumber_examples():
    rng = np.random.default_rng(0)
    with pytest.warns(rl.UninformativeWarning, match="uninformative at some spatial frequencies"):
        result = dft_cca(rng.standard_normal((6, 4, 4, 4)), rng.standard_normal((6, 4, 4, 3)))
    assert result.rho.shape == (4, 4, 3)


# ---------------------------------------------------------------------------- 5. error paths


def good(n: int = 10, h: int = 4, w: int = 4, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, h, w, c))


def test_not_4d():
    with pytest.raises(rl.ShapeError, match=r"X must be 4-D conv activations \(n, h, w, c\).*got 3-D shape \(10, 4, 4\)"):
        dft_cca(good()[..., 0], good())
    with pytest.raises(rl.ShapeError, match=r"Y must be 4-D.*2-D shape \(10, 3\).*replens\.cca"):
        dft_cca(good(), good()[:, 0, 0, :])
    with pytest.raises(rl.ShapeError, match=r"\(n, c, h, w\) \(layout='NCHW'\)"):
        dft_cca(good()[0], good(), layout="NCHW")


def test_empty_axis():
    with pytest.raises(rl.ShapeError, match=r"X must have at least one position and one channel; got shape \(10, 4, 4, 0\)"):
        dft_cca(good(c=0), good())


def test_different_number_of_examples():
    with pytest.raises(rl.ShapeError, match=r"same number of examples.*X \(10, 4, 4, 3\) and Y \(9, 4, 4, 3\)"):
        dft_cca(good(), good(n=9))


def test_different_sizes_need_square_maps():
    with pytest.raises(rl.ShapeError, match=re.escape("different spatial sizes, 8x6 and 4x4") + r".*X is 8x6.*To fix"):
        dft_cca(good(h=8, w=6), good())
    with pytest.raises(rl.ShapeError, match=r"Y is 4x2"):
        dft_cca(good(h=8, w=8), good(h=4, w=2))
    # Equal non-square sizes are fine, as in google's fourier_ccas.
    assert dft_cca(good(n=40, h=5, w=3), good(n=40, h=5, w=3, seed=1)).rho.shape == (5, 3, 3)


def test_too_few_examples():
    with pytest.raises(rl.TooFewExamplesError, match=r"at least 2 examples.*got 1"):
        dft_cca(good(n=1), good(n=1))


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_non_finite(bad, kind):
    x = good()
    x[2, 1, 3, 0] = bad
    with pytest.raises(rl.NonFiniteError, match=rf"X contains {kind} values.*index \(2, 1, 3, 0\)"):
        dft_cca(x, good())
    y = good().transpose(0, 3, 1, 2).copy()
    y[4, 2, 0, 1] = bad  # reported in the caller's layout
    with pytest.raises(rl.NonFiniteError, match=rf"Y contains {kind} values.*index \(4, 2, 0, 1\)"):
        dft_cca(good().transpose(0, 3, 1, 2), y, layout="NCHW")


def test_unknown_layout_and_dtype():
    with pytest.raises(rl.UnknownOptionError, match=r"layout must be one of 'NHWC', 'NCHW'; got 'CHWN'"):
        dft_cca(good(), good(), layout="CHWN")
    with pytest.raises(rl.UnknownOptionError, match=r"dtype must be one of.*got 'float16'"):
        dft_cca(good(), good(), dtype="float16")


def test_complex_input():
    with pytest.raises(rl.DtypeError, match=r"X must hold real numbers.*complex128"):
        dft_cca(good().astype(np.complex128), good())


def test_constant_layer():
    with pytest.raises(rl.DegenerateInputError, match=r"every channel of Y is the same for every example"):
        dft_cca(good(), np.ones((10, 4, 4, 3)))


def test_mirror_frequencies_are_computed_once():
    from replens.measures.dft import frequency_plan

    # 8x8: 64 locations, of which (0,0), (0,4), (4,0), (4,4) are their own mirrors.
    plan = frequency_plan((8, 8), (8, 8))
    assert len(plan.rows_x) == (64 + 4) // 2 and plan.inverse.shape == (64,)
    # 8x8 against 4x4: 16 locations; only those without frequency -2 pair up.
    plan = frequency_plan((8, 8), (4, 4))
    np.testing.assert_array_equal(plan.freq_h, [0, 1, -2, -1])
    assert len(plan.rows_x) == len(plan.rows_y) == 16 - 4


@pytest.mark.parametrize("dtype, scales", [(None, (1e-200, 1e250)), ("float32", (1e-25, 1e25))])
def test_extreme_scales_are_exact(dtype, scales):
    # CCA is scale invariant; the Gram matrices would under/overflow without the exact
    # power-of-two rescaling.
    data = load("c2_conv_resize_n100_8x8_c8_4x4_c12")
    x, y = data["X"].astype(np.float64), data["Y"].astype(np.float64)
    expected = dft_cca(x, y, dtype=dtype).rho
    got = dft_cca(x * scales[0], y * scales[1], dtype=dtype).rho
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 if dtype is None else 1e-5)
