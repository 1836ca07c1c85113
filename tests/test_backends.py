"""numpy and torch (CPU, and CUDA when present) give the same results, in numpy float64 /
Python float, for every measure."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import replens as rl

from _measures import PAIR_FUNCTIONS, with_variants

# Pair-function options and outputs beyond the registry's defaults (not registered measures):
# canonical-correlation vectors, other SVCCA rules, kernels, estimators and bandwidths.
VARIANTS = {
    "cca.rho": lambda x, y, **kw: rl.cca(x, y, **kw).rho,
    "svcca.rho": lambda x, y, **kw: rl.svcca(x, y, **kw).rho,
    "svcca.rho[singular_values]": lambda x, y, **kw: rl.svcca(x, y, rule="singular_values", **kw).rho,
    "svcca.rho[keep=3]": lambda x, y, **kw: rl.svcca(x, y, keep=3, **kw).rho,
    "cka.rbf.debiased": lambda x, y, **kw: rl.cka(x, y, kernel="rbf", debiased=True, **kw),
    "cka.rbf.bw0.5": lambda x, y, **kw: rl.cka(x, y, kernel="rbf", bandwidth=0.5, **kw),
    "cka.callable": lambda x, y, **kw: rl.cka(x, y, kernel=lambda a: a @ a.T, **kw),
    "hsic.debiased": lambda x, y, **kw: rl.hsic(x, y, debiased=True, **kw),
    "hsic.rbf": lambda x, y, **kw: rl.hsic(x, y, kernel="rbf", **kw),
}
# Every registered measure (rl.measure(name, **options)(X, Y)), then the variants.
MEASURES = with_variants(PAIR_FUNCTIONS, VARIANTS)
ALL = sorted(MEASURES)

# (n, p1, p2): tall (feature-space / Gram-basis paths) and wide (Gram-matrix / SVD paths;
# the CCA family warns there, which is expected and ignored).
SHAPES = [(150, 7, 5), (40, 30, 50)]


def pair(n: int, p1: int, p2: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p1)) + rng.normal(size=p1)
    k = min(3, p1)
    y = x[:, :k] @ rng.standard_normal((k, p2)) + 0.5 * rng.standard_normal((n, p2)) - 1.0
    return x, y


def compute(f, x, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        return f(x, y, **kw)


def check_type(value, like):
    """Results are numpy float64 arrays or Python floats whatever the backend."""
    if isinstance(like, np.ndarray):
        assert type(value) is np.ndarray and value.dtype == np.float64, type(value)
    else:
        assert type(value) is float, type(value)


def close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", SHAPES, ids=["tall", "wide"])
def test_torch_float64_cpu_matches_numpy(name, shape):
    f = MEASURES[name]
    x, y = pair(*shape)
    expected = compute(f, x, y)
    got = compute(f, torch.from_numpy(x), torch.from_numpy(y))
    check_type(got, expected)
    close(got, expected, 1e-10)


@pytest.mark.parametrize("name", ALL)
def test_torch_float32_and_float16_accepted(name):
    """Low-precision tensors are computed in float64 by default: same as numpy on the same
    numbers."""
    f = MEASURES[name]
    x, y = pair(*SHAPES[0])
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        tx, ty = torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)
        expected = compute(f, tx.double().numpy(), ty.double().numpy())
        got = compute(f, tx, ty)
        check_type(got, expected)
        close(got, expected, 1e-10)


@pytest.mark.parametrize("name", ALL)
def test_torch_integer_tensors_accepted(name):
    f = MEASURES[name]
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, size=(60, 4))
    y = x[:, :2] @ rng.integers(-2, 3, size=(2, 3)) + rng.integers(0, 5, size=(60, 3))
    expected = compute(f, x.astype(np.float64), y.astype(np.float64))
    close(compute(f, torch.from_numpy(x), torch.from_numpy(y).to(torch.int32)), expected, 1e-10)


@pytest.mark.parametrize("name", ALL)
def test_torch_dtype_float32_option(name):
    f = MEASURES[name]
    x, y = pair(*SHAPES[0])
    expected = compute(f, x, y)
    got = compute(f, torch.from_numpy(x), torch.from_numpy(y), dtype="float32")
    check_type(got, expected)
    close(got, expected, 1e-4)
    close(got, compute(f, x, y, dtype="float32"), 1e-5)  # numpy float32 agrees too


@pytest.mark.parametrize("name", ALL)
def test_mixed_numpy_and_torch(name):
    """The implementation moves the numpy array to the tensor's backend and device: mixed
    pairs work, in both orders, and equal the all-numpy result."""
    f = MEASURES[name]
    x, y = pair(*SHAPES[0])
    expected = compute(f, x, y)
    for got in (compute(f, x, torch.from_numpy(y)), compute(f, torch.from_numpy(x), y)):
        check_type(got, expected)
        close(got, expected, 1e-10)
    got = compute(f, x, torch.from_numpy(y).float())  # numpy float64 with torch float32
    check_type(got, expected)
    close(got, compute(f, x, y.astype(np.float32)), 1e-10)


@pytest.mark.parametrize("name", ALL)
def test_requires_grad_and_non_contiguous_tensors(name):
    """Activations captured from a live model (requires_grad) or as transposed views."""
    f = MEASURES[name]
    x, y = pair(*SHAPES[0])
    expected = compute(f, x, y)
    tx = torch.from_numpy(x).clone().requires_grad_(True)
    ty = torch.from_numpy(np.ascontiguousarray(y.T)).T  # non-contiguous view
    assert not ty.is_contiguous()
    got = compute(f, tx, ty)
    check_type(got, expected)
    close(got, expected, 1e-10)
    # numpy non-contiguous / Fortran-ordered / read-only views
    xv = np.asfortranarray(x)
    yv = y[:, ::-1].copy()[:, ::-1]
    yv.setflags(write=False)
    close(compute(f, xv, yv), expected, 1e-10)


@pytest.mark.parametrize("name", ALL)
def test_requires_grad_input_emits_no_torch_warning(name):
    """Activations that require grad are read, not differentiated: no autograd graph and
    no "Converting a tensor with requires_grad=True to a scalar" UserWarning from inside
    replens."""
    f = MEASURES[name]
    x, y = pair(*SHAPES[0])
    tx = torch.from_numpy(x).clone().requires_grad_(True)
    previous = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # torch warns once per process otherwise: order-independent
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", rl.UninformativeWarning)
            f(tx, torch.from_numpy(y))
    finally:
        torch.set_warn_always(previous)


def test_inputs_not_modified():
    x, y = pair(*SHAPES[0])
    tx, ty = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    nx, ny = x.copy(), y.copy()
    for f in MEASURES.values():
        compute(f, tx, ty)
        compute(f, nx, ny)
    assert np.array_equal(tx.numpy(), x) and np.array_equal(ty.numpy(), y)
    assert np.array_equal(nx, x) and np.array_equal(ny, y)


def test_torch_result_objects():
    x, y = pair(*SHAPES[0])
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    r = rl.cca(tx, ty)
    assert type(r.rho) is np.ndarray and r.rho.dtype == np.float64
    assert type(r.mean_rho) is float and type(r.r2) is float
    assert r.rank == (7, 5) and all(type(k) is int for k in r.rank)
    s = rl.svcca(tx, ty)
    assert type(s.rho) is np.ndarray and s.rho.dtype == np.float64
    assert all(type(k) is int for k in s.kept)
    assert s.kept == rl.svcca(x, y).kept


def test_torch_callable_kernel_returning_numpy():
    """A callable may return numpy for a torch input (the contract: 'numpy or same type')."""
    x, y = pair(*SHAPES[0])
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    value = rl.cka(tx, ty, kernel=lambda a: (a @ a.T).numpy())
    close(value, rl.cka(x, y), 1e-10)


def test_torch_errors_are_replens_errors():
    x, y = pair(*SHAPES[0])
    with pytest.raises(rl.ShapeError, match="Y"):
        rl.cka(torch.from_numpy(x), torch.from_numpy(y[:-1]))
    with pytest.raises(rl.ShapeError, match="1-D"):
        rl.cca(torch.from_numpy(x[:, 0]), torch.from_numpy(y))
    bad = torch.from_numpy(y.copy())
    bad[-1, -1] = float("inf")
    with pytest.raises(rl.NonFiniteError, match="Y contains infinite"):
        rl.pwcca(torch.from_numpy(x), bad)


# ----------------------------------------------------------------------------- CUDA

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", SHAPES, ids=["tall", "wide"])
def test_cuda_matches_numpy(name, shape):
    f = MEASURES[name]
    x, y = pair(*shape)
    expected = compute(f, x, y)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    got = compute(f, tx, ty)
    check_type(got, expected)
    close(got, expected, 1e-9)
    # float32 tensors on the GPU, computed in float64 by default
    got32 = compute(f, tx.float(), ty.float())
    close(got32, compute(f, x.astype(np.float32), y.astype(np.float32)), 1e-9)
    # float32 working precision on the GPU
    close(compute(f, tx, ty, dtype="float32"), expected, 1e-4)
    # a numpy array paired with a CUDA tensor is moved to the GPU
    close(compute(f, x, ty), expected, 1e-9)


@cuda
def test_cuda_errors():
    x, y = pair(*SHAPES[0])
    tx = torch.from_numpy(x).cuda()
    bad = torch.from_numpy(y.copy()).cuda()
    bad[3, 2] = float("nan")
    with pytest.raises(rl.NonFiniteError, match="Y contains NaN"):
        rl.cca(tx, bad)
    with pytest.raises(rl.DegenerateInputError):
        rl.cka(tx, torch.ones_like(tx))
