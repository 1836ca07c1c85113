"""The contract every registered measure keeps, checked for each one the registry lists.

For every measure of ``rl.measures()`` (the built-ins, and two user measures this module
registers: a plain function and a prepare/score pair) with its default options:

* pair function = ``rl.measure(name)(X, Y)`` = the ``rl.compare`` entry, to 1e-10, in both
  directions, in feature space and Gram space, A vs B and A with itself;
* ``score(prepare(X), prepare(Y))`` = the call, to 1e-10;
* every declared invariance holds (Hypothesis), on each input, and the value lies within the
  declared bounds;
* bad input raises the documented error, through the call, prepare and compare;
* numpy and torch give the same value.

Adding a measure to the registry adds it here; nothing in this file names a built-in.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import replens as rl


def _mean_abs_corr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean |Pearson correlation| over all pairs (column of X, column of Y)."""
    return float(np.mean(np.abs(_zscored(x).T @ _zscored(y))) / x.shape[0])


def _zscored(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    return centred / np.linalg.norm(centred, axis=0) * np.sqrt(x.shape[0])


USER_PLAIN = "contract_mean_abs_corr"
USER_SPLIT = "contract_mean_abs_corr_split"
_FACTS = dict(bounds=(0.0, 1.0), symmetric=True, invariances=("isotropic_scaling", "translation"))

# The two user measures are registered for this module's tests only (other modules list the
# registry too); the parameter lists name them ahead of registration.
NAMES = [info.name for info in rl.measures() if info.builtin] + [USER_PLAIN, USER_SPLIT]
_INVARIANCES = {**{info.name: info.invariances for info in rl.measures() if info.builtin},
                USER_PLAIN: _FACTS["invariances"], USER_SPLIT: _FACTS["invariances"]}


@pytest.fixture(scope="module", autouse=True)
def _user_measures():
    rl.register_measure(USER_PLAIN, summary="mean |corr| of column pairs", **_FACTS)(_mean_abs_corr)
    rl.register_measure(USER_SPLIT, summary="mean |corr| of column pairs, per-layer z-scores",
                        prepare=_zscored, score=lambda a, b: float(np.mean(np.abs(a.T @ b)) / a.shape[0]),
                        **_FACTS)
    yield
    rl.unregister_measure(USER_PLAIN)
    rl.unregister_measure(USER_SPLIT)


def info_of(name: str) -> rl.MeasureInfo:
    return rl.measure(name).info


def _pair(seed: int = 0, n: int = 90, p1: int = 6, p2: int = 5, noise: float = 0.8):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p1)) + rng.normal(size=p1)
    y = x[:, : min(3, p1)] @ rng.standard_normal((min(3, p1), p2)) + noise * rng.standard_normal((n, p2)) + 2.0
    return x, y


def _quiet(function, *args, **kwargs):
    """Call without the UninformativeWarning that p >= n cases raise by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        return function(*args, **kwargs)


def test_every_builtin_and_the_user_measures_are_listed():
    assert {USER_PLAIN, USER_SPLIT} <= {info.name for info in rl.measures()}
    assert NAMES[:3] == ["linear_cka", "debiased_linear_cka", "rbf_cka"]
    for info in rl.measures():
        assert info.bounds[0] is None or info.bounds[1] is None or info.bounds[0] < info.bounds[1]
        assert set(info.invariances) <= {"orthogonal", "isotropic_scaling", "invertible_linear", "translation"}
        assert info.summary and info.reference


# ----------------------------------------------------------------------------- equal values


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(90, 6, 5), (30, 40, 45)], ids=["features", "wide"])
def test_call_prepare_score_and_compare_agree(name, shape):
    n, p1, p2 = shape
    if n < 2 * info_of(name).min_examples:
        pytest.skip("too few examples")
    x, y = _pair(1, n, p1, p2)
    m = rl.measure(name)
    value = _quiet(m, x, y)
    assert isinstance(value, float)
    scored = _quiet(lambda: m.score(m.prepare(x), m.prepare(y, name="Y")))
    np.testing.assert_allclose(scored, value, rtol=1e-10, atol=1e-10)
    both = _quiet(lambda: m.score_both(m.prepare(x), m.prepare(y)))
    np.testing.assert_allclose(both, [value, _quiet(m, y, x)], rtol=1e-10, atol=1e-10)

    z = x[:, ::-1] ** 2
    matrix = _quiet(rl.compare, {"x": x, "z": z}, {"y": y}, measures=[name])
    assert matrix.measures == (m.label,)
    np.testing.assert_allclose(matrix[name][:, 0], [value, _quiet(m, z, y)], rtol=1e-10, atol=1e-10)
    self_matrix = _quiet(rl.compare, {"x": x, "y": y}, measures=[m])
    expected = [[_quiet(m, a, b) for b in (x, y)] for a in (x, y)]
    np.testing.assert_allclose(self_matrix[m.label], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_agree(name):
    x, y = _pair(2)
    m = rl.measure(name)
    expected = m(x, y)
    np.testing.assert_allclose(m(torch.from_numpy(x), torch.from_numpy(y)), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m(x, torch.from_numpy(y)), expected, rtol=1e-10, atol=1e-12)
    prepared = m.score(m.prepare(torch.from_numpy(x)), m.prepare(torch.from_numpy(y)))
    np.testing.assert_allclose(prepared, expected, rtol=1e-10, atol=1e-12)
    matrix = rl.compare({"x": torch.from_numpy(x)}, {"y": torch.from_numpy(y)}, measures=[m])
    np.testing.assert_allclose(matrix.values[0, 0, 0], expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- invariances


def _orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def _with_spectrum(a: np.ndarray) -> np.ndarray:
    """`a` with singular values 10 * 0.7**i: SVD truncation stays far from its threshold."""
    u, _, vt = np.linalg.svd(a - a.mean(axis=0), full_matrices=False)
    return (u * (10.0 * 0.7 ** np.arange(vt.shape[0]))) @ vt


TRANSFORMS = {
    "orthogonal": lambda rng, a: a @ _orthogonal(rng, a.shape[1]),
    "isotropic_scaling": lambda rng, a: a * rng.uniform(0.1, 10.0),
    "invertible_linear": lambda rng, a: a @ (_orthogonal(rng, a.shape[1]) @ np.diag(rng.uniform(0.5, 2.0, a.shape[1]))
                                             @ _orthogonal(rng, a.shape[1])),
    "translation": lambda rng, a: a + rng.normal(scale=5.0, size=a.shape[1]),
}
DECLARED = [(name, invariance) for name in NAMES for invariance in _INVARIANCES[name]]


@pytest.mark.parametrize(("name", "invariance"), DECLARED)
@given(seed=st.integers(0, 2**32 - 1), p1=st.integers(2, 6), p2=st.integers(2, 6),
       noise=st.floats(0.05, 20.0), side=st.sampled_from(["x", "y"]))
def test_declared_invariances_hold_and_values_stay_in_bounds(name, invariance, seed, p1, p2, noise, side):
    rng = np.random.default_rng(seed)
    n = 4 * (p1 + p2) + 8
    x = _with_spectrum(rng.standard_normal((n, p1))) + rng.normal(scale=3.0, size=p1)
    y = _with_spectrum(x @ rng.standard_normal((p1, p2)) + noise * rng.standard_normal((n, p2)))
    m = rl.measure(name)
    value = m(x, y)
    low, high = info_of(name).bounds
    assert (low is None or value >= low - 1e-12) and (high is None or value <= high + 1e-12)
    moved = TRANSFORMS[invariance](rng, x if side == "x" else y)
    changed = m(moved, y) if side == "x" else m(x, moved)
    np.testing.assert_allclose(changed, value, rtol=1e-9, atol=1e-10)
    if info_of(name).symmetric:
        np.testing.assert_allclose(m(y, x), value, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_the_documented_error(name):
    x, y = _pair(3)
    m = rl.measure(name)
    bad_nan = x.copy()
    bad_nan[3, 1] = np.nan
    cases = [
        ((x[:, 0], y), rl.ShapeError, "2-D"),
        ((x, y[:-1]), rl.ShapeError, "same number of examples"),
        ((bad_nan, y), rl.NonFiniteError, "NaN"),
        ((x > 0, y), rl.DtypeError, "bool"),
        ((x[: info_of(name).min_examples - 1], y[: info_of(name).min_examples - 1]), rl.TooFewExamplesError,
         "at least"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            m(*args)
    with pytest.raises(rl.ShapeError, match="2-D"):
        m.prepare(x[:, 0])
    with pytest.raises(rl.NonFiniteError, match="NaN"):
        m.prepare(bad_nan)
    with pytest.raises(rl.TooFewExamplesError, match=f"{name} needs at least"):
        m.prepare(x[: info_of(name).min_examples - 1])
    with pytest.raises(rl.NonFiniteError, match=r"reps_b\['y'\]"):
        rl.compare({"x": x}, {"y": bad_nan}, measures=[name])
    with pytest.raises(rl.ShapeError, match="same number of examples"):
        rl.compare({"x": x}, {"y": y[:-1]}, measures=[name])
    with pytest.raises(rl.UnknownOptionError, match="has no option 'nonsense'"):
        rl.measure(name, nonsense=1)


@pytest.mark.parametrize("name", NAMES)
def test_prepared_layers_of_other_measures_or_examples_are_refused(name):
    x, y = _pair(4)
    m = rl.measure(name)
    with pytest.raises(rl.ShapeError, match="different numbers of examples"):
        m.score(m.prepare(x), m.prepare(y[:-1]))
    other = next(o for o in NAMES if rl.measure(o).preparation_key != m.preparation_key)
    with pytest.raises(rl.UnknownOptionError, match="needs layers prepared by"):
        m.score(m.prepare(x), rl.measure(other).prepare(y))
