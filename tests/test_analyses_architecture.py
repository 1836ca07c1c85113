"""Issue 14's analyses on inputs whose answer is known: similarity matrices with planted
blocks and planted argmax maps, probes on linearly separable vs random features, and exactly
translation-invariant orbits (SVCCA Theorem 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import replens as rl
from replens.errors import (
    NonFiniteError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UnknownOptionError,
)
from replens.results.matrix import SimilarityMatrix

torch.set_num_threads(1)


def _sim(values, measures=("linear_cka", "cca_mean_rho"), names_b=None):
    values = np.asarray(values, dtype=float)
    stacked = np.stack([values, values[:, ::-1]])[: len(measures)]
    names_a = tuple(f"a{i}" for i in range(values.shape[0]))
    names_b = names_b or tuple(f"b{j}" for j in range(values.shape[1]))
    return SimilarityMatrix(values=stacked, layers_a=names_a, layers_b=names_b, measures=tuple(measures))


# ---- linear_probe -------------------------------------------------------------------------------

def _separable(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    return centres[y] + rng.standard_normal((n, 4)) * 0.3, y


def test_probe_reads_separable_features_and_not_random_ones():
    x_tr, y_tr = _separable(300, 0)
    x_te, y_te = _separable(600, 1)
    rng = np.random.default_rng(2)
    acc = rl.analyses.linear_probe({"signal": x_tr, "noise": rng.standard_normal((300, 4))}, y_tr,
                                   {"signal": x_te, "noise": rng.standard_normal((600, 4))}, y_te)
    assert list(acc) == ["signal", "noise"]
    assert acc["signal"] == 1.0
    assert abs(acc["noise"] - 1 / 3) < 0.08                        # chance for 3 classes


def test_probe_pooling_mean_loses_a_spatial_pattern_that_flatten_keeps():
    pattern = np.array([[1.0, -1.0], [-1.0, 1.0]])                # zero spatial mean

    def maps(n, seed):
        r = np.random.default_rng(seed)
        y = r.integers(0, 2, n)
        x = (2 * y - 1)[:, None, None, None] * pattern[None, None] + r.standard_normal((n, 2, 2, 2)) * 0.2
        return x, y
    (x_tr, y_tr), (x_te, y_te) = maps(300, 1), maps(400, 2)
    flat = rl.analyses.linear_probe([("conv", x_tr)], y_tr, [("conv", x_te)], y_te, pool="flatten")
    mean = rl.analyses.linear_probe([("conv", x_tr)], y_tr, [("conv", x_te)], y_te, pool="mean")
    assert flat["conv"] == 1.0
    assert mean["conv"] < 0.65
    nhwc = rl.analyses.linear_probe({"c": np.moveaxis(x_tr, 1, 3)}, y_tr, {"c": np.moveaxis(x_te, 1, 3)},
                                    y_te, pool="flatten", layout="NHWC")
    assert nhwc["c"] == 1.0


def test_probe_standardises_on_train_only():
    """A test set shifted along the separating direction is misread: the scaler comes from train."""
    x_tr, y_tr = _separable(300, 0)
    x_te, y_te = _separable(300, 1)
    shifted = x_te + np.array([8.0, 0, 0, 0])
    acc = rl.analyses.linear_probe({"h": x_tr}, y_tr, {"h": shifted}, y_te)
    assert acc["h"] < 0.5                                          # (standardising on test would give 1.0)
    torch_acc = rl.analyses.linear_probe({"h": torch.from_numpy(x_tr)}, torch.from_numpy(y_tr),
                                         {"h": torch.from_numpy(x_te)}, torch.from_numpy(y_te))
    assert torch_acc["h"] == 1.0


def test_probe_constant_features_and_strong_regularisation():
    x_tr, y_tr = _separable(200, 0)
    x_te, y_te = _separable(200, 1)
    with_constant = np.hstack([x_tr, np.ones((200, 1))])
    test = {"h": np.hstack([x_te, np.ones((200, 1))])}
    assert rl.analyses.linear_probe({"h": with_constant}, y_tr, test, y_te)["h"] == 1.0
    # C -> 0 shrinks the weights to 0: only the (unpenalised) intercept is left, one class wins
    tiny = rl.analyses.linear_probe({"h": with_constant}, y_tr, test, y_te, C=1e-8)["h"]
    assert tiny == pytest.approx(max(np.mean(y_te == k) for k in range(3)), abs=0.02)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"pool": "max"}, UnknownOptionError, "pool must be one of 'mean', 'flatten'"),
    ({"layout": "CHWN"}, UnknownOptionError, "layout must be one of"),
    ({"C": 0}, UnknownOptionError, "C must be a finite number > 0"),
    ({"max_iter": 0}, UnknownOptionError, "max_iter must be a positive integer"),
])
def test_probe_rejects_bad_options(kwargs, error, match):
    x, y = _separable(50, 0)
    with pytest.raises(error, match=match):
        rl.analyses.linear_probe({"h": x}, y, {"h": x}, y, **kwargs)


def test_probe_rejects_bad_layers_and_labels():
    x, y = _separable(50, 0)
    with pytest.raises(ShapeError, match="same layers in the same order"):
        rl.analyses.linear_probe({"h": x}, y, {"g": x}, y)
    with pytest.raises(ShapeError, match="must be 2-D .* or 4-D"):
        rl.analyses.linear_probe({"h": x[:, :, None]}, y, {"h": x[:, :, None]}, y)
    with pytest.raises(ShapeError, match="has 49 rows but y_train has 50 labels"):
        rl.analyses.linear_probe({"h": x[:49]}, y, {"h": x}, y)
    with pytest.raises(ShapeError, match="4 features on train but 3 on test"):
        rl.analyses.linear_probe({"h": x}, y, {"h": x[:, :3]}, y)
    with pytest.raises(ShapeError, match="y_test must be 1-D"):
        rl.analyses.linear_probe({"h": x}, y, {"h": x}, y[:, None])
    with pytest.raises(TooFewExamplesError, match="at least two classes"):
        rl.analyses.linear_probe({"h": x}, np.zeros(50), {"h": x}, y)
    with pytest.raises(ShapeError, match="non-empty mapping"):
        rl.analyses.linear_probe({}, y, {}, y)
    with pytest.raises(ShapeError, match="duplicate layer names"):
        rl.analyses.linear_probe([("h", x), ("h", x)], y, [("h", x), ("h", x)], y)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="non-finite"):
        rl.analyses.linear_probe({"h": bad}, y, {"h": x}, y)


# ---- layer_correspondence -----------------------------------------------------------------------

def test_correspondence_finds_a_planted_inserted_layer_map():
    """Layer i of a 3-layer net planted as most similar to layer 2i of a 6-layer net."""
    s = np.full((3, 6), 0.1)
    for i in range(3):
        s[i, 2 * i] = 0.9
        s[i, 2 * i + 1] = 0.5
    c = rl.analyses.layer_correspondence(_sim(s))
    assert c.argmax_index.tolist() == [0, 2, 4]
    assert c.argmax == ("b0", "b2", "b4")
    assert c.monotonicity == pytest.approx(1.0) and c.is_monotone
    assert c.identity_accuracy is None and not c.is_identity
    assert np.allclose(c.best, 0.9) and c.measure == "linear_cka"
    flipped = rl.analyses.layer_correspondence(_sim(s), measure="cca_mean_rho")   # columns reversed
    assert flipped.argmax_index.tolist() == [5, 3, 1]
    assert flipped.monotonicity == pytest.approx(-1.0) and not flipped.is_monotone


def test_correspondence_identity_check_on_square_matrices():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 0.5, (5, 5)) + np.eye(5)
    c = rl.analyses.layer_correspondence(s)
    assert c.identity_accuracy == 1.0 and c.is_identity and c.measure == ""
    s[3, 1] = 2.0                                                  # one layer maps wrongly
    wrong = rl.analyses.layer_correspondence(s)
    assert wrong.identity_accuracy == pytest.approx(0.8)
    assert wrong.argmax_index.tolist() == [0, 1, 2, 1, 4]
    assert np.isnan(rl.analyses.layer_correspondence(np.ones((3, 3))).monotonicity)   # constant argmax


def test_correspondence_rejects_bad_matrices():
    with pytest.raises(ShapeError, match="2-D array"):
        rl.analyses.layer_correspondence(np.ones(3))
    with pytest.raises(ShapeError, match="holds no layers"):
        rl.analyses.layer_correspondence(np.ones((0, 3)))
    with pytest.raises(NonFiniteError, match="non-finite similarity at \\(layer '1', layer '0'\\)"):
        rl.analyses.layer_correspondence(np.array([[1.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(UnknownOptionError, match="measure 'pwcca' is not in this matrix"):
        rl.analyses.layer_correspondence(_sim(np.eye(2)), measure="pwcca")
    with pytest.raises(ReplensError, match="SimilarityMatrix .* or a 2-D array"):
        rl.analyses.layer_correspondence({"a": 1})


# ---- fraction_similar_to_last -------------------------------------------------------------------

def test_fraction_similar_to_last_counts_the_planted_tail():
    """8 layers; the last 5 planted >= 0.8 similar to the last one (the last counts itself)."""
    last = np.array([0.2, 0.4, 0.79, 0.8, 0.85, 0.9, 0.95, 1.0])
    s = np.eye(8)
    s[:, -1] = last
    s[-1, :] = last
    assert rl.analyses.fraction_similar_to_last(s) == pytest.approx(5 / 8)
    assert rl.analyses.fraction_similar_to_last(s, tau=0.9) == pytest.approx(3 / 8)
    assert rl.analyses.fraction_similar_to_last(_sim(s), measure="linear_cka", tau=0.5) == pytest.approx(6 / 8)


def test_fraction_similar_to_last_rejects_bad_input():
    with pytest.raises(ShapeError, match="square matrix"):
        rl.analyses.fraction_similar_to_last(np.ones((3, 4)))
    with pytest.raises(ShapeError, match="square matrix"):
        rl.analyses.fraction_similar_to_last(_sim(np.ones((2, 3))))
    with pytest.raises(UnknownOptionError, match="tau must be a number in \\(0, 1\\]"):
        rl.analyses.fraction_similar_to_last(np.eye(3), tau=1.5)


# ---- block_contrast -----------------------------------------------------------------------------

def test_block_contrast_on_planted_blocks():
    """Three stages of sizes 2, 3, 1: 0.9 inside a stage, 0.2 across, 1 on the diagonal."""
    labels = ["s1", "s1", "s2", "s2", "s2", "s3"]
    same = np.array([[a == b for b in labels] for a in labels])
    s = np.where(same, 0.9, 0.2)
    np.fill_diagonal(s, 1.0)
    b = rl.analyses.block_contrast(s, labels)
    assert b.within == pytest.approx(0.9) and b.between == pytest.approx(0.2)
    assert b.contrast == pytest.approx(0.7)
    assert b.n_within == 2 + 6 and b.n_between == 36 - 6 - 8
    assert b.within_by_group["s1"] == pytest.approx(0.9) and np.isnan(b.within_by_group["s3"])


def test_block_contrast_with_a_mapping_separates_post_residual_from_interior():
    """Post-residual layers alike (0.8), interiors unlike anything (0.1); one layer unassigned."""
    names = ["stem", "b1.inner", "b1", "b2.inner", "b2", "b3.inner", "b3"]
    post = [n for n in names if n in ("b1", "b2", "b3")]
    inner = [n for n in names if n.endswith("inner")]
    s = np.full((7, 7), 0.1)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if a in post and b in post:
                s[i, j] = 0.8
            if a == "stem" or b == "stem":
                s[i, j] = 5.0                                   # left out: must not leak in
    np.fill_diagonal(s, 1.0)
    sm = SimilarityMatrix(values=s[None], layers_a=tuple(names), layers_b=tuple(names), measures=("linear_cka",))
    b = rl.analyses.block_contrast(sm, {"post": post, "interior": inner})
    assert b.within_by_group == {"post": pytest.approx(0.8), "interior": pytest.approx(0.1)}
    assert b.between == pytest.approx(0.1)
    assert b.within == pytest.approx(0.45)


def test_block_contrast_rejects_bad_groups():
    s = np.eye(4)
    with pytest.raises(ShapeError, match="one label per layer: 4 layers, got 3"):
        rl.analyses.block_contrast(s, ["a", "a", "b"])
    with pytest.raises(ShapeError, match="square matrix"):
        rl.analyses.block_contrast(np.ones((2, 3)), ["a", "b"])
    with pytest.raises(ReplensError, match="at least two layers in one group"):
        rl.analyses.block_contrast(s, ["a", "b", "c", "d"])
    with pytest.raises(ReplensError, match="at least two layers in one group"):
        rl.analyses.block_contrast(s, ["a"] * 4)
    with pytest.raises(ReplensError, match="names layer 'zz', which is not in the matrix"):
        rl.analyses.block_contrast(s, {"g": ["0", "zz"]})
    with pytest.raises(ReplensError, match="layer '1' is in two groups"):
        rl.analyses.block_contrast(s, {"g": ["0", "1"], "h": ["1", "2"]})
    with pytest.raises(ReplensError, match="sequence of one label per layer or a mapping"):
        rl.analyses.block_contrast(s, "aabb")


# ---- translation_orbit and dft_offblock_fraction ------------------------------------------------

def test_translation_orbit_holds_every_circular_shift_in_order():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 3, 4, 5))
    orbit = rl.analyses.translation_orbit(images)
    assert orbit.shape == (2 * 20, 3, 4, 5)
    assert np.array_equal(orbit[1 * 20 + 2 * 5 + 3], np.roll(images[1], (2, 3), axis=(1, 2)))
    assert np.array_equal(orbit[0], images[0])
    # closed under shifts: shifting the whole orbit permutes its members
    key = {o.tobytes() for o in orbit}
    assert {np.roll(o, (1, 4), axis=(1, 2)).tobytes() for o in orbit} == key
    nhwc = rl.analyses.translation_orbit(np.moveaxis(images, 1, 3), layout="NHWC")
    assert np.array_equal(nhwc, np.moveaxis(orbit, 1, 3))
    gray = rl.analyses.translation_orbit(images[:, 0])
    assert np.array_equal(gray, orbit[:, 0])
    with pytest.raises(ShapeError, match="images must be"):
        rl.analyses.translation_orbit(images[0, 0])
    with pytest.raises(UnknownOptionError, match="layout must be one of"):
        rl.analyses.translation_orbit(images, layout="HWC")


def _offblock_reference(acts):
    """Brute force: full (hwc x hwc) covariance of the DFT coefficients, frequencies outer."""
    x = np.moveaxis(acts, 1, 3)
    n, h, w, c = x.shape
    f = np.fft.fft2(x, axes=(1, 2)).reshape(n, h * w * c)
    f = f - f.mean(axis=0)
    sigma = f.T @ f.conj() / n
    energy = np.abs(sigma) ** 2
    freq = np.repeat(np.arange(h * w), c)
    return energy[freq[:, None] != freq[None, :]].sum() / energy.sum()


def test_offblock_fraction_is_zero_on_an_orbit_and_large_without_one():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 2, 4, 4))
    orbit = rl.analyses.translation_orbit(images)                 # 64 examples, 32 units: full path
    assert rl.analyses.dft_offblock_fraction(orbit) < 1e-25
    few = rl.analyses.translation_orbit(images[:1])               # 16 examples < 32 units: Gram path
    assert rl.analyses.dft_offblock_fraction(few) < 1e-12
    plain = rng.standard_normal((64, 2, 4, 4)) @ rng.standard_normal((4, 4))   # mixes columns: no invariance
    fraction = rl.analyses.dft_offblock_fraction(plain)
    assert fraction == pytest.approx(_offblock_reference(plain), rel=1e-10)
    assert fraction > 0.3
    small = plain[:10]
    assert rl.analyses.dft_offblock_fraction(small) == pytest.approx(_offblock_reference(small), rel=1e-8)
    nhwc = rl.analyses.dft_offblock_fraction(np.moveaxis(plain, 1, 3), layout="NHWC")
    assert nhwc == pytest.approx(fraction, rel=1e-12)


def test_offblock_fraction_circular_conv_keeps_theorem_1_and_zero_padding_breaks_it():
    torch.manual_seed(0)
    orbit = torch.from_numpy(rl.analyses.translation_orbit(np.random.default_rng(1).standard_normal((6, 1, 6, 6))))
    circular = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular"), torch.nn.ReLU(),
                                   torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode="circular")).double()
    zero = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(3, 3, 3, padding=1)).double()
    with torch.no_grad():
        assert rl.analyses.dft_offblock_fraction(circular(orbit)) < 1e-20
        assert rl.analyses.dft_offblock_fraction(zero(orbit)) > 1e-4


def test_offblock_fraction_rejects_bad_input():
    with pytest.raises(ShapeError, match="acts must be 4-D"):
        rl.analyses.dft_offblock_fraction(np.ones((3, 4, 4)))
    with pytest.raises(TooFewExamplesError, match="at least 2 examples"):
        rl.analyses.dft_offblock_fraction(np.ones((1, 2, 3, 3)))
    with pytest.raises(NonFiniteError, match="zero covariance"):
        rl.analyses.dft_offblock_fraction(np.ones((5, 2, 3, 3)))
    bad = np.zeros((5, 2, 3, 3))
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="non-finite"):
        rl.analyses.dft_offblock_fraction(bad)
    with pytest.raises(UnknownOptionError, match="layout must be one of"):
        rl.analyses.dft_offblock_fraction(np.ones((5, 2, 3, 3)), layout="nchw")
    with pytest.raises(UnknownOptionError, match="basis must be one of 'dft', 'pixel'"):
        rl.analyses.dft_offblock_fraction(np.ones((5, 2, 3, 3)), basis="fourier")


def test_pixel_basis_is_dense_on_an_orbit_where_the_dft_basis_is_block_diagonal():
    """Fig. App.2 (c) vs (d): translation-augmented data, pixel basis dense, DFT exactly diagonal."""
    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.standard_normal((5, 2, 6, 6)), axis=2)     # spatially correlated images
    orbit = rl.analyses.translation_orbit(smooth)
    assert rl.analyses.dft_offblock_fraction(orbit, basis="pixel") > 0.5
    assert rl.analyses.dft_offblock_fraction(orbit, basis="dft") < 1e-25
    # pixel basis of data uncorrelated across locations: block diagonal there instead
    white = rng.standard_normal((400, 2, 3, 3))
    assert rl.analyses.dft_offblock_fraction(white, basis="pixel") < 0.1


def test_probe_plateau_finds_the_first_layer_near_the_best():
    assert rl.analyses.probe_plateau([0.5, 0.8, 0.895, 0.9, 0.88]) == 2
    assert rl.analyses.probe_plateau({"a": 0.5, "b": 0.8, "c": 0.9}, tol=0.0) == 2
    assert rl.analyses.probe_plateau([0.9, 0.5]) == 0
    assert rl.analyses.probe_plateau([0.1, 0.5, 0.6], tol=0.2) == 1
    with pytest.raises(ShapeError, match="non-empty sequence"):
        rl.analyses.probe_plateau([])
    with pytest.raises(UnknownOptionError, match="tol must be a number >= 0"):
        rl.analyses.probe_plateau([0.5], tol=-1)
