"""The measure registry: configured measures, labels, options, users' own measures."""

from __future__ import annotations

import numpy as np
import pytest

import replens as rl
from replens.measures.registry import as_measure


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 6))
    y = x @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((80, 4))
    return x, y


@pytest.fixture
def registered():
    """Names registered by a test, unregistered afterwards even when it fails."""
    names: list[str] = []
    yield names
    for name in names:
        if name in {info.name for info in rl.measures()}:
            rl.unregister_measure(name)


def test_configured_measure_has_name_options_label_and_info(data):
    x, y = data
    m = rl.measure("rbf_cka", bandwidth=0.5)
    assert m.name == "rbf_cka"
    assert m.options == {"bandwidth": 0.5, "dtype": None}
    assert m.label == "rbf_cka(bandwidth=0.5)"
    assert m.info.bounds == (0.0, 1.0) and m.info.symmetric
    assert "orthogonal" in m.info.invariances and m.info.summary and m.info.reference
    assert abs(m(x, y) - rl.cka(x, y, kernel="rbf", bandwidth=0.5)) <= 1e-12
    assert abs(m.score(m.prepare(x), m.prepare(y)) - m(x, y)) <= 1e-10
    assert rl.measure("rbf_cka").label == "rbf_cka"
    assert rl.measure("rbf_cka", bandwidth=1.0).label == "rbf_cka"  # the default is not listed


def test_svcca_options_reach_the_pair_function(data):
    x, y = data
    m = rl.measure("svcca_mean_rho", threshold=0.95, rule="singular_values")
    assert m.label == "svcca_mean_rho(threshold=0.95, rule=singular_values)"
    assert m.options == {"threshold": 0.95, "rule": "singular_values", "keep": None, "dtype": None}
    assert m(x, y) == pytest.approx(rl.svcca(x, y, threshold=0.95, rule="singular_values").mean_rho, abs=1e-12)
    kept = rl.measure("svcca_r2", keep=2)
    assert kept(x, y) == pytest.approx(rl.svcca(x, y, keep=2).r2, abs=1e-12)
    single = rl.measure("linear_cka", dtype="float32")
    assert single.label == "linear_cka(dtype=float32)"
    assert single(x, y) == pytest.approx(rl.cka(x, y, dtype="float32"), abs=1e-12)


def test_measures_lists_options_with_defaults():
    infos = {info.name: info for info in rl.measures()}
    assert dict(infos["rbf_cka"].options) == {"bandwidth": 1.0, "dtype": None}
    assert dict(infos["svcca_mean_rho"].options) == {"threshold": 0.99, "rule": "variance", "keep": None,
                                                     "dtype": None}
    assert all("dtype" in info.options for info in infos.values())


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("cosine",), {}, r"measure must be one of .*'linear_cka'.*got 'cosine'"),
    (("rbf_cka",), {"sigma": 2}, r"'rbf_cka' has no option 'sigma'; its options are: bandwidth \(default 1.0\)"),
    (("rbf_cka",), {"bandwidth": -1}, r"bandwidth must be a finite number > 0"),
    (("svcca_r2",), {"rule": "energy"}, r"rule must be one of 'variance', 'singular_values'"),
    (("svcca_r2",), {"threshold": 1.5}, r"threshold must be a number in \(0, 1\]"),
    (("svcca_r2",), {"keep": 0}, r"keep must be a positive integer"),
    (("linear_cka",), {"dtype": "float16"}, r"dtype must be one of 'float64', 'float32'"),
])
def test_unknown_names_and_bad_options_list_the_valid_ones(args, kwargs, message):
    with pytest.raises(rl.UnknownOptionError, match=message):
        rl.measure(*args, **kwargs)


def test_compare_takes_configured_measures_and_indexes_by_label(data):
    x, y = data
    a, b = {"x": x, "x2": x**2}, {"y": y}
    res = rl.compare(a, b, measures=["linear_cka", rl.measure("svcca_mean_rho", threshold=0.95)])
    assert res.measures == ("linear_cka", "svcca_mean_rho(threshold=0.95)")
    assert res["svcca_mean_rho(threshold=0.95)"][0, 0] == pytest.approx(rl.svcca(x, y, threshold=0.95).mean_rho,
                                                                         abs=1e-10)
    assert res["svcca_mean_rho"] is not None  # the bare name finds the one measure of that name
    assert res.attrs["measure_options"]["svcca_mean_rho(threshold=0.95)"]["options"]["threshold"] == 0.95
    both = rl.compare(a, b, measures=[rl.measure("rbf_cka"), rl.measure("rbf_cka", bandwidth=0.5)])
    assert both["rbf_cka"][0, 0] == pytest.approx(rl.cka(x, y, kernel="rbf"), abs=1e-10)  # exact label first
    np.testing.assert_allclose(both["rbf_cka(bandwidth=0.5)"][0, 0], rl.cka(x, y, kernel="rbf", bandwidth=0.5),
                               atol=1e-10)
    two = rl.compare(a, b, measures=[rl.measure("svcca_r2", keep=2), rl.measure("svcca_r2", threshold=0.9)])
    with pytest.raises(rl.UnknownOptionError, match="several measures named 'svcca_r2'; index by label"):
        two["svcca_r2"]


def test_compare_keyword_options_configure_bare_names(data):
    x, y = data
    res = rl.compare({"x": x}, {"y": y}, measures=["rbf_cka", "svcca_r2"], rbf_bandwidth=0.5, svcca_threshold=0.9)
    assert res.measures == ("rbf_cka(bandwidth=0.5)", "svcca_r2(threshold=0.9)")
    assert res["rbf_cka"][0, 0] == pytest.approx(rl.cka(x, y, kernel="rbf", bandwidth=0.5), abs=1e-10)


def test_compare_refuses_a_repeated_measure_and_mixed_precisions(data):
    x, y = data
    with pytest.raises(rl.UnknownOptionError, match="lists linear_cka more than once"):
        rl.compare({"x": x}, {"y": y}, measures=["linear_cka", rl.measure("linear_cka")])
    with pytest.raises(rl.UnknownOptionError, match="different precisions"):
        rl.compare({"x": x}, {"y": y}, measures=[rl.measure("linear_cka", dtype="float32")], dtype="float64")
    single = rl.compare({"x": x}, {"y": y}, measures=[rl.measure("linear_cka", dtype="float32")])
    assert single.attrs["dtype"] == "float32"


def test_a_users_plain_function_works_everywhere(data, registered):
    x, y = data

    @rl.register_measure("mean_abs_corr", bounds=(0.0, 1.0), symmetric=True,
                         invariances=("isotropic_scaling", "translation"))
    def mean_abs_corr(X, Y):
        assert isinstance(X, np.ndarray) and X.dtype == np.float64
        return float(np.mean(np.abs(np.corrcoef(X.T, Y.T)[: X.shape[1], X.shape[1]:])))

    registered.append("mean_abs_corr")
    m = rl.measure("mean_abs_corr")
    assert not m.info.builtin and m.info.invariances == ("isotropic_scaling", "translation")
    assert m(x, y) == pytest.approx(mean_abs_corr(x, y))
    res = rl.compare({"x": x, "x2": x**2}, {"y": y}, measures=["mean_abs_corr", "linear_cka"])
    assert res["mean_abs_corr"][1, 0] == pytest.approx(mean_abs_corr(x**2, y))
    assert as_measure(mean_abs_corr).label == "mean_abs_corr"
    assert "mean_abs_corr" in [info.name for info in rl.measures()]
    with pytest.raises(rl.UnknownOptionError, match="already registered; pass replace=True"):
        rl.register_measure("mean_abs_corr")(mean_abs_corr)
    rl.register_measure("mean_abs_corr", bounds=(0.0, 1.0), replace=True)(lambda X, Y: 0.5)
    assert rl.measure("mean_abs_corr")(x, y) == 0.5
    rl.unregister_measure("mean_abs_corr")
    with pytest.raises(rl.UnknownOptionError, match="got 'mean_abs_corr'"):
        rl.measure("mean_abs_corr")
    with pytest.raises(rl.UnknownOptionError, match="built-in measure and cannot be unregistered"):
        rl.unregister_measure("linear_cka")


def test_a_users_prepare_score_measure_shares_per_layer_work(data, registered):
    x, y = data
    calls = []

    def prepare(X, power=1):
        calls.append(X.shape)
        centred = X - X.mean(axis=0)
        return centred / np.linalg.norm(centred)

    m = rl.register_measure("frobenius_cosine", bounds=(0.0, None), symmetric=True, options={"power": 1},
                            prepare=prepare, score=lambda a, b, power=1: float(np.linalg.norm(a.T @ b)) ** power)
    registered.append("frobenius_cosine")
    assert isinstance(m, rl.Measure) and m.options == {"power": 1}
    assert rl.measure("frobenius_cosine", power=2).label == "frobenius_cosine(power=2)"
    layers = {f"l{k}": x @ np.random.default_rng(k).standard_normal((6, 6)) for k in range(3)}
    calls.clear()
    res = rl.compare(layers, {"y": y, "y2": y * 2}, measures=["frobenius_cosine"])
    assert len(calls) == 5  # each layer prepared once, not once per pair
    assert res.values[0, 0, 0] == pytest.approx(m(layers["l0"], y))


@pytest.mark.parametrize(("returned", "message"), [
    (float("nan"), r"returned nan for the pair \(reps_a\['x'\], reps_b\['y'\]\); a similarity must be a finite"),
    ("0.5", r"returned str '0.5' for the pair \(reps_a\['x'\], reps_b\['y'\]\); a measure must return one real"),
    (np.array([0.1, 0.2]), r"returned ndarray"),
    (1.5, r"returned 1.5 for the pair \(reps_a\['x'\], reps_b\['y'\]\), outside its declared bounds \(0.0, 1.0\)"),
])
def test_a_bad_value_from_a_users_measure_raises_naming_measure_and_pair(data, registered, returned, message):
    x, y = data
    rl.register_measure("broken", bounds=(0.0, 1.0))(lambda X, Y: returned)
    registered.append("broken")
    with pytest.raises(rl.ReplensError, match=message):
        rl.compare({"x": x}, {"y": y}, measures=["broken"])
    with pytest.raises(rl.ReplensError, match="'broken' returned"):
        rl.measure("broken")(x, y)


def test_unregistered_callables_are_measures_too(data):
    x, y = data

    def overlap(X, Y):
        return float(abs(np.corrcoef(X[:, 0], Y[:, 0])[0, 1]))

    res = rl.compare({"x": x}, {"y": y}, measures=[overlap])
    assert res.measures == (f"{__name__}:test_unregistered_callables_are_measures_too.<locals>.overlap",)
    assert res.values[0, 0, 0] == pytest.approx(overlap(x, y))
    with pytest.raises(rl.UnknownOptionError, match="a measure must be a registered name"):
        as_measure(3)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(invariances=("rotation",)), r"invariance must be one of 'orthogonal'"),
    (dict(prepare=lambda X: X), r"needs both prepare= and score="),
    (dict(options={"not an identifier": 1}), r"option names must be identifiers"),
])
def test_register_measure_checks_its_arguments(kwargs, message):
    with pytest.raises(rl.UnknownOptionError, match=message):
        rl.register_measure("checked", **kwargs)
    with pytest.raises(rl.UnknownOptionError, match="must be a Python identifier"):
        rl.register_measure("two words")(lambda X, Y: 0.0)
