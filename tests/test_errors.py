"""Every input-error path: the specific exception class and the parts of its message
(argument name, what was received, the valid options or the fix)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import replens as rl
from replens import errors

from _measures import INFO, MEASURES, PAIR_FUNCTIONS, pair_function, with_variants

# Pair-function options beyond the registry's defaults (not registered measures): their input
# checks are tested beside those of every registered measure.
VARIANTS = {
    "hsic.rbf": lambda x, y, **kw: rl.hsic(x, y, kernel="rbf", **kw),
    "hsic.debiased": lambda x, y, **kw: rl.hsic(x, y, debiased=True, **kw),
}
# The fewest examples of each variant (the registered measures' come from their MeasureInfo).
VARIANT_MIN_EXAMPLES = {"hsic.rbf": 2, "hsic.debiased": 4}
# Every registered measure (rl.measure(name, **options)(X, Y)), then the variants.
FUNCTIONS = with_variants(PAIR_FUNCTIONS, VARIANTS)
MIN_EXAMPLES = with_variants({name: info.min_examples for name, info in INFO.items()}, VARIANT_MIN_EXAMPLES)
NAMES = sorted(FUNCTIONS)
# The public pair functions: their options are keyword-only.
PUBLIC_FUNCTIONS = {"cca": rl.cca, "svcca": rl.svcca, "pwcca": rl.pwcca,
                    "linear_regression_r2": rl.linear_regression_r2, "cka": rl.cka, "hsic": rl.hsic}
KERNEL_FUNCTIONS = {"cka": rl.cka, "hsic": rl.hsic}


def at(row: int, col: int) -> str:
    """The position of the first bad entry, as "row r, column c" or "(r, c)"."""
    return rf"(row {row}, column {col}|\({row}, {col}\))"


def good(n: int = 12, p: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, p))


# ----------------------------------------------------------------------------- the hierarchy


def test_hierarchy():
    for cls in (rl.ShapeError, rl.NonFiniteError, rl.TooFewExamplesError, rl.DtypeError,
                rl.UnknownOptionError, rl.DegenerateInputError):
        assert issubclass(cls, rl.ReplensError)
        assert issubclass(cls, ValueError)
        assert getattr(errors, cls.__name__) is cls  # re-exported from replens.errors
    assert issubclass(rl.ReplensError, ValueError)
    assert issubclass(rl.DtypeError, TypeError)
    assert issubclass(rl.UninformativeWarning, UserWarning)


def raises(cls, match):
    """pytest.raises that also checks the ReplensError / ValueError contract."""
    class _Ctx:
        def __enter__(self):
            self._ctx = pytest.raises(cls, match=match)
            self._info = self._ctx.__enter__()
            return self._info

        def __exit__(self, *exc):
            suppressed = self._ctx.__exit__(*exc)
            if suppressed:
                assert isinstance(self._info.value, rl.ReplensError)
                assert isinstance(self._info.value, ValueError)
            return suppressed

    return _Ctx()


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("name", NAMES)
def test_one_dimensional_x(name):
    with raises(rl.ShapeError, r"X must be 2-D.*1-D shape \(12,\).*X\.reshape\(-1, 1\)"):
        FUNCTIONS[name](np.arange(12.0), good())


@pytest.mark.parametrize("name", NAMES)
def test_one_dimensional_y(name):
    with raises(rl.ShapeError, r"Y must be 2-D.*1-D shape \(12,\).*Y\.reshape\(-1, 1\)"):
        FUNCTIONS[name](good(), np.arange(12.0))


@pytest.mark.parametrize("name", NAMES)
def test_three_dimensional(name):
    conv = np.zeros((12, 4, 5))
    with raises(rl.ShapeError, r"Y must be 2-D.*3-D shape \(12, 4, 5\).*Y\.reshape\(Y\.shape\[0\], -1\)"):
        FUNCTIONS[name](good(), conv)
    with raises(rl.ShapeError, r"X must be 2-D.*3-D shape \(12, 4, 5\)"):
        FUNCTIONS[name](conv, good())


@pytest.mark.parametrize("name", NAMES)
def test_zero_dimensional(name):
    with raises(rl.ShapeError, r"X must be 2-D.*0-D shape \(\)"):
        FUNCTIONS[name](np.float64(1.0), good())


@pytest.mark.parametrize("name", NAMES)
def test_different_number_of_examples(name):
    with raises(rl.ShapeError, r"same number of examples.*X \(12, 3\).*Y \(11, 4\)"):
        FUNCTIONS[name](good(12, 3), good(11, 4))


# ----------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
@pytest.mark.parametrize("which", ["X", "Y"])
def test_non_finite(name, bad, word, which):
    x, y = good(), good(seed=1)
    (x if which == "X" else y)[5, 2] = bad
    with raises(rl.NonFiniteError, rf"{which} contains {word}.*" + at(5, 2)):
        FUNCTIONS[name](x, y)


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_float16_and_float32(name):
    for dtype in (np.float16, np.float32):
        x = good().astype(dtype)
        x[0, 0] = np.nan
        with raises(rl.NonFiniteError, r"X contains NaN"):
            FUNCTIONS[name](x, good())


def test_float32_overflow_when_cast_is_a_clear_error():
    """Finite float64 values beyond float32's range, with dtype="float32": the cast makes
    them inf. That must surface as a ReplensError naming X, not as numpy's
    'RuntimeWarning: overflow encountered in cast' (an error under this project's
    filterwarnings) or a NaN result."""
    x = good()
    x[3, 1] = 1e300
    with raises(rl.ReplensError, r"X"):
        rl.cka(x, good(), dtype="float32")


# ----------------------------------------------------------------------------- too few examples


@pytest.mark.parametrize("name", NAMES)
def test_one_example(name):
    with raises(rl.TooFewExamplesError, rf"at least {MIN_EXAMPLES[name]} examples.*got 1 in X \(1, 3\)"):
        FUNCTIONS[name](good(1), good(1))


@pytest.mark.parametrize("name", NAMES)
def test_zero_examples(name):
    with raises(rl.TooFewExamplesError, r"got 0"):
        FUNCTIONS[name](np.zeros((0, 3)), np.zeros((0, 2)))


@pytest.mark.parametrize("func", ["cka", "hsic"])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_debiased_needs_four_examples(func, kernel):
    f = KERNEL_FUNCTIONS[func]
    with raises(rl.TooFewExamplesError, r"at least 4 examples.*debiased.*got 3 in X \(3, 3\)"):
        f(good(3), good(3), kernel=kernel, debiased=True)
    f(good(4), good(4, seed=1), kernel=kernel, debiased=True)  # n = 4 is enough
    f(good(3), good(3, seed=1), kernel=kernel)  # and the biased estimator takes n = 3


def test_two_examples_is_enough_for_biased():
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [5.0]])
    assert abs(rl.cka(x, y) - 1.0) < 1e-12
    with pytest.warns(rl.UninformativeWarning):  # 1 + 1 > n - 1: rho = 1 is forced
        assert np.allclose(rl.cca(x, y).rho, [1.0])


# ----------------------------------------------------------------------------- dtypes


BAD_DTYPES = {
    "bool": lambda: good() > 0,
    "complex": lambda: good() + 1j,
    "object": lambda: good().astype(object),
    "string": lambda: good().astype(str),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(BAD_DTYPES))
@pytest.mark.parametrize("which", ["X", "Y"])
def test_bad_dtype(name, kind, which):
    bad = BAD_DTYPES[kind]()
    x, y = (bad, good()) if which == "X" else (good(), bad)
    with raises(rl.DtypeError, rf"{which} must hold real numbers.*dtype {re.escape(str(bad.dtype))}"):
        FUNCTIONS[name](x, y)
    with pytest.raises(TypeError):  # DtypeError is also a TypeError
        FUNCTIONS[name](x, y)


@pytest.mark.parametrize("kind, make", [
    ("bool", lambda: torch.zeros(12, 3, dtype=torch.bool)),
    ("complex", lambda: torch.zeros(12, 3, dtype=torch.complex128)),
])
def test_bad_torch_dtype(kind, make):
    with raises(rl.DtypeError, rf"X must hold real numbers.*{kind}"):
        rl.cka(make(), torch.from_numpy(good()))


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("func", ["cka", "hsic"])
@pytest.mark.parametrize("kernel", ["poly", "RBF", "", None, 3])
def test_unknown_kernel(func, kernel):
    with raises(rl.UnknownOptionError, rf"kernel must be one of 'linear', 'rbf'.*got {re.escape(repr(kernel))}"):
        KERNEL_FUNCTIONS[func](good(), good(), kernel=kernel)


@pytest.mark.parametrize("rule", ["energy", "Variance", None])
def test_unknown_svcca_rule(rule):
    with raises(rl.UnknownOptionError, rf"rule must be one of 'variance', 'singular_values'; got {re.escape(repr(rule))}"):
        rl.svcca(good(), good(), rule=rule)


@pytest.mark.parametrize("threshold", [0, 0.0, -0.5, 1.5, 1.0000001, float("nan"), float("inf"), "high", None])
def test_bad_threshold(threshold):
    with raises(rl.UnknownOptionError, rf"threshold must be a number in \(0, 1\]; got {re.escape(repr(threshold))}"):
        rl.svcca(good(), good(), threshold=threshold)


@pytest.mark.parametrize("threshold", [1e-6, 0.5, 1, 1.0, np.float32(0.99)])
def test_good_threshold(threshold):
    rl.svcca(good(), good(), threshold=threshold)


@pytest.mark.parametrize("keep", [0, -1, 2.5, 2.0, True, "2", np.float64(2.0)])
def test_bad_keep(keep):
    with raises(rl.UnknownOptionError, rf"keep must be a positive integer; got {re.escape(repr(keep))}"):
        rl.svcca(good(), good(), keep=keep)


@pytest.mark.parametrize("keep", [1, 3, np.int64(2)])
def test_good_keep(keep):
    assert rl.svcca(good(), good(seed=1), keep=keep).kept == (int(keep), int(keep))


@pytest.mark.parametrize("func", ["cka", "hsic"])
def test_bandwidth_with_linear_kernel(func):
    with raises(rl.UnknownOptionError, r"bandwidth applies only to kernel='rbf'.*bandwidth=0\.5.*kernel='linear'"):
        KERNEL_FUNCTIONS[func](good(), good(), bandwidth=0.5)


@pytest.mark.parametrize("func", ["cka", "hsic"])
def test_bandwidth_with_callable_kernel(func):
    with raises(rl.UnknownOptionError, r"bandwidth applies only to kernel='rbf'"):
        KERNEL_FUNCTIONS[func](good(), good(), kernel=lambda a: a @ a.T, bandwidth=0.5)


@pytest.mark.parametrize("func", ["cka", "hsic"])
@pytest.mark.parametrize("bandwidth", [0, 0.0, -1.0, float("nan"), float("inf"), "wide"])
def test_bad_bandwidth(func, bandwidth):
    with raises(rl.UnknownOptionError, rf"bandwidth must be a finite number > 0; got {re.escape(repr(bandwidth))}"):
        KERNEL_FUNCTIONS[func](good(), good(), kernel="rbf", bandwidth=bandwidth)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float16", "double", "int64", "bfloat16", np.float16, torch.float16])
def test_unknown_dtype_option(name, dtype):
    with raises(rl.UnknownOptionError, r"dtype must be one of.*'float64'.*'float32'.*got"):
        FUNCTIONS[name](good(), good(), dtype=dtype)
    if name in MEASURES:  # rl.measure refused it; the registered pair function refuses it too
        with raises(rl.UnknownOptionError, r"dtype must be one of.*'float64'.*'float32'.*got"):
            pair_function(name)(good(), good(), dtype=dtype)


@pytest.mark.parametrize("name", sorted(PUBLIC_FUNCTIONS))
def test_options_are_keyword_only(name):
    with pytest.raises(TypeError):
        PUBLIC_FUNCTIONS[name](good(), good(), "float64")


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_measure_options_are_keyword_only(name):
    """A registered measure takes its options by keyword in rl.measure, and only X, Y when called."""
    with pytest.raises(TypeError):
        rl.measure(name, "float64")
    with pytest.raises(TypeError):
        MEASURES[name](good(), good(), "float64")


# ----------------------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", ["X", "Y"])
@pytest.mark.parametrize("fill", [0.0, 3.0, -1e6])
def test_only_constant_columns(name, which, fill):
    const = np.full((12, 4), fill)
    const[:, 1] = 2.0  # different constants per column, still all constant
    x, y = (const, good()) if which == "X" else (good(), const)
    with raises(rl.DegenerateInputError, rf"every column of {which} is constant"):
        FUNCTIONS[name](x, y)


@pytest.mark.parametrize("func", ["cka", "hsic"])
def test_rbf_median_distance_zero(func):
    """More than half the example pairs identical: the median bandwidth rule gives 0."""
    x = np.zeros((10, 2))
    x[0] = 1.0
    with raises(rl.DegenerateInputError, r"median squared distance.*X.*0"):
        KERNEL_FUNCTIONS[func](x, good(10), kernel="rbf")


@pytest.mark.parametrize("func", ["cka", "hsic"])
@pytest.mark.parametrize("shape", [(12, 11), (11, 12), (12,), (12, 12, 1), (3, 3)])
def test_callable_kernel_wrong_shape(func, shape):
    with raises(rl.ShapeError, rf"kernel callable must return an \(n, n\) = \(12, 12\).*shape {re.escape(str(shape))}"):
        KERNEL_FUNCTIONS[func](good(), good(), kernel=lambda a: np.ones(shape))


@pytest.mark.parametrize("func", ["cka", "hsic"])
def test_callable_kernel_non_finite(func):
    with raises(rl.ReplensError, r"kernel callable returned NaN or infinite"):
        KERNEL_FUNCTIONS[func](good(), good(), kernel=lambda a: np.full((12, 12), np.nan))


# ----------------------------------------------------------------------------- checked before work


class _RecordingKernel:
    def __init__(self):
        self.calls = 0

    def __call__(self, a):
        self.calls += 1
        return a @ a.T


@pytest.mark.parametrize("func", ["cka", "hsic"])
@pytest.mark.parametrize("bad_input", ["nan_last_row_y", "nan_last_row_x", "too_few", "dtype", "shape"])
def test_errors_raise_before_any_work(func, bad_input):
    """Validation of both arrays precedes any kernel evaluation."""
    kernel = _RecordingKernel()
    x, y = good(50), good(50, seed=1)
    debiased = False
    if bad_input == "nan_last_row_y":
        y[-1, -1] = np.nan
        expected = rl.NonFiniteError
    elif bad_input == "nan_last_row_x":
        x[-1, -1] = np.nan
        expected = rl.NonFiniteError
    elif bad_input == "too_few":
        x, y, debiased = x[:3], y[:3], True
        expected = rl.TooFewExamplesError
    elif bad_input == "dtype":
        y = y > 0
        expected = rl.DtypeError
    else:
        y = y[:, :, None]
        expected = rl.ShapeError
    with pytest.raises(expected):
        KERNEL_FUNCTIONS[func](x, y, kernel=kernel, debiased=debiased)
    assert kernel.calls == 0


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_last_row_of_big_array(name):
    """A single NaN in the last entry of a large X (and of Y) is found: NonFiniteError, not
    a LinAlgError or a NaN result from the decomposition."""
    rng = np.random.default_rng(3)
    big = rng.standard_normal((4000, 200))
    other = rng.standard_normal((4000, 20))
    big[-1, -1] = np.nan
    with raises(rl.NonFiniteError, r"X contains NaN.*" + at(3999, 199)):
        FUNCTIONS[name](big, other)
    with raises(rl.NonFiniteError, r"Y contains NaN.*" + at(3999, 199)):
        FUNCTIONS[name](other, big)


@pytest.mark.parametrize("name", NAMES)
def test_torch_non_finite(name):
    x = torch.from_numpy(good())
    x[4, 0] = float("nan")
    with raises(rl.NonFiniteError, r"X contains NaN.*" + at(4, 0)):
        FUNCTIONS[name](x, torch.from_numpy(good()))
