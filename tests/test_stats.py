"""replens.stats: exactness against loops, every registered measure, groups, errors, seeds.

The statistical validity checks (uniform p-values, family-wise rate, coverage) live in
tests/test_stats_validity.py.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import replens as rl
from replens.stats._grids import make_grid

NAMES = [info.name for info in rl.measures()]
KERNEL = ["linear_cka", "debiased_linear_cka", "linear_hsic", "rbf_cka"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        yield


def _pair(n=24, p=5, q=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p))
    y = np.tanh(x @ rng.standard_normal((p, q))) + 0.5 * rng.standard_normal((n, q))
    return x, y


def _groups(n, size, seed=0):
    labels = np.repeat(np.arange(n // size), size)
    np.random.default_rng(seed).shuffle(labels)
    return labels


def _left_out_loop(m, x, y, labels):
    order = list(dict.fromkeys(labels.tolist()))  # groups are numbered by first appearance
    return np.array([m(x[labels != g], y[labels != g]) for g in order])


# ----------------------------------------------------------------------------- exactness

@pytest.mark.parametrize("name", NAMES)
def test_permutation_null_equals_a_loop_over_permuted_copies(name):
    m = rl.measure(name)
    x, y = _pair()
    r = rl.stats.permutation_test(x, y, measure=name, n_permutations=12, seed=5)
    loop = np.array([m(x, y[order]) for order in rl.stats.permutations(24, 12, seed=5)])
    assert r.statistic == pytest.approx(m(x, y), abs=1e-10)
    np.testing.assert_allclose(r.null, loop, rtol=0, atol=1e-10 * max(1.0, abs(r.statistic)))
    assert r.n_permutations == 12 and r.null.shape == (12,)
    assert r.pvalue == (1 + np.sum(loop >= r.statistic - 1e-9)) / 13


@pytest.mark.parametrize("name", KERNEL)
@pytest.mark.parametrize("widths", [(5, 4), (6, 60), (60, 70)])
def test_kernel_fast_paths_equal_the_generic_path(name, widths):
    """Feature space, Gram space and wide layers (reduced to n coordinates) all exact."""
    rng = np.random.default_rng(1)
    n = 20
    x = rng.standard_normal((n, widths[0]))
    y = x[:, :1] * rng.standard_normal((1, widths[1])) + rng.standard_normal((n, widths[1]))
    m = rl.measure(name)
    fast = make_grid(m, np, [x], [y], ["X"], ["Y"])
    slow = make_grid(m, np, [x], [y], ["X"], ["Y"], fast=False)
    assert type(fast).__name__ == "KernelGrid" and type(slow).__name__ == "GenericGrid"
    orders = rl.stats.permutations(n, 9, seed=2)
    scale = max(1.0, abs(float(slow.observed()[0, 0])))
    np.testing.assert_allclose(fast.observed(), slow.observed(), atol=1e-10 * scale)
    np.testing.assert_allclose(fast.permuted(orders), slow.permuted(orders), atol=1e-10 * scale)
    units = rl.stats._checks.check_groups(_groups(n, 4), n)
    np.testing.assert_allclose(fast.left_out(units), slow.left_out(units), atol=1e-10 * scale)


@pytest.mark.parametrize("name", NAMES)
def test_jackknife_equals_a_loop_of_leave_one_out_calls(name):
    m = rl.measure(name)
    x, y = _pair(n=16)
    j = rl.stats.jackknife(x, y, measure=name)
    loop = np.array([m(np.delete(x, i, 0), np.delete(y, i, 0)) for i in range(16)])
    scale = max(1.0, abs(j.statistic))
    np.testing.assert_allclose(j.values, loop, rtol=0, atol=1e-10 * scale)
    mean = loop.mean()
    assert j.se == pytest.approx(np.sqrt(15 / 16 * np.sum((loop - mean) ** 2)), abs=1e-10 * scale)
    assert j.bias == pytest.approx(15 * (mean - m(x, y)), abs=1e-9 * scale)


@pytest.mark.parametrize("name", ["linear_cka", "debiased_linear_cka", "linear_hsic", "cca_r2"])
def test_grouped_jackknife_leaves_out_whole_groups(name):
    m = rl.measure(name)
    x, y = _pair(n=30, p=4, q=3)
    labels = np.concatenate([np.repeat(np.arange(6), 4), np.arange(6, 12)])  # sizes 4 and 1
    np.random.default_rng(3).shuffle(labels)
    j = rl.stats.jackknife(x, y, measure=name, groups=labels * 7 + 100)      # any integer labels
    np.testing.assert_allclose(j.values, _left_out_loop(m, x, y, labels), atol=1e-10 * max(1, abs(j.statistic)))


def test_linear_jackknife_is_one_pass_for_wide_layers():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 50)), rng.standard_normal((12, 30))
    for name in ("linear_cka", "debiased_linear_cka"):
        m = rl.measure(name)
        loop = np.array([m(np.delete(x, i, 0), np.delete(y, i, 0)) for i in range(12)])
        np.testing.assert_allclose(rl.stats.jackknife(x, y, measure=name).values, loop, atol=1e-10)


def _copies_excluded_biased(x, y, rows):
    xr, yr = x[rows] - x[rows].mean(0), y[rows] - y[rows].mean(0)
    copies = (rows[:, None] == rows[None, :]) & ~np.eye(rows.size, dtype=bool)
    return np.sum(((xr @ xr.T) * (yr @ yr.T))[~copies])


def _distinct_tuple_ustatistic(x, y, rows):
    k, l = x[rows] @ x[rows].T, y[rows] @ y[rows].T
    total, count = 0.0, 0
    for a, b, c, d in itertools.product(range(rows.size), repeat=4):
        if len({rows[a], rows[b], rows[c], rows[d]}) == 4:
            total += k[a, b] * l[a, b] + k[a, b] * l[c, d] - 2 * k[a, b] * l[a, c]
            count += 1
    return total / count


@pytest.mark.parametrize("name, brute", [("linear_cka", _copies_excluded_biased),
                                         ("debiased_linear_cka", _distinct_tuple_ustatistic)])
def test_kernel_resamples_leave_out_pairs_of_copies(name, brute):
    """The weighted forms equal a brute-force sum over the resampled rows without copy pairs
    (biased) and the U-statistic over tuples of distinct original examples (debiased)."""
    rng = np.random.default_rng(5)
    x, y = _pair(n=8, p=3, q=3, seed=5)
    rows = rng.integers(0, 8, 8)
    assert np.unique(rows).size < 8
    grid = make_grid(rl.measure(name), np, [x], [y], ["X"], ["Y"])
    values, usable = grid.resampled([rows, np.arange(8)])
    expected = brute(x, y, rows) / np.sqrt(brute(x, x, rows) * brute(y, y, rows))
    assert usable.all()
    assert values[0, 0, 0] == pytest.approx(expected, abs=1e-12)
    assert values[1, 0, 0] == pytest.approx(rl.measure(name)(x, y), abs=1e-12)  # every count 1


def test_naive_duplicated_rows_inflate_kernel_similarity_and_ours_do_not():
    """The reason for leaving copy pairs out: on unrelated data the plain bootstrap of biased
    CKA sits far above the estimate, ours near it."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((40, 20)), rng.standard_normal((40, 20))
    b = rl.stats.bootstrap(x, y, n_resamples=200, method="percentile", seed=1)
    resamples = [rng.integers(0, 40, 40) for _ in range(200)]
    naive = np.array([rl.cka(x[rows], y[rows]) for rows in resamples])
    assert naive.mean() - b.statistic > 3 * abs(b.samples.mean() - b.statistic)


# ----------------------------------------------------------------------------- every measure

@pytest.mark.parametrize("name", NAMES)
def test_bootstrap_and_difference_work_for_every_measure(name):
    x, y = _pair(n=24)
    z = np.random.default_rng(9).standard_normal((24, 3))
    b = rl.stats.bootstrap(x, y, measure=name, n_resamples=30, seed=1)
    assert b.samples.shape == (30,) and np.all(np.isfinite(b.samples))
    assert b.low <= b.high and b.se > 0 and b.statistic == pytest.approx(rl.measure(name)(x, y), abs=1e-10)
    again = rl.stats.bootstrap(x, y, measure=name, n_resamples=30, seed=1)
    np.testing.assert_array_equal(b.samples, again.samples)
    d = rl.stats.difference_test(x, y, z, measure=name)
    m = rl.measure(name)
    assert d.difference == pytest.approx(m(x, y) - m(x, z), abs=1e-10 * max(1, abs(m(x, y))))
    assert 0 <= d.pvalue <= 1 and d.low <= d.difference <= d.high
    assert d.z == pytest.approx(d.difference / d.se)


def test_unregistered_callable_goes_through_the_generic_path():
    def mean_abs_corr(x, y):
        return float(np.abs(np.corrcoef(x.T, y.T)[: x.shape[1], x.shape[1]:]).mean())

    x, y = _pair()
    r = rl.stats.permutation_test(x, y, measure=mean_abs_corr, n_permutations=10, seed=0)
    loop = [mean_abs_corr(x, y[order]) for order in rl.stats.permutations(24, 10, seed=0)]
    np.testing.assert_allclose(r.null, loop, atol=1e-12)
    assert r.measure.endswith("mean_abs_corr")


def test_configured_measures_keep_their_options():
    x, y = _pair()
    m = rl.measure("rbf_cka", bandwidth=0.5)
    r = rl.stats.permutation_test(x, y, measure=m, n_permutations=5)
    assert r.statistic == pytest.approx(m(x, y), abs=1e-12) and r.measure == "rbf_cka(bandwidth=0.5)"
    s = rl.measure("svcca_mean_rho", keep=2)
    assert rl.stats.jackknife(x, y, measure=s).statistic == pytest.approx(s(x, y))


def test_difference_test_detects_the_closer_layer():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((80, 6))
    near, far = x + 0.5 * rng.standard_normal((80, 6)), x + 3 * rng.standard_normal((80, 6))
    for method in ("jackknife", "bootstrap"):
        d = rl.stats.difference_test(x, near, far, method=method, n_resamples=200, seed=0)
        assert d.difference > 0 and d.pvalue < 0.01 and d.low > 0, method
    same = rl.stats.difference_test(x, near, near + 1e-3 * rng.standard_normal((80, 6)))
    assert same.pvalue > 0.01


def test_bootstrap_intervals_contain_the_statistic_and_bca_differs_from_percentile():
    x, y = _pair(n=60, seed=3)
    bca = rl.stats.bootstrap(x, y, n_resamples=300, seed=2)
    pct = rl.stats.bootstrap(x, y, n_resamples=300, seed=2, method="percentile")
    np.testing.assert_array_equal(bca.samples, pct.samples)
    assert np.quantile(pct.samples, 0.025) == pytest.approx(pct.low)
    assert bca.low < bca.statistic < bca.high and (bca.low, bca.high) != (pct.low, pct.high)
    assert bca.se == pytest.approx(np.std(bca.samples, ddof=1))


# ----------------------------------------------------------------------------- groups

def test_permutations_respect_groups():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 5])
    between = rl.stats.permutations(12, 50, seed=0, groups=labels)
    within = rl.stats.permutations(12, 50, seed=0, groups=labels, groups_mode="within")
    members = {g: np.flatnonzero(labels == g) for g in np.unique(labels)}
    for order in between:
        assert sorted(order) == list(range(12))
        for g, rows in members.items():
            targets = order[rows]
            partner = labels[targets[0]]
            assert np.array_equal(targets, members[partner])   # row k of a group -> row k of one group
            assert rows.size == members[partner].size
    assert not np.all(between == np.arange(12))
    for order in within:
        assert np.array_equal(labels[order], labels)
    assert not np.all(within == np.arange(12))


def test_grouped_null_equals_the_loop_and_groups_change_the_null():
    x, y = _pair(n=24)
    labels = _groups(24, 3)
    for mode in ("between", "within"):
        r = rl.stats.permutation_test(x, y, n_permutations=8, seed=1, groups=labels, groups_mode=mode)
        loop = [rl.cka(x, y[o]) for o in rl.stats.permutations(24, 8, seed=1, groups=labels, groups_mode=mode)]
        np.testing.assert_allclose(r.null, loop, atol=1e-12)
        assert r.groups_mode == mode
    free = rl.stats.permutation_test(x, y, n_permutations=8, seed=1)
    assert free.groups_mode is None and not np.allclose(free.null, r.null)


def test_grouped_bootstrap_resamples_whole_groups():
    x, y = _pair(n=30)
    labels = _groups(30, 3)
    b = rl.stats.bootstrap(x, y, n_resamples=40, seed=0, groups=labels)
    plain = rl.stats.bootstrap(x, y, n_resamples=40, seed=0)
    assert not np.allclose(b.samples, plain.samples) and b.low <= b.high
    # the same draws through the generic path (an unregistered copy of linear CKA)
    generic = rl.stats.bootstrap(x, y, measure=lambda a, c: rl.cka(a, c), n_resamples=5, seed=0, groups=labels,
                                 method="percentile")
    assert np.all(np.isfinite(generic.samples))


# ----------------------------------------------------------------------------- stats.compare

def _network(seed, n=30, widths=(4, 6, 5)):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, 4))
    layers = {}
    for k, width in enumerate(widths):
        h = np.tanh(h @ rng.standard_normal((h.shape[1], width))) + 0.3 * rng.standard_normal((n, width))
        layers[f"l{k}"] = h
    return layers


def test_stats_compare_values_and_pvalues_match_the_pair_functions():
    a, b = _network(0), _network(1)
    s = rl.stats.compare(a, b, measures=("linear_cka", "cca_mean_rho"), n_permutations=15, seed=4)
    plain = rl.compare(a, b, measures=("linear_cka", "cca_mean_rho"))
    np.testing.assert_allclose(s.values, plain.values, atol=0)
    assert isinstance(s, rl.SimilarityMatrix) and s.pvalues.shape == s.values.shape
    for k, name in enumerate(s.measures):
        for (i, la), (j, lb) in itertools.product(enumerate(a), enumerate(b)):
            r = rl.stats.permutation_test(a[la], b[lb], measure=name, n_permutations=15, seed=4)
            assert s.pvalues[k, i, j] == r.pvalue
    assert np.all(s.pvalues_corrected >= s.pvalues)
    assert s.low is None and s.high is None and s.se is None
    assert s.attrs["statistics"]["correction"] == "maxT" and "15 permutations" in s.attrs["statistics"]["null"]


def test_stats_compare_intervals_jackknife_and_corrections():
    a = _network(2)
    s = rl.stats.compare(a, measures="debiased_linear_cka", n_permutations=10, n_resamples=30, jackknife=True,
                         correction="holm", seed=0)
    assert s.values.shape == (1, 3, 3)
    np.testing.assert_allclose(s.pvalues_corrected[0], rl.stats.holm(s.pvalues[0]))
    j = rl.stats.jackknife(a["l0"], a["l1"], measure="debiased_linear_cka")
    assert s.se[0, 0, 1] == pytest.approx(j.se, abs=1e-10)
    b = rl.stats.bootstrap(a["l0"], a["l1"], measure="debiased_linear_cka", n_resamples=30, seed=0)
    assert (s.low[0, 0, 1], s.high[0, 0, 1]) == pytest.approx((b.low, b.high), abs=1e-10)  # same resamples
    assert np.all(s.low <= s.high)
    only_jack = rl.stats.compare(a, jackknife=True)
    z = 1.959963984540054
    np.testing.assert_allclose(only_jack.low, only_jack.values - z * only_jack.se)
    none = rl.stats.compare(a, n_permutations=5, correction=None)
    assert none.pvalues is not None and none.pvalues_corrected is None


def test_stats_compare_saves_and_loads_its_statistics(tmp_path):
    s = rl.stats.compare(_network(3), _network(4), n_permutations=5, jackknife=True)
    loaded = rl.SimilarityMatrix.load(s.save(tmp_path / "stats.npz"))
    for name in ("values", "pvalues", "pvalues_corrected", "low", "high", "se"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(s, name))
    plain = rl.SimilarityMatrix.load(rl.compare(_network(3)).save(tmp_path / "plain.npz"))
    assert plain.pvalues is None and plain.se is None
    with pytest.raises(rl.ReplensError, match="pvalues must have the shape of values"):
        rl.SimilarityMatrix(s.values, s.layers_a, s.layers_b, s.measures, pvalues=np.zeros(3))


def test_max_t_and_holm_by_hand():
    stats = np.array([[3.0, 1.0]])
    null = np.array([[[1.0, 0.5]], [[2.0, 4.0]], [[0.0, 0.0]]])
    np.testing.assert_allclose(rl.stats.max_t(stats, null), [[2 / 4, 3 / 4]])
    np.testing.assert_allclose(rl.stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    with pytest.raises(rl.ShapeError, match="null must have shape"):
        rl.stats.max_t(stats, np.zeros((3, 2)))


# ----------------------------------------------------------------------------- seeds, backends

def test_seeds_reproduce_and_never_touch_the_global_state():
    x, y = _pair()
    state = np.random.get_state()[1].copy()
    first = rl.stats.permutation_test(x, y, n_permutations=20, seed=11)
    np.testing.assert_array_equal(first.null, rl.stats.permutation_test(x, y, n_permutations=20, seed=11).null)
    assert not np.array_equal(first.null, rl.stats.permutation_test(x, y, n_permutations=20, seed=12).null)
    from_generator = rl.stats.permutation_test(x, y, n_permutations=20, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(first.null, from_generator.null)
    rl.stats.bootstrap(x, y, n_resamples=10, seed=None)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_torch_inputs_give_the_numpy_results():
    x, y = _pair()
    for name in ("linear_cka", "debiased_linear_cka", "cca_mean_rho"):
        r_np = rl.stats.permutation_test(x, y, measure=name, n_permutations=10)
        r_t = rl.stats.permutation_test(torch.from_numpy(x), torch.from_numpy(y), measure=name, n_permutations=10)
        np.testing.assert_allclose(r_t.null, r_np.null, atol=1e-12)
        j_t = rl.stats.jackknife(torch.from_numpy(x), torch.from_numpy(y), measure=name)
        np.testing.assert_allclose(j_t.values, rl.stats.jackknife(x, y, measure=name).values, atol=1e-12)
    b_t = rl.stats.bootstrap(torch.from_numpy(x), torch.from_numpy(y), n_resamples=10, measure="debiased_linear_cka")
    b_np = rl.stats.bootstrap(x, y, n_resamples=10, measure="debiased_linear_cka")
    np.testing.assert_allclose(b_t.samples, b_np.samples, atol=1e-12)


def test_float32_measures_compute_the_null_in_float32():
    x, y = _pair()
    m = rl.measure("linear_cka", dtype="float32")
    r = rl.stats.permutation_test(x, y, measure=m, n_permutations=10)
    r64 = rl.stats.permutation_test(x, y, n_permutations=10)
    assert r.statistic == pytest.approx(m(x, y), abs=1e-6)
    np.testing.assert_allclose(r.null, r64.null, atol=1e-5)
    assert not np.array_equal(r.null, r64.null)


def test_uninformative_cca_warns():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 8)), rng.standard_normal((10, 8))
    with pytest.warns(rl.UninformativeWarning, match="p-value is 1"):
        r = rl.stats.permutation_test(x, y, measure="cca_mean_rho", n_permutations=5)
    assert r.pvalue == 1.0


# ----------------------------------------------------------------------------- errors

X, Y = _pair()


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.stats.permutation_test(X, Y, n_permutations=0), rl.UnknownOptionError, "n_permutations must be an integer >= 1; got 0"),
    (lambda: rl.stats.permutation_test(X, Y, n_permutations=2.5), rl.UnknownOptionError, "n_permutations must be an integer"),
    (lambda: rl.stats.permutation_test(X, Y, alternative="bigger"), rl.UnknownOptionError, "alternative must be one of"),
    (lambda: rl.stats.permutation_test(X, Y, groups_mode="across"), rl.UnknownOptionError, "groups_mode must be one of"),
    (lambda: rl.stats.permutation_test(X, Y, seed=-1), rl.UnknownOptionError, "seed must be a non-negative integer"),
    (lambda: rl.stats.permutation_test(X, Y, seed="zero"), rl.UnknownOptionError, "seed must be"),
    (lambda: rl.stats.permutation_test(X, Y, measure="nope"), rl.UnknownOptionError, "measure must be one of"),
    (lambda: rl.stats.permutation_test(X, Y[:10]), rl.ShapeError, "same number of examples"),
    (lambda: rl.stats.permutation_test(X[:3], Y[:3], measure="debiased_linear_cka"), rl.TooFewExamplesError, "at least 4 examples"),
    (lambda: rl.stats.permutation_test(X, Y, groups=np.arange(10)), rl.ShapeError, r"one integer label per example: shape \(24,\); got shape \(10,\)"),
    (lambda: rl.stats.permutation_test(X, Y, groups=np.zeros(24, int)), rl.ShapeError, "single group"),
    (lambda: rl.stats.permutation_test(X, Y, groups=np.linspace(0, 1, 24)), rl.ShapeError, "integer labels; got dtype float64"),
    (lambda: rl.stats.permutation_test(X, Y, groups=np.repeat([0, 1, 2], [4, 8, 12])), rl.ShapeError, "no two of the 3 groups have the same size"),
    (lambda: rl.stats.permutation_test(X, Y, groups=np.arange(24), groups_mode="within"), rl.ShapeError, "every group holds one example"),
    (lambda: rl.stats.permutations(24, 0), rl.UnknownOptionError, "n_permutations must be an integer >= 1"),
    (lambda: rl.stats.bootstrap(X, Y, n_resamples=1), rl.UnknownOptionError, "n_resamples must be an integer >= 2"),
    (lambda: rl.stats.bootstrap(X, Y, confidence=95), rl.UnknownOptionError, "confidence must be a number strictly between 0 and 1"),
    (lambda: rl.stats.bootstrap(X, Y, method="basic"), rl.UnknownOptionError, "method must be one of 'bca', 'percentile'"),
    (lambda: rl.stats.bootstrap(X[:7], Y[:7], measure="debiased_linear_cka"), rl.TooFewExamplesError, "at least 8 examples; got n = 7"),
    (lambda: rl.stats.bootstrap(X, Y, groups=np.repeat([0, 1], 12)), rl.TooFewExamplesError, "pass at least 3 groups"),
    (lambda: rl.stats.jackknife(X[:4], Y[:4], measure="debiased_linear_cka"), rl.TooFewExamplesError, "at least 4 examples; got n = 4"),
    (lambda: rl.stats.jackknife(X, Y, measure="debiased_linear_cka", groups=np.repeat([0, 1], [21, 3])), rl.TooFewExamplesError, "largest group"),
    (lambda: rl.stats.difference_test(X, Y, Y[:5]), rl.ShapeError, "X and Z must have the same number of examples"),
    (lambda: rl.stats.difference_test(X, Y, Y, method="wald"), rl.UnknownOptionError, "method must be one of 'jackknife', 'bootstrap'"),
    (lambda: rl.stats.difference_test(X, Y, 2 * Y), rl.ReplensError, "standard error of m\\(X, Y\\) - m\\(X, Z\\) is 0"),
    (lambda: rl.stats.compare({"x": X}, n_permutations=-1), rl.UnknownOptionError, "n_permutations must be an integer >= 0"),
    (lambda: rl.stats.compare({"x": X}, n_resamples=1), rl.UnknownOptionError, "n_resamples must be 0"),
    (lambda: rl.stats.compare({"x": X}, correction="bonferroni"), rl.UnknownOptionError, "correction must be one of 'maxT', 'holm', None"),
    (lambda: rl.stats.compare({"x": X}, jackknife="yes"), rl.UnknownOptionError, "jackknife must be True or False"),
    (lambda: rl.stats.compare({"x": X}, conv="dft"), rl.UnknownOptionError, "conv='dft'"),
    (lambda: rl.stats.compare({"x": X}, n_permutations=5, groups=np.arange(3)), rl.ShapeError, "one integer label per example"),
    (lambda: rl.stats.compare({"x": X}, measures=()), rl.UnknownOptionError, "measures is empty"),
    (lambda: rl.stats.compare({}, n_permutations=5), rl.ShapeError, "reps_a must be a non-empty mapping"),
    (lambda: rl.stats.compare({"x": X}, [X], n_permutations=5), rl.ShapeError, "reps_b must be a non-empty mapping"),
])
def test_errors_are_raised_before_any_work_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bootstrap_redraws_or_raises_never_nan():
    rng = np.random.default_rng(0)
    # a binary feature: some resamples have it constant; the measure is still defined on X's other column
    x = np.column_stack([np.r_[np.ones(3), np.zeros(5)], rng.standard_normal(8)])
    b = rl.stats.bootstrap(x, rng.standard_normal((8, 2)), n_resamples=50, method="percentile")
    assert np.all(np.isfinite(b.samples))

    def picky(a, c):  # undefined on any sample with a repeated example
        if np.unique(a, axis=0).shape[0] < a.shape[0]:
            raise rl.DegenerateInputError("repeated examples")
        return rl.cka(a, c)

    with pytest.raises(rl.ReplensError, match="undefined on .* resamples"):
        rl.stats.bootstrap(x, rng.standard_normal((8, 2)), measure=picky, n_resamples=5, method="percentile")


def test_alternatives_count_the_right_tail():
    x, y = _pair()
    greater = rl.stats.permutation_test(x, y, n_permutations=30, seed=2)
    less = rl.stats.permutation_test(x, y, n_permutations=30, seed=2, alternative="less")
    both = rl.stats.permutation_test(x, y, n_permutations=30, seed=2, alternative="two-sided")
    np.testing.assert_array_equal(greater.null, less.null)
    assert greater.pvalue == (1 + np.sum(greater.null >= greater.statistic)) / 31
    assert less.pvalue == (1 + np.sum(less.null <= less.statistic)) / 31 == 1.0
    assert both.pvalue == min(1.0, 2 * min(greater.pvalue, less.pvalue)) and both.alternative == "two-sided"


@pytest.mark.cuda
def test_cuda_tensors_run_on_the_device_and_match_numpy():
    x, y = _pair(n=64, p=8, q=6)
    xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    for name in ("linear_cka", "debiased_linear_cka", "rbf_cka"):
        np.testing.assert_allclose(rl.stats.permutation_test(xt, yt, measure=name, n_permutations=20).null,
                                   rl.stats.permutation_test(x, y, measure=name, n_permutations=20).null, atol=1e-10)
        np.testing.assert_allclose(rl.stats.bootstrap(xt, yt, measure=name, n_resamples=10).samples,
                                   rl.stats.bootstrap(x, y, measure=name, n_resamples=10).samples, atol=1e-10)


# ----------------------------------------------------------------------------- moments

@pytest.mark.parametrize("kind", ["centred_gram", "any_symmetric"])
def test_permutation_moments_equal_the_enumeration_of_every_permutation(kind):
    from replens.stats.moments import permutation_moments

    rng = np.random.default_rng(8)
    n = 6
    if kind == "centred_gram":
        x, y = rng.standard_normal((n, 3)), rng.standard_normal((n, 2)) ** 2
        x, y = x - x.mean(0), y - y.mean(0)
        k, l = x @ x.T, y @ y.T
    else:
        k, l = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        k, l = k + k.T, l + l.T
    null = np.array([np.sum(k * l[np.ix_(order, order)]) for order in itertools.permutations(range(n))])
    mean, variance, skewness = permutation_moments(k, l)
    centred = null - null.mean()
    assert mean == pytest.approx(null.mean(), rel=1e-10)
    assert variance == pytest.approx(null.var(), rel=1e-10)
    assert skewness == pytest.approx(np.mean(centred**3) / null.var() ** 1.5, rel=1e-9)


@pytest.mark.parametrize("name", ["linear_cka", "linear_hsic", "rbf_cka"])
def test_moments_pvalue_agrees_with_the_monte_carlo_test(name):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((50, 6))
    y = 0.05 * x @ rng.standard_normal((6, 6)) + rng.standard_normal((50, 6))
    monte_carlo = rl.stats.permutation_test(x, y, measure=name, n_permutations=4000, seed=1)
    moments = rl.stats.permutation_test(x, y, measure=name, method="moments")
    assert 0.02 < monte_carlo.pvalue < 0.98  # in the bulk, where the comparison means something
    assert moments.pvalue == pytest.approx(monte_carlo.pvalue, abs=0.03)
    mean, variance, _ = moments.null_moments
    assert mean == pytest.approx(monte_carlo.null.mean(), abs=4 * np.sqrt(variance / 4000))
    assert moments.method == "moments" and moments.n_permutations == 0 and moments.null.size == 0
    less = rl.stats.permutation_test(x, y, measure=name, method="moments", alternative="less")
    assert less.pvalue == pytest.approx(1 - moments.pvalue, abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(measure="debiased_linear_cka"), "method='moments' has closed forms for linear_cka"),
    (dict(measure="cca_mean_rho"), "method='moments' has closed forms"),
    (dict(groups=np.repeat(np.arange(12), 2)), "with groups use method='monte_carlo'"),
])
def test_moments_method_refuses_what_it_cannot_do(kwargs, match):
    with pytest.raises(rl.UnknownOptionError, match=match):
        rl.stats.permutation_test(X, Y, method="moments", **kwargs)
    with pytest.raises(rl.UnknownOptionError, match="method must be one of 'monte_carlo', 'moments'"):
        rl.stats.permutation_test(X, Y, method="exact")
