"""Streaming estimators: exact agreement with the in-memory measures, merges, large offsets,
minibatch CKA against an explicit Gram-matrix reference, bounded memory, backends and
every error path."""

from __future__ import annotations

import doctest
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import replens as rl
from replens import streaming

SEEDS = range(5)


def pair(seed: int = 0, n: int = 240, p1: int = 7, p2: int = 5, offset: float = 0.0):
    """A well-conditioned correlated pair with non-zero column means (plus `offset`)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p1)) + rng.normal(size=p1)
    y = x[:, :3] @ rng.standard_normal((3, p2)) + 0.7 * rng.standard_normal((n, p2)) + 2.0
    return x + offset, y + offset


def batch_sizes(seed: int, n: int) -> list[int]:
    """Random batch sizes summing to `n`, with a batch of one example in the middle."""
    rng = np.random.default_rng(1000 + seed)
    sizes = []
    while sum(sizes) < n - 1:
        sizes.append(int(rng.integers(2, 60)))
    if sizes:
        sizes[-1] -= sum(sizes) - (n - 1)
    sizes.insert(len(sizes) // 2, 1)
    assert sum(sizes) == n and min(sizes) >= 1
    return sizes


def feed(estimator, x, y, sizes):
    start = 0
    for size in sizes:
        estimator.update(x[start:start + size], y[start:start + size])
        start += size
    assert start == len(x)
    return estimator


def close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=tol)


def all_cca_values(cca_result, svccas, pwcca):
    """Flattened CCA-family outputs, for comparing two computations in one go."""
    values = [cca_result.rho, [cca_result.mean_rho, cca_result.r2], list(cca_result.rank)]
    for s in svccas:
        values += [s.rho, [s.mean_rho, s.r2], list(s.kept)]
    return np.concatenate([np.ravel(v) for v in values] + [[pwcca]])


SVCCA_OPTIONS = [dict(), dict(rule="singular_values"), dict(keep=3), dict(threshold=0.6)]


def in_memory_cca(x, y):
    return all_cca_values(rl.cca(x, y), [rl.svcca(x, y, **o) for o in SVCCA_OPTIONS], rl.pwcca(x, y))


def streamed_cca(estimator):
    return all_cca_values(estimator.compute(), [estimator.svcca(**o) for o in SVCCA_OPTIONS],
                          estimator.pwcca())


def assert_exact_estimators_match(x_fed, y_fed, sizes, x, y, tol):
    """Streamed biased and debiased linear CKA and CCA of (x_fed, y_fed) in batches of `sizes`
    equal the in-memory values on (x, y) to `tol`."""
    biased, debiased, cca = streaming.LinearCKA(), streaming.LinearCKA(debiased=True), streaming.CCA()
    for estimator in (biased, debiased, cca):
        feed(estimator, x_fed, y_fed, sizes)
    close(biased.compute(), rl.cka(x, y), tol)
    close(debiased.compute(), rl.cka(x, y, debiased=True), tol)
    close(streamed_cca(cca), in_memory_cca(x, y), tol)


# ----------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_cka_equals_in_memory(seed, debiased):
    x, y = pair(seed)
    sizes = batch_sizes(seed, len(x))
    assert 1 in sizes[1:-1]
    estimator = feed(streaming.LinearCKA(debiased=debiased), x, y, sizes)
    assert estimator.n_examples == len(x)
    close(estimator.compute(), rl.cka(x, y, debiased=debiased), 1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_cca_family_equals_in_memory(seed):
    x, y = pair(seed)
    estimator = feed(streaming.CCA(), x, y, batch_sizes(seed, len(x)))
    result = estimator.compute()
    assert isinstance(result, rl.CCAResult) and result.rho.dtype == np.float64
    assert result.rank == rl.cca(x, y).rank == (7, 5)
    assert isinstance(estimator.svcca(), rl.SVCCAResult)
    assert type(estimator.pwcca()) is float
    close(streamed_cca(estimator), in_memory_cca(x, y), 1e-10)


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(1, 79), max_size=12))
def test_any_batching_equals_in_memory(seed, cuts):
    """Any split into batches (sizes 1 and up) gives the in-memory values."""
    x, y = pair(seed, n=80, p1=4, p2=3)
    edges = [0, *sorted(set(cuts)), 80]
    sizes = [b - a for a, b in zip(edges, edges[1:])]
    assert_exact_estimators_match(x, y, sizes, x, y, 1e-10)


def test_rank_deficient_and_constant_columns_match_in_memory():
    """Duplicated columns and a constant column far from zero: same rank and values."""
    x, y = pair(3, p1=6, p2=5)
    x = np.column_stack([x, x[:, :2], np.full(len(x), 1e6)])  # rank 6 of 9 columns
    y = np.column_stack([y, 2 * y[:, 0] - y[:, 1]])  # rank 5 of 6 columns
    estimator = feed(streaming.CCA(), x, y, batch_sizes(3, len(x)))
    assert estimator.compute().rank == rl.cca(x, y).rank == (6, 5)
    close(streamed_cca(estimator), in_memory_cca(x, y), 1e-10)
    debiased = feed(streaming.LinearCKA(debiased=True), x, y, batch_sizes(3, len(x)))
    close(debiased.compute(), rl.cka(x, y, debiased=True), 1e-10)


def test_single_batch_minibatch_cka_is_debiased_cka():
    """With one batch, the minibatch ratio is the debiased full-data CKA."""
    x, y = pair(1)
    close(streaming.MinibatchCKA().update(x, y).compute(), rl.cka(x, y, debiased=True), 1e-12)


def test_empty_batch_changes_nothing():
    x, y = pair(0)
    estimator = streaming.LinearCKA().update(x[:0], y[:0])
    assert estimator.n_examples == 0 and estimator.n_features == (7, 5)
    estimator.update(x, y).update(x[:0], y[:0])
    assert estimator.n_examples == len(x) and estimator.n_batches == 1
    close(estimator.compute(), rl.cka(x, y), 1e-12)


def test_doctests():
    results = doctest.testmod(streaming, optionflags=doctest.ELLIPSIS)
    assert results.attempted >= 4 and results.failed == 0


# ----------------------------------------------------------------------------- merge


def shards(x, y, make, seed: int = 0):
    """Estimators over disjoint shards of (x, y), each fed in random batches."""
    edges = [0, 37, 38, 150, len(x)]  # a one-example shard too
    estimators = []
    for k, (a, b) in enumerate(zip(edges, edges[1:])):
        estimators.append(feed(make(), x[a:b], y[a:b], batch_sizes(seed + k, b - a)))
    return estimators


MAKERS = {
    "linear_cka": lambda: streaming.LinearCKA(),
    "linear_cka.debiased": lambda: streaming.LinearCKA(debiased=True),
    "cca": lambda: streaming.CCA(),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_merge_of_shards_equals_one_pass(name, seed):
    x, y = pair(seed)
    make = MAKERS[name]
    one_pass = feed(make(), x, y, batch_sizes(seed, len(x)))
    a, b, c, d = shards(x, y, make, seed)
    merged = make().merge(a.merge(b)).merge(c.merge(d))  # into an empty one, tree order
    assert merged.n_examples == one_pass.n_examples == len(x)
    assert merged.n_batches == a.n_batches + c.n_batches
    if name == "cca":
        close(streamed_cca(merged), streamed_cca(one_pass), 1e-12)
    else:
        close(merged.compute(), one_pass.compute(), 1e-12)


def test_merge_leaves_other_unchanged_and_survives_pickling():
    x, y = pair(2)
    first, second = streaming.LinearCKA(debiased=True), streaming.LinearCKA(debiased=True)
    first.update(x[:100], y[:100])
    second.update(x[100:], y[100:])
    before = second.compute()
    copy = pickle.loads(pickle.dumps(first))  # as if accumulated in another process
    copy.merge(second)
    assert second.compute() == before and second.n_examples == len(x) - 100
    close(copy.compute(), rl.cka(x, y, debiased=True), 1e-12)
    assert first.n_examples == 100
    adopted = streaming.LinearCKA(debiased=True).merge(second)  # accumulates in its own arrays
    adopted.update(x[:100], y[:100])
    second.update(x[:4], y[:4])
    assert adopted.n_examples == len(x) and second.n_examples == len(x) - 96
    close(adopted.compute(), rl.cka(x, y, debiased=True), 1e-12)


def test_minibatch_merge_equals_one_pass():
    x, y = pair(4, n=200)
    one_pass = streaming.MinibatchCKA()
    shard_a, shard_b = streaming.MinibatchCKA(), streaming.MinibatchCKA()
    for k, start in enumerate(range(0, 200, 25)):
        batch = x[start:start + 25], y[start:start + 25]
        one_pass.update(*batch)
        (shard_a if k % 2 else shard_b).update(*batch)
    merged = shard_a.merge(shard_b)
    assert merged.n_batches == 8 and merged.n_examples == 200
    close(merged.compute(), one_pass.compute(), 1e-12)


# ----------------------------------------------------------------------------- large offsets


def test_large_offsets_keep_precision():
    """Adding 1e6 to every column changes nothing beyond 1e-8 (co-moments are centred)."""
    x, y = pair(5)
    shifted_x, shifted_y = x + 1e6, y + 1e6
    sizes = batch_sizes(5, len(x))
    assert_exact_estimators_match(shifted_x, shifted_y, sizes, x, y, 1e-8)
    minibatch, reference = streaming.MinibatchCKA(), streaming.MinibatchCKA()
    for start in range(0, len(x), 40):
        minibatch.update(shifted_x[start:start + 40], shifted_y[start:start + 40])
        reference.update(x[start:start + 40], y[start:start + 40])
    close(minibatch.compute(), reference.compute(), 1e-8)
    # The offset is large enough to matter: raw sums lose far more than 1e-8.
    raw = shifted_x.T @ shifted_x - len(x) * np.outer(shifted_x.mean(0), shifted_x.mean(0))
    centred = (x - x.mean(0)).T @ (x - x.mean(0))
    assert np.max(np.abs(raw - centred)) / np.max(np.abs(centred)) > 1e-8


# ----------------------------------------------------------------------------- minibatch CKA


def song_unbiased_hsic(k, l):
    """Song et al. (2012) eq. 5 on raw (uncentred) n x n Gram matrices."""
    n = k.shape[0]
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    ones = np.ones(n)
    value = (np.trace(k @ l) + (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
             - 2.0 / (n - 2) * (ones @ k @ l @ ones))
    return value / (n * (n - 3))


def reference_minibatch_cka(batches):
    """Nguyen et al. (2021) eq. 2: mean HSIC_1 over minibatches, then the CKA ratio."""
    terms = np.array([[song_unbiased_hsic(x @ x.T, y @ y.T), song_unbiased_hsic(x @ x.T, x @ x.T),
                       song_unbiased_hsic(y @ y.T, y @ y.T)] for x, y in batches])
    xy, xx, yy = terms.mean(axis=0)
    return xy / np.sqrt(xx * yy)


@pytest.mark.parametrize("seed", SEEDS)
def test_minibatch_cka_equals_explicit_gram_reference(seed):
    rng = np.random.default_rng(seed)
    x, y = pair(seed, n=300, p1=9, p2=6)
    sizes = [4, 5, 10, 13, 64, 100, 104]  # 4 to 13: Gram path (b <= p_x + p_y); larger: features
    rng.shuffle(sizes)
    estimator = streaming.MinibatchCKA()
    batches, start = [], 0
    for size in sizes:
        batches.append((x[start:start + size], y[start:start + size]))
        estimator.update(*batches[-1])
        start += size
    assert estimator.n_batches == len(sizes) and estimator.n_examples == 300
    close(estimator.compute(), reference_minibatch_cka(batches), 1e-10)
    # A different quantity from full-data CKA, biased or debiased.
    assert abs(estimator.compute() - rl.cka(x, y, debiased=True)) > 1e-6
    assert abs(estimator.compute() - rl.cka(x, y)) > 1e-6


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize("name", sorted(MAKERS) + ["minibatch"])
def test_memory_does_not_grow_with_examples(name):
    make = MAKERS.get(name, streaming.MinibatchCKA)
    rng = np.random.default_rng(0)
    estimator = make()
    assert estimator.nbytes == (24 if name == "minibatch" else 0)
    sizes = {}
    for k in range(1, 1001):
        estimator.update(rng.standard_normal((4, 5)), rng.standard_normal((4, 3)))
        if k in (10, 1000):
            sizes[k] = estimator.nbytes
    assert estimator.n_examples == 4000
    assert sizes[10] == sizes[1000]
    p1, p2 = 5, 3
    expected = {"linear_cka": p1 * p1 + p2 * p2 + p1 * p2 + p1 + p2,
                "linear_cka.debiased": p1 * p1 + p2 * p2 + p1 * p2 + 3 * (p1 + p2) + 3,
                "cca": p1 * p1 + p2 * p2 + p1 * p2 + p1 + p2, "minibatch": 3}[name]
    assert sizes[1000] == 8 * expected


# ----------------------------------------------------------------------------- backends


def test_torch_tensors_and_mixed_backends():
    x, y = pair(6)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    sizes = batch_sizes(6, len(x))
    results = {}
    for label, (a, b) in {"numpy": (x, y), "torch": (tx, ty), "mixed": (x, ty)}.items():
        cka, cca = streaming.LinearCKA(debiased=True), streaming.CCA()
        feed(cka, a, b, sizes)
        feed(cca, a, b, sizes)
        results[label] = np.concatenate([[cka.compute()], streamed_cca(cca)])
        assert type(cka.compute()) is float
    close(results["torch"], results["numpy"], 1e-12)
    close(results["mixed"], results["numpy"], 1e-12)
    # float32 tensors are accumulated in float64: the same as the float64 copy of those numbers.
    single = feed(streaming.LinearCKA(), tx, ty.float(), sizes).compute()
    close(single, rl.cka(x, ty.float().double().numpy()), 1e-10)
    # Accumulators stay with the first batch; later batches and merges move to them.
    on_torch = feed(streaming.CCA(), tx[:100], ty[:100], [50, 50])
    on_numpy = feed(streaming.CCA(), x[100:], y[100:], [70, 70])
    on_numpy.update(tx[:0], ty[:0])
    on_torch.merge(on_numpy).update(x[:0], y[:0])
    assert all(isinstance(a, torch.Tensor) for a in on_torch._moments.arrays())
    close(on_torch.compute().rho, rl.cca(x, y).rho, 1e-10)
    minibatch = streaming.MinibatchCKA()
    for start in range(0, 240, 60):
        minibatch.update(tx[start:start + 60], y[start:start + 60])
    assert type(minibatch.compute()) is float


@pytest.mark.cuda
def test_cuda_accumulates_on_the_device():
    x, y = pair(7)
    sizes = batch_sizes(7, len(x))
    gx, gy = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    cka, cca, minibatch = streaming.LinearCKA(debiased=True), streaming.CCA(), streaming.MinibatchCKA()
    feed(cka, gx, gy, sizes)
    feed(cca, gx, gy, sizes)
    assert all(a.is_cuda for a in cca._moments.arrays())
    close(cka.compute(), rl.cka(x, y, debiased=True), 1e-10)
    close(streamed_cca(cca), in_memory_cca(x, y), 1e-10)
    cpu = feed(streaming.CCA(), x, y, sizes)
    close(streamed_cca(cpu.merge(cca)), streamed_cca(feed(streaming.CCA(), np.vstack([x, x]),
                                                          np.vstack([y, y]), sizes + sizes)), 1e-10)
    for start in range(0, 240, 60):
        minibatch.update(gx[start:start + 60], gy[start:start + 60])
    close(minibatch.compute(), reference_minibatch_cka(
        [(x[s:s + 60], y[s:s + 60]) for s in range(0, 240, 60)]), 1e-10)


# ----------------------------------------------------------------------------- errors


ESTIMATORS = {
    "linear_cka": streaming.LinearCKA,
    "cca": streaming.CCA,
    "minibatch": streaming.MinibatchCKA,
}


def good(n: int = 8, p: int = 3, seed: int = 0):
    return np.random.default_rng(seed).standard_normal((n, p))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_update_rejects_bad_batches_and_keeps_its_state(name):
    estimator = ESTIMATORS[name]().update(good(), good(seed=1))
    with pytest.raises(rl.ShapeError, match=r"x_batch must be 2-D .* got 1-D shape \(8,\).*reshape"):
        estimator.update(good()[:, 0], good())
    with pytest.raises(rl.ShapeError, match=r"x_batch and y_batch must have the same number of "
                                            r"examples.*x_batch \(8, 3\) and y_batch \(7, 3\)"):
        estimator.update(good(), good(7))
    bad = good()
    bad[2, 1] = np.nan
    with pytest.raises(rl.NonFiniteError, match=r"y_batch contains NaN .*\(2, 1\)"):
        estimator.update(good(), bad)
    with pytest.raises(rl.DtypeError, match=r"x_batch must hold real numbers.*bool"):
        estimator.update(good() > 0, good())
    with pytest.raises(rl.ShapeError, match=r"x_batch has 4 features \(columns\) but earlier "
                                            r"batches had 3; got x_batch of shape \(8, 4\)"):
        estimator.update(good(p=4), good())
    with pytest.raises(rl.ShapeError, match=r"y_batch has 2 features .* had 3"):
        estimator.update(good(), good(p=2))
    assert estimator.n_examples == 8 and estimator.n_batches == 1


@pytest.mark.parametrize("estimator, minimum, got", [
    (streaming.LinearCKA(), 2, 1),
    (streaming.LinearCKA(debiased=True), 4, 3),
    (streaming.CCA(), 2, 1),
])
def test_compute_with_too_few_examples(estimator, minimum, got):
    with pytest.raises(rl.TooFewExamplesError, match=rf"need at least {minimum} examples .*got 0 over 0"):
        estimator.compute()
    estimator.update(good(got), good(got))
    reason = r" \(the debiased estimator divides by n \(n - 3\)\)" if minimum == 4 else ""
    with pytest.raises(rl.TooFewExamplesError,
                       match=rf"need at least {minimum} examples \(rows\) in total{reason}; got {got} "
                             rf"over 1 batch\(es\)\. Pass more batches"):
        estimator.compute()
    if isinstance(estimator, streaming.CCA):
        with pytest.raises(rl.TooFewExamplesError, match="need at least 2"):
            estimator.svcca()
        with pytest.raises(rl.TooFewExamplesError, match="need at least 2"):
            estimator.pwcca()


def test_minibatch_needs_four_examples_per_batch_and_one_batch():
    estimator = streaming.MinibatchCKA()
    with pytest.raises(rl.TooFewExamplesError, match=r"no minibatch yet.*4 or more"):
        estimator.compute()
    with pytest.raises(rl.TooFewExamplesError,
                       match=r"need at least 4 examples \(rows\) \(the unbiased HSIC of each minibatch "
                             r"divides by b \(b - 3\)\); got 3 in x_batch \(3, 3\)"):
        estimator.update(good(3), good(3))
    assert estimator.n_batches == 0


@pytest.mark.parametrize("name", ["linear_cka", "linear_cka.debiased", "cca"])
def test_constant_columns_are_degenerate(name):
    estimator = MAKERS[name]()
    estimator.update(np.full((10, 3), 5.0), good(10)).update(np.full((5, 3), 5.0), good(5))
    with pytest.raises(rl.DegenerateInputError, match=r"every column of X is constant over the 15 examples"):
        estimator.compute() if name != "cca" else estimator.svcca()
    swapped = MAKERS[name]().update(good(10), np.full((10, 2), -1e6))
    with pytest.raises(rl.DegenerateInputError, match="every column of Y is constant"):
        swapped.compute()


def test_minibatch_constant_batches_are_degenerate_at_compute():
    estimator = streaming.MinibatchCKA().update(np.ones((6, 3)), good(6))
    with pytest.raises(rl.DegenerateInputError, match=r"mean unbiased HSIC over 1 minibatch.*HSIC\(X, X\) = 0"):
        estimator.compute()


def test_debiased_self_term_not_positive():
    x = np.array([[0.0], [0.0], [0.0], [1.0]])  # its U-centred Gram matrix is 0: HSIC_1(X, X) = 0
    estimator = streaming.LinearCKA(debiased=True).update(x, good(4))
    with pytest.raises(rl.DegenerateInputError, match=r"debiased self-similarity estimate is not positive"):
        estimator.compute()
    with pytest.raises(rl.DegenerateInputError, match="not positive"):
        rl.cka(x, good(4), debiased=True)  # the in-memory measure agrees


def test_merge_errors():
    with pytest.raises(rl.ReplensError, match=r"LinearCKA.merge needs another LinearCKA; got CCA"):
        streaming.LinearCKA().merge(streaming.CCA())
    estimator = streaming.CCA().update(good(), good())
    with pytest.raises(rl.ReplensError, match=r"cannot merge a CCA with itself.*counted twice"):
        estimator.merge(estimator)
    with pytest.raises(rl.UnknownOptionError, match=r"this one has debiased=False, other has debiased=True"):
        streaming.LinearCKA().merge(streaming.LinearCKA(debiased=True))
    with pytest.raises(rl.ShapeError, match=r"n_features \(p_x, p_y\) is \(3, 3\) here and \(3, 2\) in other"):
        estimator.merge(streaming.CCA().update(good(), good(p=2)))
    with pytest.raises(rl.ShapeError, match=r"\(4, 4\) in other"):
        streaming.MinibatchCKA().update(good(), good()).merge(streaming.MinibatchCKA().update(good(p=4), good(p=4)))
    assert estimator.n_examples == 8


def test_option_errors():
    with pytest.raises(rl.UnknownOptionError, match=r"debiased must be one of False, True; got 'yes'"):
        streaming.LinearCKA(debiased="yes")
    with pytest.raises(TypeError):
        streaming.LinearCKA(True)  # keyword-only
    estimator = streaming.CCA().update(*pair(0))
    with pytest.raises(rl.UnknownOptionError, match=r"rule must be one of 'variance', 'singular_values'; got 'svd'"):
        estimator.svcca(rule="svd")
    with pytest.raises(rl.UnknownOptionError, match=r"threshold must be a number in \(0, 1\]; got 0"):
        estimator.svcca(threshold=0)
    with pytest.raises(rl.UnknownOptionError, match=r"keep must be a positive integer; got 0"):
        estimator.svcca(keep=0)


def test_warnings_point_at_the_caller():
    estimator = streaming.CCA().update(*pair(0))
    with pytest.warns(rl.UninformativeWarning, match=r"keep=6 exceeds the rank 5 of centred Y") as record:
        assert estimator.svcca(keep=6).kept == (6, 5)
    assert [w.filename for w in record] == [__file__]
    wide = streaming.CCA().update(good(8, 6), good(8, 5, seed=1))
    with pytest.warns(rl.UninformativeWarning, match=r"at least 4 canonical correlations equal 1") as record:
        rho = wide.compute().rho
    assert record[0].filename == __file__
    close(rho[:4], 1.0, 1e-12)


def test_ill_conditioned_co_moments_warn_about_accuracy():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 4))
    x = z * np.array([1.0, 1.0, 1.0, 1e-6])  # cond(Xc)^2 ~ 1e12
    y = z + 0.3 * rng.standard_normal((500, 4))
    estimator = feed(streaming.CCA(), x, y, [250, 250])
    with pytest.warns(RuntimeWarning, match=r"accurate only to about eps \* cond = \d\.\de-0[45]") as record:
        rho = estimator.compute().rho
    assert record[0].filename == __file__
    close(rho, rl.cca(x, y).rho, 1e-3)  # within the stated bound
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feed(streaming.CCA(), x, y, [500]).svcca(keep=3)  # the weak direction dropped: no warning


def test_repr():
    estimator = streaming.LinearCKA(debiased=True).update(good(), good(p=2))
    assert repr(estimator) == "LinearCKA(debiased=True, n_examples=8, n_features=(3, 2))"
    assert repr(streaming.CCA()) == "CCA(n_examples=0, n_features=None)"
    assert repr(streaming.MinibatchCKA()) == "MinibatchCKA(n_batches=0, n_examples=0, n_features=None)"


def test_the_accuracy_warning_is_replens_accuracy_warning():
    """Issue 10 item 14: the streaming accuracy warning is rl.AccuracyWarning (a RuntimeWarning
    subclass, so filters on RuntimeWarning still catch it), not a bare RuntimeWarning."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 4))
    x = z * np.array([1.0, 1.0, 1.0, 1e-6])
    y = z + 0.3 * rng.standard_normal((500, 4))
    estimator = feed(streaming.CCA(), x, y, [250, 250])
    for method in (lambda: estimator.compute(), lambda: estimator.pwcca()):
        with pytest.warns(rl.AccuracyWarning, match=r"accurate only to about eps \* cond") as record:
            method()
        assert all(type(w.message) is rl.AccuracyWarning for w in record)
    assert issubclass(rl.AccuracyWarning, RuntimeWarning)


def test_streaming_pwcca_with_tied_correlations_equals_the_pair_function():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    y = np.hstack([x[:, :3], np.tanh(x[:, 3:]) + 0.3 * rng.standard_normal((300, 3))])
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    estimator = feed(streaming.CCA(), x, y @ q, [100, 120, 80])
    close(estimator.pwcca(), rl.pwcca(x, y), 1e-10)
