"""compare() and SimilarityMatrix: every entry equals the pair function; modes, I/O, plots."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import replens as rl

from _measures import INFO, NAMES

# compare's keyword options, and the options of the bare names they configure (compare's
# documented rule: rbf_bandwidth for "rbf_cka", svcca_threshold for "svcca_mean_rho" and
# "svcca_r2"). Every other registered measure takes its defaults.
COMPARE_OPTIONS = {"rbf_bandwidth": 0.5, "svcca_threshold": 0.95}
CONFIGURED_BY_COMPARE = {"rbf_cka": {"bandwidth": 0.5}, "svcca_mean_rho": {"threshold": 0.95},
                         "svcca_r2": {"threshold": 0.95}}
# Every registered measure, as the pair function compare's entries must equal.
PAIR_FUNCTIONS = {name: rl.measure(name, **CONFIGURED_BY_COMPARE.get(name, {})) for name in NAMES}
ALL_MEASURES = tuple(PAIR_FUNCTIONS)


def _network(seed: int, n: int = 240, widths=(12, 20, 16, 9)) -> list[tuple[str, np.ndarray]]:
    """Layers of a random ReLU network on shared inputs: related but not identical layers."""
    inputs = np.random.default_rng(0).standard_normal((n, 10))
    rng = np.random.default_rng(seed)
    layers, h = [], inputs
    for depth, width in enumerate(widths):
        h = np.maximum(h @ rng.standard_normal((h.shape[1], width)) + 0.1, 0)
        layers.append((f"block{depth}.relu", h))
    return layers


def _expected(layers_a, layers_b, measure):
    f = PAIR_FUNCTIONS[measure]
    return np.array([[f(a, b) for _, b in layers_b] for _, a in layers_a])


def _compare(*args, **kwargs):
    return rl.compare(*args, progress=False, **COMPARE_OPTIONS, **kwargs)


def test_every_entry_equals_the_pair_function_for_two_networks():
    a, b = _network(1), _network(2, widths=(8, 14, 11))
    m = _compare(a, b, measures=ALL_MEASURES)
    assert m.values.shape == (len(ALL_MEASURES), 4, 3)
    assert m.values.dtype == np.float64
    assert m.measures == tuple(PAIR_FUNCTIONS[name].label for name in ALL_MEASURES)
    for measure in ALL_MEASURES:
        np.testing.assert_allclose(m[measure], _expected(a, b, measure), rtol=0, atol=1e-10,
                                   err_msg=measure)


def test_self_comparison_fills_both_triangles_including_asymmetric_measures():
    a = _network(3)
    m = _compare(a, measures=ALL_MEASURES)
    for measure in ALL_MEASURES:
        np.testing.assert_allclose(m[measure], _expected(a, a, measure), rtol=0, atol=1e-10,
                                   err_msg=measure)
    assert np.allclose(np.diag(m["linear_cka"]), 1.0)
    assert not np.allclose(m["pwcca"], m["pwcca"].T)  # asymmetric, and both halves computed
    for measure in ALL_MEASURES:  # so is every measure not declared symmetric
        if not INFO[measure].symmetric:
            assert not np.allclose(m[measure], m[measure].T), measure


def test_layer_order_and_names_are_kept_exactly():
    a = [("z_last", _network(1)[0][1]), ("a first", _network(1)[1][1]), ("<odd> name", _network(1)[2][1])]
    m = _compare(dict(a), measures="linear_cka")
    assert m.layers_a == ("z_last", "a first", "<odd> name")
    assert m.layers_b == m.layers_a
    assert m.measures == ("linear_cka",)


def test_gram_and_feature_space_agree_with_a_small_memory_budget():
    a, b = _network(4, n=60, widths=(50, 70)), _network(5, n=60, widths=(40, 90))
    wide = _compare(a, b, measures=("linear_cka", "debiased_linear_cka", "linear_hsic"))
    squeezed = _compare(a, b, measures=("linear_cka", "debiased_linear_cka", "linear_hsic"),
                        memory_budget=1)
    np.testing.assert_allclose(wide.values, squeezed.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wide["linear_cka"], _expected(a, b, "linear_cka"), atol=1e-10)


# Gram space holds the four layers cast and centred, (4 + 2 * 250) * 200 * 8 bytes, and rows of
# their Gram matrices: this budget fits them with blocks of 126 rows of 4 x 200 numbers.
GRAM_IN_TWO_BLOCKS = (4 + 2 * 250) * 200 * 8


@pytest.mark.parametrize("budget", [GRAM_IN_TWO_BLOCKS, 4 * 60 * 8, rl.compare.__kwdefaults__["memory_budget"]])
def test_gram_space_in_row_blocks_equals_the_pair_functions(budget):
    # Wide layers take the Gram-space path, split into two blocks of rows by the first budget;
    # the tiny budget cannot hold the layers whole and takes feature space, row block by row
    # block; the CCA measure beside them (bases from row blocks under both) is unaffected.
    a, b = _network(4, n=200, widths=(50, 70)), _network(5, n=200, widths=(40, 90))
    measures = ("linear_cka", "cca_r2", "debiased_linear_cka", "linear_hsic")
    m = _compare(a, b, measures=measures, memory_budget=budget)
    for measure in measures:  # HSIC is unbounded (values ~1e6 here): relative tolerance
        rtol = 1e-12 if INFO[measure].bounds[1] is None else 0
        np.testing.assert_allclose(m[measure], _expected(a, b, measure), rtol=rtol, atol=1e-10,
                                   err_msg=measure)
    both = a + [(f"b.{name}", x) for name, x in b]
    itself = _compare(both, measures=measures, memory_budget=budget)
    for measure in measures:
        rtol = 1e-12 if INFO[measure].bounds[1] is None else 0
        np.testing.assert_allclose(itself[measure], _expected(both, both, measure), rtol=rtol,
                                   atol=1e-10, err_msg=measure)


def test_progress_bars_on_stderr_only_when_asked(capsys):
    a, b = _network(4, n=200, widths=(50, 70)), _network(5, n=200, widths=(40, 90))
    rl.compare(a, b, measures=("linear_cka", "cca_r2"), progress=True, memory_budget=GRAM_IN_TWO_BLOCKS)
    shown = capsys.readouterr()
    assert shown.out == ""
    assert "replens compare (Gram rows)" in shown.err and "200/200" in shown.err  # two blocks
    assert "replens compare (basis rows)" in shown.err                           # CCA bases from row blocks
    rl.compare(a, b, measures=("linear_cka", "cca_r2"), progress=True)
    shown = capsys.readouterr()
    assert "replens compare:" in shown.err and "4/4" in shown.err              # the pairs
    rl.compare(a, b, measures=("linear_cka", "cca_r2"), progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("block_rows", [1, 7, 59, 60, 1000])
def test_gram_inner_products_equal_dense_gram_products(block_rows):
    from replens.measures.cka import gram_inner_products

    rng = np.random.default_rng(8)
    left = [rng.standard_normal((60, p)) for p in (3, 80)]
    right = [rng.standard_normal((60, q)) for q in (70, 5, 1)]
    dense = lambda x, y: float(np.sum((x @ x.T) * (y @ y.T)))  # noqa: E731
    cross, self_left, self_right = gram_inner_products(np, left, right, block_rows=block_rows)
    np.testing.assert_allclose(cross, [[dense(x, y) for y in right] for x in left], rtol=1e-12)
    np.testing.assert_allclose(self_left, [dense(x, x) for x in left], rtol=1e-12)
    np.testing.assert_allclose(self_right, [dense(y, y) for y in right], rtol=1e-12)
    square, diagonal, same = gram_inner_products(np, right, block_rows=block_rows)
    np.testing.assert_allclose(square, [[dense(x, y) for y in right] for x in right], rtol=1e-12)
    np.testing.assert_array_equal(diagonal, np.diag(square))
    np.testing.assert_array_equal(same, diagonal)
    torch = pytest.importorskip("torch")
    on_torch = gram_inner_products(torch, [torch.from_numpy(x) for x in left],
                                   [torch.from_numpy(y) for y in right], block_rows=block_rows)
    for ours, expected in zip(on_torch, (cross, self_left, self_right)):
        np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_conv_modes_and_layouts():
    rng = np.random.default_rng(6)
    conv_nchw = rng.standard_normal((50, 3, 4, 5))          # (n, c, h, w)
    conv_nhwc = np.transpose(conv_nchw, (0, 2, 3, 1))
    dense = rng.standard_normal((50, 7))
    flat = _compare({"conv": conv_nchw, "fc": dense}, measures="linear_cka")
    assert flat["linear_cka"][0, 1] == pytest.approx(rl.cka(conv_nchw.reshape(50, -1), dense), abs=1e-12)
    nhwc = _compare({"conv": conv_nhwc, "fc": dense}, measures="linear_cka", layout="NHWC")
    np.testing.assert_allclose(flat.values, nhwc.values, atol=1e-12)
    pooled = _compare({"conv": conv_nchw, "fc": dense}, measures="linear_cka", conv="mean_pool")
    assert pooled["linear_cka"][0, 1] == pytest.approx(rl.cka(conv_nchw.mean(axis=(2, 3)), dense), abs=1e-12)
    other = rng.standard_normal((50, 6, 4, 5))
    spatial = _compare({"c1": conv_nchw}, {"c2": other}, measures="cca_mean_rho",
                       conv="spatial_as_examples")
    expected = rl.cca(conv_nhwc.reshape(-1, 3), np.transpose(other, (0, 2, 3, 1)).reshape(-1, 6)).mean_rho
    assert spatial["cca_mean_rho"][0, 0] == pytest.approx(expected, abs=1e-12)


def test_sequence_modes():
    rng = np.random.default_rng(7)
    seq = rng.standard_normal((40, 5, 3))
    dense = rng.standard_normal((40, 4))
    cases = {"flatten": seq.reshape(40, -1), "mean": seq.mean(axis=1), "last": seq[:, -1]}
    for mode, matrix in cases.items():
        m = _compare({"rnn": seq}, {"fc": dense}, measures="linear_cka", sequence=mode)
        assert m["linear_cka"][0, 0] == pytest.approx(rl.cka(matrix, dense), abs=1e-12), mode
    both = _compare({"a": seq}, {"b": seq[:, ::-1] * 2}, measures="linear_cka", sequence="time_as_examples")
    assert both["linear_cka"][0, 0] == pytest.approx(
        rl.cka(seq.reshape(-1, 3), (seq[:, ::-1] * 2).reshape(-1, 3)), abs=1e-12)


def test_torch_layers_give_the_numpy_matrix():
    torch = pytest.importorskip("torch")
    a, b = _network(8), _network(9)
    m_np = _compare(a, b, measures=ALL_MEASURES)
    m_torch = _compare([(k, torch.from_numpy(v)) for k, v in a], [(k, torch.from_numpy(v)) for k, v in b],
                       measures=ALL_MEASURES)
    np.testing.assert_allclose(m_np.values, m_torch.values, atol=1e-10)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA device")
@pytest.mark.parametrize("budget", [4 * 60 * 8 * 7, rl.compare.__kwdefaults__["memory_budget"]])
def test_cuda_layers_give_the_numpy_matrix_in_feature_gram_and_dft_modes(budget):
    import torch

    def on_gpu(layers):
        items = layers.items() if isinstance(layers, dict) else layers
        return [(name, torch.from_numpy(x).cuda()) for name, x in items]

    narrow = (_network(8), _network(9))                                  # feature space
    wide = (_network(4, n=60, widths=(50, 70)), _network(5, n=60, widths=(40, 90)))  # Gram space
    # Wide layers leave n - 1 < p, where PWCCA's canonical directions are not unique (forced
    # unit correlations): compared there without it.
    well_posed = tuple(name for name in ALL_MEASURES if name != "pwcca")
    for (a, b), measures in ((narrow, ALL_MEASURES), (wide, well_posed)):
        expected = _compare(a, b, measures=measures, memory_budget=budget)
        got = _compare(on_gpu(a), on_gpu(b), measures=measures, memory_budget=budget)
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-9)
    conv_a, conv_b = _dft_network(11), _dft_network(12)
    expected = _compare(conv_a, conv_b, measures=("cca_mean_rho", "cca_r2"), conv="dft")
    got = _compare(on_gpu(conv_a), on_gpu(conv_b), measures=("cca_mean_rho", "cca_r2"), conv="dft")
    np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e-9)


def test_uninformative_pairs_warn_once():
    a = [("wide", np.random.default_rng(1).standard_normal((30, 40))),
         ("narrow", np.random.default_rng(2).standard_normal((30, 3)))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _compare(a, measures=("cca_mean_rho", "pwcca"))
    messages = [w for w in caught if issubclass(w.category, rl.UninformativeWarning)]
    assert len(messages) == 1
    assert "Theorem 1" in str(messages[0].message)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(measures="cosine"), rl.UnknownOptionError, r"measure must be one of .*'linear_cka'"),
        (dict(measures=()), rl.UnknownOptionError, r"measures is empty"),
        (dict(conv="pool"), rl.UnknownOptionError, r"conv must be one of .*'mean_pool'"),
        (dict(layout="CHW"), rl.UnknownOptionError, r"layout must be one of 'NCHW', 'NHWC'"),
        (dict(sequence="first"), rl.UnknownOptionError, r"sequence must be one of"),
        (dict(conv="dft", measures="linear_cka"), rl.UnknownOptionError, r"conv='dft' .* supports"),
        (dict(svcca_threshold=1.5), rl.UnknownOptionError, r"svcca_threshold must be in \(0, 1\]"),
        (dict(rbf_bandwidth=0), rl.UnknownOptionError, r"rbf_bandwidth must be a finite number > 0"),
    ],
)
def test_bad_options_raise_before_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        rl.compare(_network(1), **kwargs)


def test_bad_layers_raise_clear_errors():
    good = np.zeros((10, 3)) + np.arange(3)
    with pytest.raises(rl.ShapeError, match=r"same number of examples.*'b': 9"):
        rl.compare({"a": np.random.rand(10, 3), "b": np.random.rand(9, 3)})
    with pytest.raises(rl.ShapeError, match=r"duplicate layer names \['x'\]"):
        rl.compare([("x", good), ("x", good)])
    with pytest.raises(rl.ShapeError, match=r"holds no layers"):
        rl.compare({})
    with pytest.raises(rl.ShapeError, match=r"layer 'v' has 1-D shape \(10,\)"):
        rl.compare({"v": np.random.rand(10)})
    with pytest.raises(rl.NonFiniteError, match=r"reps_b\['y'\] contains NaN"):
        rl.compare({"x": np.random.rand(10, 3)}, {"y": np.full((10, 3), np.nan)})
    with pytest.raises(rl.ShapeError, match=r"spatial_as_examples multiplies examples"):
        rl.compare({"a": np.random.rand(5, 2, 4, 4)}, {"b": np.random.rand(5, 2, 2, 2)},
                   conv="spatial_as_examples")
    with pytest.raises(rl.TooFewExamplesError, match=r"at least 4 examples"):
        rl.compare({"a": np.random.rand(3, 2)}, measures="debiased_linear_cka")


def test_save_and_load_round_trip(tmp_path):
    m = _compare(_network(1), _network(2), measures=("linear_cka", "pwcca"))
    path = m.save(tmp_path / "sub" / "matrix.npz")
    loaded = rl.SimilarityMatrix.load(path)
    np.testing.assert_array_equal(loaded.values, m.values)
    assert (loaded.layers_a, loaded.layers_b, loaded.measures) == (m.layers_a, m.layers_b, m.measures)
    assert loaded.attrs == m.attrs
    assert [p.name for p in path.parent.iterdir()] == ["matrix.npz"]  # no temporary left behind
    with pytest.raises(rl.UnknownOptionError, match=r"ending in \.npz"):
        m.save(tmp_path / "matrix.csv")


def test_dataframe_and_xarray_views():
    m = _compare(_network(1), _network(2), measures=("linear_cka", "cca_r2"))
    frame = m.to_dataframe()
    assert list(frame.columns) == ["measure", "layer_a", "layer_b", "value"]
    assert len(frame) == 2 * 4 * 4
    row = frame[(frame.measure == "cca_r2") & (frame.layer_a == "block1.relu") & (frame.layer_b == "block3.relu")]
    assert row.value.item() == m["cca_r2"][1, 3]
    array = m.to_xarray()
    assert array.dims == ("measure", "layer_a", "layer_b")
    assert float(array.sel(measure="linear_cka", layer_a="block0.relu", layer_b="block2.relu")) == m["linear_cka"][0, 2]
    with pytest.raises(rl.UnknownOptionError, match=r"holds linear_cka, cca_r2"):
        m["pwcca"]


def test_plot_labels_axes_and_uses_the_measure_bounds():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    m = _compare(_network(1), _network(2, widths=(5, 6)), measures=("linear_cka", "linear_hsic"))
    fig, ax = m.plot("linear_cka")
    image = ax.images[0]
    assert image.origin == "lower"
    assert image.get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(m.layers_a)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(m.layers_b)
    assert fig.axes[-1].get_ylabel() == "linear_cka"  # the colour bar
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for v in m["linear_cka"].ravel())
    _, ax_hsic = m.plot("linear_hsic")  # unbounded above: scale from the data
    assert ax_hsic.images[0].get_clim()[1] == pytest.approx(m["linear_hsic"].max())


def test_dft_mode_uses_fourier_cca_and_treats_dense_layers_as_one_by_one_maps():
    rng = np.random.default_rng(10)
    conv_a = rng.standard_normal((60, 3, 4, 4))
    conv_b = np.maximum(conv_a[:, [0, 1, 2, 0]] + 0.3 * rng.standard_normal((60, 4, 4, 4)), 0)
    dense = rng.standard_normal((60, 5))
    m = _compare({"conv_a": conv_a}, {"conv_b": conv_b, "fc": dense},
                 measures=("cca_mean_rho", "cca_r2"), conv="dft")
    expected = rl.dft_cca(conv_a, conv_b, layout="NCHW")
    assert m["cca_mean_rho"][0, 0] == pytest.approx(expected.mean_rho, abs=1e-12)
    assert m["cca_r2"][0, 0] == pytest.approx(expected.r2, abs=1e-12)
    # A dense layer is a 1 x 1 map: only the zero frequency survives, i.e. average pooling.
    pooled = rl.cca(conv_a.mean(axis=(2, 3)), dense)
    assert m["cca_mean_rho"][0, 1] == pytest.approx(pooled.mean_rho, abs=1e-10)


def _dft_network(seed: int) -> dict[str, np.ndarray]:
    """Conv layers (NCHW) of sizes 8x8, 8x8 and 4x4 plus a dense layer, for 80 examples."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((80, 3, 8, 8))
    layers = {"conv1": base, "conv2": np.maximum(base[:, [0, 1, 2, 1]] + 0.5 * rng.standard_normal((80, 4, 8, 8)), 0)}
    layers["pool"] = layers["conv2"].reshape(80, 4, 4, 2, 4, 2).mean(axis=(3, 5)) + 0.1 * rng.standard_normal((80, 4, 4, 4))
    layers["fc"] = layers["pool"].reshape(80, -1) @ rng.standard_normal((64, 6))
    return layers


def _expected_dft(layers_a: dict, layers_b: dict) -> np.ndarray:
    def as_map(x):
        return x[:, :, None, None] if x.ndim == 2 else x

    return np.array([[[getattr(rl.dft_cca(as_map(a), as_map(b), layout="NCHW"), stat)
                       for b in layers_b.values()] for a in layers_a.values()]
                     for stat in ("mean_rho", "r2")])


@pytest.mark.parametrize("budget", [1, rl.compare.__kwdefaults__["memory_budget"]])
def test_dft_mode_equals_dft_cca_for_every_pair_of_sizes(budget):
    # Each layer's spectra and bases are prepared once per set of frequencies read and
    # reused across pairs (a budget of 1 byte recomputes them every time): same values.
    a, b = _dft_network(11), _dft_network(12)
    measures = ("cca_mean_rho", "cca_r2")
    m = _compare(a, b, measures=measures, conv="dft", memory_budget=budget)
    np.testing.assert_allclose(m.values, _expected_dft(a, b), rtol=0, atol=1e-10)
    itself = _compare(a, measures=measures, conv="dft", memory_budget=budget)
    np.testing.assert_allclose(itself.values, _expected_dft(a, a), rtol=0, atol=1e-10)


def test_dft_mode_refuses_non_square_maps_of_different_sizes_before_work():
    rng = np.random.default_rng(13)
    layers = {"wide": rng.standard_normal((20, 2, 4, 6)), "small": rng.standard_normal((20, 2, 2, 2))}
    with pytest.raises(rl.ShapeError, match="layer 'wide' is 4x6"):
        _compare(layers, measures="cca_mean_rho", conv="dft")


def test_plot_shows_layer_names_with_dollar_signs_literally():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    x = np.random.default_rng(0).standard_normal((30, 4))
    m = _compare({r"a$\frac$": x, "cost $5 and $6": x ** 2}, measures="linear_cka")
    fig, ax = m.plot("linear_cka")
    fig.canvas.draw()  # a math parse error would raise here
    assert [t.get_text() for t in ax.get_yticklabels()] == [r"a$\frac$", "cost $5 and $6"]


# ----------------------------------------------------------------------------- every pair checked (item 8)


@pytest.mark.parametrize("measures", [("linear_cka",), ("cca_mean_rho", "pwcca"), ALL_MEASURES])
def test_shared_layer_names_with_different_example_counts_are_refused_before_work(measures):
    """Two seeds of one architecture share layer names: each side's counts are checked."""
    a = dict(_network(1, n=50, widths=(6, 5)))
    b = dict(_network(2, n=40, widths=(6, 5)))
    match = r"same number of examples; got reps_a \{'block0.relu': 50, .*\}, reps_b \{'block0.relu': 40"
    with pytest.raises(rl.ShapeError, match=match):
        _compare(a, b, measures=measures)
    wide_a, wide_b = dict(_network(1, n=30, widths=(60, 70))), dict(_network(2, n=29, widths=(60, 70)))
    with pytest.raises(rl.ShapeError, match="reps_b"):
        _compare(wide_a, wide_b, measures=("linear_cka", "linear_hsic"))  # the Gram-space path


def test_a_repeated_measure_is_refused():
    with pytest.raises(rl.UnknownOptionError, match="lists rbf_cka more than once"):
        rl.compare(_network(1), measures=("rbf_cka", rl.measure("rbf_cka")))
    with pytest.raises(rl.UnknownOptionError, match=r"lists rbf_cka\(bandwidth=0.5\) more than once"):
        rl.compare(_network(1), measures=("rbf_cka", rl.measure("rbf_cka", bandwidth=0.5)), rbf_bandwidth=0.5)


def test_two_examples_work_wherever_the_pair_function_works():
    rng = np.random.default_rng(0)
    a = {"x": rng.standard_normal((2, 3)), "x2": rng.standard_normal((2, 1))}
    b = {"y": rng.standard_normal((2, 4))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        for name in ALL_MEASURES:
            try:
                expected = _expected(list(a.items()), list(b.items()), name)
            except rl.TooFewExamplesError:
                with pytest.raises(rl.TooFewExamplesError, match="need at least 4 examples"):
                    _compare(a, b, measures=name)
                continue
            np.testing.assert_allclose(_compare(a, b, measures=name)[name], expected, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(_compare(a, measures=name)[name],
                                       _expected(list(a.items()), list(a.items()), name), atol=1e-12)


# ----------------------------------------------------------------------------- memory_budget (item 9)


def _cache_layers(tmp_path, n=3000, widths=(96, 64, 80)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 32)).astype(np.float32)
    layers = {}
    for i, width in enumerate(widths):
        path = tmp_path / f"layer{i}.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, width))
        x = np.tanh(x @ rng.standard_normal((x.shape[1], width)).astype(np.float32) / 4) + 0.1
        out[:] = x
        out.flush()
        del out
        layers[f"layer{i}"] = np.load(path, mmap_mode="r")
    return layers


@pytest.mark.parametrize("budget", [64 * 1024, 600 * 1024, rl.compare.__kwdefaults__["memory_budget"]])
def test_memory_mapped_float32_layers_in_feature_space_equal_the_pair_functions(tmp_path, budget):
    layers = _cache_layers(tmp_path)
    assert all(isinstance(layer, np.memmap) for layer in layers.values())
    names = ("linear_cka", "debiased_linear_cka", "linear_hsic", "cca_mean_rho")
    in_memory = {name: np.array(layer) for name, layer in layers.items()}
    matrix = _compare(layers, measures=names, memory_budget=budget)
    for name in names:
        expected = _expected(list(in_memory.items()), list(in_memory.items()), name)
        np.testing.assert_allclose(matrix[name], expected, rtol=1e-10, atol=1e-12, err_msg=name)
    pair = _compare({"a": layers["layer0"]}, {"b": layers["layer2"]}, measures=names, memory_budget=budget)
    for k, name in enumerate(names):
        assert pair.values[k, 0, 0] == pytest.approx(PAIR_FUNCTIONS[name](in_memory["layer0"], in_memory["layer2"]),
                                                     rel=1e-10)


def test_feature_space_never_casts_a_float32_layer_to_float64_whole(tmp_path):
    """Peak traced allocation of a budgeted linear-CKA compare stays below one float64 layer."""
    import tracemalloc

    layers = _cache_layers(tmp_path, n=4000, widths=(64, 64))
    one_layer_float64 = 4000 * 64 * 8
    _compare(layers, measures="linear_cka", memory_budget=128 * 1024)  # warm up imports and caches
    tracemalloc.start()
    try:
        _compare(layers, measures=("linear_cka", "linear_hsic"), memory_budget=128 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < one_layer_float64 / 2, (peak, one_layer_float64)


BASIS_MEASURES = ("cca_mean_rho", "cca_r2", "svcca_mean_rho", "svcca_r2", "pwcca", "linear_regression_r2")


def _awkward_layers(tmp_path, n=3000) -> dict[str, np.ndarray]:
    """Memory-mapped float32 layers that take every route of the blocked bases: well
    conditioned (one whitening), moderately ill-conditioned (a second whitening), too
    ill-conditioned for the Gram route and wider than n (both: the whole layer's SVD)."""
    layers = _cache_layers(tmp_path, n=n, widths=(48, 40))
    rng = np.random.default_rng(5)
    base = np.array(layers["layer0"][:, :24], dtype=np.float64)
    extra = {
        "graded": base * np.logspace(0, 3, 24),  # cond about 1e3: eps cond^2 about 1e-10
        "nearly_dependent": np.hstack([base[:, :8], base[:, :8] + 1e-7 * rng.standard_normal((n, 8))]),
        "offset": 1e4 + base[:, :12] * 1e-3,
    }
    for name, values in extra.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, values.astype(np.float32))
        layers[name] = np.load(path, mmap_mode="r")
    return layers


@pytest.mark.parametrize("budget", [96 * 1024, 700 * 1024])
def test_cca_family_from_row_blocks_equals_the_pair_functions(tmp_path, budget):
    layers = _awkward_layers(tmp_path)
    in_memory = {name: np.array(layer) for name, layer in layers.items()}
    matrix = _compare(layers, measures=BASIS_MEASURES, memory_budget=budget)
    for name in BASIS_MEASURES:
        expected = _expected(list(in_memory.items()), list(in_memory.items()), name)
        np.testing.assert_allclose(matrix[name], expected, rtol=1e-9, atol=1e-10, err_msg=name)
    a = {name: layers[name] for name in ("layer0", "graded")}
    b = {name: layers[name] for name in ("layer1", "nearly_dependent", "offset")}
    two_sided = _compare(a, b, measures=BASIS_MEASURES, memory_budget=budget)
    whole = _compare({k: in_memory[k] for k in a}, {k: in_memory[k] for k in b}, measures=BASIS_MEASURES)
    np.testing.assert_allclose(two_sided.values, whole.values, rtol=1e-9, atol=1e-10)


def test_cca_family_from_row_blocks_flags_what_theorem_1_forces(tmp_path):
    rng = np.random.default_rng(8)
    n = 120
    layers = {"wide_a": rng.standard_normal((n, 70)).astype(np.float32),
              "wide_b": rng.standard_normal((n, 60)).astype(np.float32),
              "narrow": rng.standard_normal((n, 5)).astype(np.float32)}
    with pytest.warns(rl.UninformativeWarning):
        blocked = _compare(layers, measures=("pwcca", "svcca_mean_rho"), memory_budget=16 * 1024)
    with pytest.warns(rl.UninformativeWarning):
        whole = _compare(layers, measures=("pwcca", "svcca_mean_rho"))
    assert blocked.attrs["uninformative"] == whole.attrs["uninformative"]
    assert [0, 1] in blocked.attrs["uninformative"]["pwcca"]
    np.testing.assert_allclose(blocked.values, whole.values, rtol=1e-9, atol=1e-10)


def test_cca_family_never_casts_a_float32_layer_to_float64_whole(tmp_path):
    """Peak traced allocation of a budgeted CCA-family compare stays below one float64 layer."""
    import tracemalloc

    layers = _cache_layers(tmp_path, n=4000, widths=(64, 64))
    one_layer_float64 = 4000 * 64 * 8
    _compare(layers, measures=BASIS_MEASURES, memory_budget=128 * 1024)  # warm up imports and caches
    tracemalloc.start()
    try:
        _compare(layers, measures=BASIS_MEASURES, memory_budget=128 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < one_layer_float64 / 2, (peak, one_layer_float64)
    # Without a budget the layers are cast whole: the check above can fail.
    tracemalloc.start()
    try:
        _compare(layers, measures=BASIS_MEASURES)
        _, unbudgeted = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert unbudgeted > one_layer_float64


def test_feature_groups_fit_the_budget_and_cover_every_pair():
    from replens.engine._plan import feature_groups

    widths = [100, 50, 80, 120]
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]
    budget = 200_000
    groups, rows = feature_groups(widths, pairs, 5000, 8, budget)
    assert [pair for group in groups for pair in group] == pairs
    assert len(groups) > 1
    for group, block in zip(groups, rows):
        accumulators = sum(8 * widths[i] * widths[j] for i, j in group)
        assert len(group) == 1 or accumulators <= budget // 2
        assert 1 <= block <= 5000


def _file_backed_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_read_rows_of_a_memory_map_leave_the_resident_set(tmp_path):
    from replens._backend import release_rows

    path = tmp_path / "layer.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(20000, 512))
    out[:] = 1.0
    out.flush()
    del out
    layer = np.load(path, mmap_mode="r")
    before = _file_backed_rss_kib()
    assert float(layer[:10000].sum()) == 10000 * 512
    touched = _file_backed_rss_kib()
    release_rows(layer, 0, 10000)
    released = _file_backed_rss_kib()
    assert touched - before > 15_000  # 20 MB of pages were mapped in
    assert released - before < 2_000
    release_rows(np.ones((3, 3)), 0, 3)  # anything but a read-only memory map: left alone
    assert float(layer[:10000].sum()) == 10000 * 512  # the rows read again from the file
