"""Property tests: the invariances of CKA paper Table 1, symmetry, bounds and identities.

Kornblith et al. 2019, Table 1 (invariant to: invertible linear / orthogonal / isotropic):

    Linear Reg. R^2_LR      Y only  yes  yes
    CCA (R^2, rho-bar)      yes     yes  yes
    SVCCA                   if same subspace kept  yes  yes
    PWCCA                   no      no   yes
    Linear HSIC             no      yes  no (scales with c^2)
    Linear CKA, RBF CKA     no      yes  yes (RBF: with the median bandwidth rule)

Every measure centres its inputs, so all are invariant to translation.

The measures are every registered one (tests/_measures.py reads the registry) and a table of
pair-function VARIANTS; which invariance and symmetry tests apply to a registered measure comes
from its MeasureInfo (``invariances``, ``symmetric``, ``bounds``). Table 1's one-sided facts, which
the registry does not encode, are named below.

Hypothesis draws seeds, sizes and scales; the data are then generated with numpy's
default_rng from the drawn seed, with separated singular values (ratio 0.7) and n >= 4 (p1 +
p2), so that every example is well conditioned and SVCCA's truncation is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import replens as rl
from replens.measures.registry import INVERTIBLE_LINEAR, ISOTROPIC_SCALING, ORTHOGONAL, TRANSLATION

from _measures import INFO, MEASURES as REGISTERED, NAMES, known, with_variants

KEEP = 2  # svcca keep=k used throughout: every drawn input has at least KEEP features

_ALL_LINEAR = (ORTHOGONAL, ISOTROPIC_SCALING, INVERTIBLE_LINEAR, TRANSLATION)
_SIMILARITY = (ORTHOGONAL, ISOTROPIC_SCALING, TRANSLATION)


@dataclass(frozen=True)
class Variant:
    """A pair-function option beyond the registry's defaults, with the facts a MeasureInfo would
    declare for it: invariances (holding on either input) and symmetry."""

    f: object
    invariances: tuple[str, ...]
    symmetric: bool = True


# Pair-function options and outputs beyond the registry's defaults (not registered measures).
VARIANTS = {
    "cca.rho": Variant(lambda x, y: rl.cca(x, y).rho, _ALL_LINEAR),
    "svcca.rho[keep]": Variant(lambda x, y: rl.svcca(x, y, keep=KEEP).rho, _SIMILARITY),
    "svcca.mean_rho[keep]": Variant(lambda x, y: rl.svcca(x, y, keep=KEEP).mean_rho, _SIMILARITY),
    "cka.rbf.debiased": Variant(lambda x, y: rl.cka(x, y, kernel="rbf", debiased=True), _SIMILARITY),
    "cka.rbf.bw0.4": Variant(lambda x, y: rl.cka(x, y, kernel="rbf", bandwidth=0.4), _SIMILARITY),
    "hsic.debiased": Variant(lambda x, y: rl.hsic(x, y, debiased=True), (ORTHOGONAL, TRANSLATION)),
    "hsic.rbf": Variant(lambda x, y: rl.hsic(x, y, kernel="rbf"), _SIMILARITY),
}
# Every registered measure (rl.measure(name)), then the variants.
MEASURES = with_variants(REGISTERED, {name: variant.f for name, variant in VARIANTS.items()})
FACTS = with_variants({name: (info.invariances, info.symmetric) for name, info in INFO.items()},
                      {name: (v.invariances, v.symmetric) for name, v in VARIANTS.items()})
ALL = sorted(MEASURES)


def invariant(invariance: str) -> list[str]:
    """Registered measures declaring `invariance` (their MeasureInfo), and variants having it."""
    return [name for name in ALL if invariance in FACTS[name][0]]


# One-sided facts of CKA paper Table 1 that the registry, whose invariances hold for either
# input, does not encode:
# - PWCCA's weights depend on Y only through its column space and the canonical correlations:
#   invariant to orthogonal and invertible linear maps of Y (not of X: Table 1 marks it "no").
# - Linear regression R^2 of X on Y: invariant to invertible linear maps of the regressor Y only.
# - Linear HSIC (biased and debiased) is not invariant to scaling: it scales with c^2.
ORTHOGONAL_Y_ONLY = known(["pwcca"], MEASURES)
INVERTIBLE_Y_ONLY = known(["pwcca", "linear_regression_r2"], MEASURES)
SCALES_WITH_C_SQUARED = known(["linear_hsic", "hsic.debiased"], MEASURES)
# Documented non-invariances (Table 1 "no"), checked on one constructed example each: the CKA
# family is not invariant to non-isotropic scaling nor to invertible linear maps.
CKA_ALL = known(["linear_cka", "debiased_linear_cka", "rbf_cka", "cka.rbf.debiased", "cka.rbf.bw0.4"], MEASURES)

ORTHOGONAL_X = invariant(ORTHOGONAL)
ORTHOGONAL_Y = sorted(ORTHOGONAL_X + ORTHOGONAL_Y_ONLY)
ISOTROPIC = invariant(ISOTROPIC_SCALING)
INVERTIBLE_X = invariant(INVERTIBLE_LINEAR)
INVERTIBLE_Y = sorted(INVERTIBLE_X + INVERTIBLE_Y_ONLY)
TRANSLATION_INVARIANT = invariant(TRANSLATION)
SYMMETRIC = [name for name in ALL if FACTS[name][1]]


def test_named_facts_agree_with_the_registry():
    """A one-sided invariance is not declared (declared ones hold on both inputs), and scaling
    with c^2 or a documented non-invariance excludes the invariance."""
    for name in ORTHOGONAL_Y_ONLY:
        assert name not in ORTHOGONAL_X, name
    for name in INVERTIBLE_Y_ONLY:
        assert name not in INVERTIBLE_X, name
    for name in SCALES_WITH_C_SQUARED:
        assert name not in ISOTROPIC, name
    for name in CKA_ALL:
        assert name not in INVERTIBLE_X, name


RTOL, ATOL = 1e-9, 1e-10


# ----------------------------------------------------------------------------- data


def orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    """A Haar-distributed random orthogonal p x p matrix."""
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def invertible(rng: np.random.Generator, p: int) -> np.ndarray:
    """A random invertible p x p matrix with condition number at most 4."""
    return orthogonal(rng, p) @ np.diag(rng.uniform(0.5, 2.0, p)) @ orthogonal(rng, p)


def with_spectrum(a: np.ndarray, ratio: float = 0.7) -> np.ndarray:
    """`a` centred, with its singular values replaced by 10 * ratio**i (well separated)."""
    u, _, vt = np.linalg.svd(a - a.mean(axis=0), full_matrices=False)
    return (u * (10.0 * ratio ** np.arange(vt.shape[0]))) @ vt


@dataclass
class Case:
    seed: int
    n: int
    p1: int
    p2: int
    noise: float

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        x = with_spectrum(rng.standard_normal((self.n, self.p1)))
        w = rng.standard_normal((self.p1, self.p2))
        y = with_spectrum(x @ w + self.noise * rng.standard_normal((self.n, self.p2)))
        self.x = x + rng.normal(scale=3.0, size=self.p1)
        self.y = y + rng.normal(scale=3.0, size=self.p2)
        self.rng = rng  # continues the stream: transforms are drawn from the same seed

    def __repr__(self) -> str:
        return f"Case(seed={self.seed}, n={self.n}, p1={self.p1}, p2={self.p2}, noise={self.noise})"


@st.composite
def cases(draw, min_p: int = KEEP, max_p: int = 6) -> Case:
    p1 = draw(st.integers(min_p, max_p))
    p2 = draw(st.integers(min_p, max_p))
    n = draw(st.integers(4 * (p1 + p2), 64))
    noise = draw(st.floats(0.05, 20.0))
    seed = draw(st.integers(0, 2**32 - 1))
    return Case(seed, n, p1, p2, noise)


scales = st.builds(
    lambda e, sign: sign * 10.0**e, st.floats(-3.0, 3.0), st.sampled_from([-1.0, 1.0])
)


def close(a, b, rtol: float = RTOL, atol: float = ATOL) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("name", ORTHOGONAL_X)
@given(case=cases())
def test_invariant_to_orthogonal_map_of_x(name, case):
    f = MEASURES[name]
    q = orthogonal(case.rng, case.p1)
    close(f(case.x @ q, case.y), f(case.x, case.y))


@pytest.mark.parametrize("name", ORTHOGONAL_Y)
@given(case=cases())
def test_invariant_to_orthogonal_map_of_y(name, case):
    f = MEASURES[name]
    q = orthogonal(case.rng, case.p2)
    close(f(case.x, case.y @ q), f(case.x, case.y))


def test_pwcca_not_invariant_to_orthogonal_map_of_x():
    """Documented fact (Table 1: PWCCA is not orthogonally invariant): rotating the
    neurons of the first argument changes the L1 weights alpha_i."""
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 200, 1))
    x = np.hstack([a, b])
    y = np.hstack([a + 0.1 * c, 0.3 * b + c])
    rot = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    before, after = rl.pwcca(x, y), rl.pwcca(x @ rot, y)
    assert abs(before - after) > 1e-3, (before, after)
    # ... while the canonical correlations themselves do not move.
    close(rl.cca(x @ rot, y).rho, rl.cca(x, y).rho)


@pytest.mark.parametrize("name", ISOTROPIC)
@given(case=cases(), c=scales, side=st.sampled_from(["x", "y"]))
def test_invariant_to_isotropic_scaling(name, case, c, side):
    f = MEASURES[name]
    scaled = f(c * case.x, case.y) if side == "x" else f(case.x, c * case.y)
    close(scaled, f(case.x, case.y))


@pytest.mark.parametrize("name", SCALES_WITH_C_SQUARED)
@given(case=cases(), c=scales, side=st.sampled_from(["x", "y"]))
def test_linear_hsic_scales_with_c_squared(name, case, c, side):
    f = MEASURES[name]
    scaled = f(c * case.x, case.y) if side == "x" else f(case.x, c * case.y)
    close(scaled, c**2 * f(case.x, case.y), atol=0)


@pytest.mark.parametrize("name", INVERTIBLE_X)
@given(case=cases())
def test_invariant_to_invertible_map_of_x(name, case):
    f = MEASURES[name]
    a = invertible(case.rng, case.p1)
    close(f(case.x @ a, case.y), f(case.x, case.y))


@pytest.mark.parametrize("name", INVERTIBLE_Y)
@given(case=cases())
def test_invariant_to_invertible_map_of_y(name, case):
    f = MEASURES[name]
    a = invertible(case.rng, case.p2)
    close(f(case.x, case.y @ a), f(case.x, case.y))


def _anisotropic_pair():
    """X = [a, b], Y ~ a: stretching X's unrelated feature b changes everything but CCA."""
    rng = np.random.default_rng(1)
    a, b, c = rng.standard_normal((3, 100, 1))
    x = np.hstack([a, b])
    y = np.hstack([a + 0.2 * c, rng.standard_normal((100, 1))])
    return x, y


@pytest.mark.parametrize("name", CKA_ALL)
def test_cka_not_invariant_to_non_isotropic_scaling(name):
    f = MEASURES[name]
    x, y = _anisotropic_pair()
    d = np.diag([1.0, 10.0])
    before, after = f(x, y), f(x @ d, y)
    assert abs(before - after) > 1e-3, (before, after)
    # and the same on the Y side
    assert abs(f(y, x) - f(y, x @ d)) > 1e-3


@pytest.mark.parametrize("name", CKA_ALL)
def test_cka_not_invariant_to_invertible_map(name):
    f = MEASURES[name]
    x, y = _anisotropic_pair()
    a = np.array([[1.0, 0.0], [3.0, 5.0]])  # invertible, not orthogonal up to scale
    before, after = f(x, y), f(x @ a, y)
    assert abs(before - after) > 1e-3, (before, after)


def test_cca_invariant_where_cka_is_not():
    x, y = _anisotropic_pair()
    for a in (np.diag([1.0, 10.0]), np.array([[1.0, 0.0], [3.0, 5.0]])):
        close(rl.cca(x @ a, y).rho, rl.cca(x, y).rho)


def test_svcca_not_invariant_to_invertible_map():
    """Documented fact (Table 1: "if same subspace kept"): an invertible map that reorders
    the singular values changes which direction keep=1 retains."""
    x, y = _anisotropic_pair()
    x = x @ np.diag([3.0, 1.0])  # a dominates: svcca keeps a, which matches y
    before = rl.svcca(x, y, keep=1).mean_rho
    after = rl.svcca(x @ np.diag([1.0, 10.0]), y, keep=1).mean_rho  # now b dominates
    assert before - after > 0.1, (before, after)


def test_linear_regression_not_invariant_to_invertible_map_of_x():
    """Documented fact (Table 1: invertible maps of "Y only")."""
    x, y = _anisotropic_pair()
    before = rl.linear_regression_r2(x, y)
    after = rl.linear_regression_r2(x @ np.diag([1.0, 10.0]), y)
    assert abs(before - after) > 1e-3, (before, after)


@pytest.mark.parametrize("name", TRANSLATION_INVARIANT)
@given(case=cases(), log_offset=st.floats(-2.0, 3.0), side=st.sampled_from(["x", "y"]))
def test_invariant_to_translation(name, case, log_offset, side):
    f = MEASURES[name]
    p = case.p1 if side == "x" else case.p2
    shift = case.rng.normal(size=p) * 10.0**log_offset
    moved = f(case.x + shift, case.y) if side == "x" else f(case.x, case.y + shift)
    close(moved, f(case.x, case.y))


# ----------------------------------------------------------------------------- symmetry


@pytest.mark.parametrize("name", SYMMETRIC)
@given(case=cases())
def test_symmetric(name, case):
    f = MEASURES[name]
    close(f(case.x, case.y), f(case.y, case.x))


def test_pwcca_and_linear_regression_are_asymmetric():
    """Documented fact: both weight by the FIRST argument."""
    rng = np.random.default_rng(2)
    a, b, c = rng.standard_normal((3, 300, 1))
    x = np.hstack([a, 5.0 * b])
    y = np.hstack([a, 0.3 * b + c])
    assert abs(rl.pwcca(x, y) - rl.pwcca(y, x)) > 1e-3
    x2, y2 = np.hstack([a, b]), a + 0.1 * c
    assert abs(rl.linear_regression_r2(x2, y2) - rl.linear_regression_r2(y2, x2)) > 0.1


# ----------------------------------------------------------------------------- identity


# Every registered measure bounded above by 1 is a similarity index that equals 1 on identical
# inputs; and these variants.
IDENTITY_VARIANTS = {
    "cca.rho.min": lambda x: rl.cca(x, x).rho.min(),
    "svcca.mean_rho[keep]": lambda x: rl.svcca(x, x, keep=KEEP).mean_rho,
    "svcca.mean_rho[singular_values]": lambda x: rl.svcca(x, x, rule="singular_values").mean_rho,
    "cka.rbf.debiased": lambda x: rl.cka(x, x, kernel="rbf", debiased=True),
}
IDENTITY_ONE = with_variants({name: (lambda x, m=REGISTERED[name]: m(x, x)) for name in NAMES
                              if INFO[name].bounds[1] == 1.0}, IDENTITY_VARIANTS)


@pytest.mark.parametrize("name", sorted(IDENTITY_ONE))
@given(case=cases())
def test_value_one_on_identical_inputs(name, case):
    value = IDENTITY_ONE[name](case.x)
    assert isinstance(value, float)
    assert abs(value - 1.0) <= 1e-10, value


# ----------------------------------------------------------------------------- bounds


@st.composite
def loose_cases(draw) -> Case:
    """Anything from identical to independent inputs (noise up to 1e4)."""
    p1 = draw(st.integers(1, 6))
    p2 = draw(st.integers(1, 6))
    n = draw(st.integers(4 * (p1 + p2), 64))
    noise = draw(st.sampled_from([0.0, 1e-6, 1.0, 1e4]) | st.floats(0.0, 100.0))
    seed = draw(st.integers(0, 2**32 - 1))
    return Case(seed, n, p1, p2, noise)


BOUND_ROUNDING = 1e-12  # what the registry allows users' measures beyond their bounds, as test_contract


@given(case=loose_cases())
def test_bounds(case):
    x, y = case.x, case.y
    # Every registered measure, both ways round, lies within its declared bounds, up to rounding
    # (debiased CKA is never clamped: on Y = cX + d it rounds to 1 + 4e-16).
    for name in NAMES:
        low, high = INFO[name].bounds
        for value in (REGISTERED[name](x, y), REGISTERED[name](y, x)):
            assert isinstance(value, float), name
            assert low is None or low - BOUND_ROUNDING <= value, (name, value)
            assert high is None or value <= high + BOUND_ROUNDING, (name, value)
    # Exactly, for the values the pair functions clamp to [0, 1] (biased CKA, the CCA family,
    # PWCCA, regression), and HSIC >= 0.
    for name, value in {
        "cka": rl.cka(x, y),
        "cka.rbf": rl.cka(x, y, kernel="rbf"),
        "pwcca": rl.pwcca(x, y),
        "pwcca.yx": rl.pwcca(y, x),
        "linear_regression_r2": rl.linear_regression_r2(x, y),
        "linear_regression_r2.yx": rl.linear_regression_r2(y, x),
        "cca.mean_rho": rl.cca(x, y).mean_rho,
        "cca.r2": rl.cca(x, y).r2,
        "svcca.mean_rho": rl.svcca(x, y).mean_rho,
    }.items():
        assert isinstance(value, float), name
        assert 0.0 <= value <= 1.0, (name, value)
    assert rl.hsic(x, y) >= 0.0
    assert rl.hsic(x, y, kernel="rbf") >= 0.0
    for result in (rl.cca(x, y), rl.svcca(x, y), rl.svcca(x, y, rule="singular_values")):
        rho = result.rho
        assert rho.dtype == np.float64 and rho.ndim == 1 and rho.size >= 1
        assert np.all(rho >= 0.0) and np.all(rho <= 1.0), rho
        assert np.all(np.diff(rho) <= 0.0), rho  # descending


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_biased_cka_never_exceeds_one(kernel):
    """Biased CKA is documented in [0, 1] (Cauchy-Schwarz); the rounding excess of
    identical inputs (1 + 2e-16) must not leak out, as cca's rho and
    linear_regression_r2 already ensure for themselves."""
    values = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((int(rng.integers(8, 60)), int(rng.integers(1, 6))))
        values += [rl.cka(x, x, kernel=kernel), rl.cka(x, 3.0 * x + 1.0, kernel=kernel)]
    assert max(values) <= 1.0, max(values)


@given(case=loose_cases())
def test_debiased_cka_is_finite_and_above_minus_one(case):
    value = rl.cka(case.x, case.y, debiased=True)
    assert isinstance(value, float) and np.isfinite(value) and value > -1.0


def _first_negative_debiased(n: int = 8, p: int = 2, seeds: int = 500):
    for seed in range(seeds):  # deterministic search over independent-noise examples
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
        value = rl.cka(x, y, debiased=True)
        if value < 0:
            return seed, x, y, value
    raise AssertionError(f"no negative debiased CKA among {seeds} independent-noise seeds")


def test_debiased_cka_can_be_negative_and_is_not_clamped():
    seed, x, y, value = _first_negative_debiased()
    assert np.isfinite(value) and -1.0 < value < 0.0, (seed, value)
    # the unbiased HSIC in the numerator is negative too, and the biased CKA is not
    assert rl.hsic(x, y, debiased=True) < 0.0
    assert rl.cka(x, y) > 0.0


# ----------------------------------------------------------------------------- CCA identities


@st.composite
def rank_deficient_cases(draw):
    """X and Y built from a few base columns, some duplicated (and some rescaled copies)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rank_x = draw(st.integers(1, 5))
    rank_y = draw(st.integers(1, 5))
    extra_x = draw(st.lists(st.integers(0, rank_x - 1), max_size=4))
    extra_y = draw(st.lists(st.integers(0, rank_y - 1), max_size=4))
    n = draw(st.integers(4 * (rank_x + rank_y) + 8, 64))
    rng = np.random.default_rng(seed)
    base_x = rng.standard_normal((n, rank_x))
    base_y = base_x[:, :1] @ rng.standard_normal((1, rank_y)) + rng.standard_normal((n, rank_y))
    x = base_x[:, list(range(rank_x)) + extra_x] * rng.choice([1.0, 2.0, -1.0], rank_x + len(extra_x))
    y = base_y[:, list(range(rank_y)) + extra_y]
    return x + rng.normal(size=x.shape[1]), y + rng.normal(size=y.shape[1]), rank_x, rank_y


@given(data=rank_deficient_cases())
def test_cca_summaries_and_length(data):
    x, y, rank_x, rank_y = data
    r = rl.cca(x, y)
    assert r.rank == (rank_x, rank_y)
    assert all(type(k) is int for k in r.rank)
    assert len(r.rho) == min(rank_x, rank_y)
    assert isinstance(r.mean_rho, float) and isinstance(r.r2, float)
    assert r.mean_rho == pytest.approx(float(np.mean(r.rho)), rel=1e-14, abs=1e-15)
    assert r.r2 == pytest.approx(float(np.mean(r.rho**2)), rel=1e-14, abs=1e-15)
    # the same through SVCCA keeping everything
    s = rl.svcca(x, y, threshold=1.0)
    assert s.kept == (rank_x, rank_y)
    close(s.rho, r.rho)


@given(case=cases(min_p=1), threshold=st.floats(0.05, 1.0), rule=st.sampled_from(["variance", "singular_values"]))
def test_svcca_keeps_the_fewest_directions_reaching_threshold(case, threshold, rule):
    kept = []
    for a in (case.x, case.y):
        s = np.linalg.svd(a - a.mean(axis=0), compute_uv=False)
        energy = s**2 if rule == "variance" else s
        fraction = np.cumsum(energy) / energy.sum()
        assume(np.all(np.abs(fraction - threshold) > 1e-9))  # no rounding-level ties
        kept.append(int(np.argmax(fraction >= threshold)) + 1 if threshold < 1 else len(s))
    result = rl.svcca(case.x, case.y, threshold=threshold, rule=rule)
    assert result.kept == tuple(kept)
    assert len(result.rho) == min(kept)


@given(case=cases(min_p=1))
def test_callable_linear_kernel_matches_builtin(case):
    gram = lambda a: a @ a.T  # noqa: E731
    for debiased in (False, True):
        close(rl.cka(case.x, case.y, kernel=gram, debiased=debiased),
              rl.cka(case.x, case.y, debiased=debiased))
        close(rl.hsic(case.x, case.y, kernel=gram, debiased=debiased),
              rl.hsic(case.x, case.y, debiased=debiased))


@given(case=cases(min_p=1))
def test_pwcca_is_weighted_mean_of_rho_and_r2_lr_relation(case):
    """pwcca lies between min and max rho; R^2_LR = sum alpha'_i rho_i^2 / sum alpha'_i
    (CKA paper eq. 10) lies between min and max rho^2."""
    rho = rl.cca(case.x, case.y).rho
    value = rl.pwcca(case.x, case.y)
    assert rho.min() - 1e-12 <= value <= rho.max() + 1e-12
    lr = rl.linear_regression_r2(case.x, case.y)
    if case.p1 <= case.p2:  # every direction of X is paired with a canonical correlation
        assert (rho**2).min() - 1e-12 <= lr <= (rho**2).max() + 1e-12


# ----------------------------------------------------------------------------- tied correlations
# Skip connections: Y copies some of X's neurons, so canonical correlations tie at exactly 1
# (issue 10, item 7). PWCCA's declared invariances must hold there too, to 1e-10.


@dataclass
class TiedCase:
    seed: int
    n: int
    p: int
    copied: int

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.p)) @ rng.standard_normal((self.p, self.p))
        rest = np.tanh(x @ rng.standard_normal((self.p, 3))) + 0.5 * rng.standard_normal((self.n, 3))
        self.x = x + 2.0
        self.y = np.hstack([x[:, : self.copied], rest]) - 1.0
        self.rng = rng


@st.composite
def tied_cases(draw) -> TiedCase:
    p = draw(st.integers(3, 7))
    copied = draw(st.integers(2, p))
    n = draw(st.integers(6 * (p + copied + 3), 120))
    return TiedCase(draw(st.integers(0, 2**32 - 1)), n, p, copied)


@given(case=tied_cases(), c=scales)
def test_pwcca_with_tied_correlations_is_invariant_to_maps_of_y(case, c):
    rho = rl.cca(case.x, case.y).rho
    assert np.all(rho[: case.copied] > 1 - 1e-10)  # the tie is there
    p2 = case.y.shape[1]
    base = rl.pwcca(case.x, case.y)
    for transformed in (case.y @ orthogonal(case.rng, p2), c * case.y, case.y @ invertible(case.rng, p2)):
        close(rl.pwcca(case.x, transformed), base, rtol=0, atol=1e-10)


@given(case=tied_cases())
def test_pwcca_with_tied_correlations_is_invariant_to_isotropic_scaling_and_translation_of_x(case):
    base = rl.pwcca(case.x, case.y)
    close(rl.pwcca(-3.5 * case.x + 7.0, case.y), base, rtol=0, atol=1e-10)
