"""Statistical validity of replens.stats at small scale (CI-sized; the benchmark runs it larger).

* Type-I rate: over hundreds of independent null datasets (40 x 10) the fraction of
  permutation p-values <= 0.05 lies inside the 99 % binomial interval around 0.05, for every
  measure family, without groups, with whole-group and with within-group permutations.
  19 permutations make the test's size exactly 0.05 (p <= 0.05 iff no permuted value reaches
  the statistic), so any excess is the method's fault.
* The same clustered data without groups rejects far too often: the check can fail.
* maxT over a 3 x 3 grid of independent layers: family-wise rate inside the interval, while
  uncorrected p-values reject somewhere far more often.
* 95 % BCa intervals of debiased linear CKA cover the population value (known in closed
  form) in >= 85 % of repeated samples (the benchmark shows ~95 % with more repeats).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

import replens as rl

N_DATASETS = 400
N, P = 40, 10
GROUPS = np.repeat(np.arange(10), 4)
FAMILIES = ["linear_cka", "debiased_linear_cka", "rbf_cka", "linear_hsic", "cca_mean_rho", "pwcca",
            "linear_regression_r2"]
LOW, HIGH = binom.interval(0.99, N_DATASETS, 0.05)


def _null_dataset(rng, structure):
    if structure == "independent":
        return rng.standard_normal((N, P)), rng.standard_normal((N, P))
    shared_x = rng.standard_normal((10, P))[GROUPS]
    if structure == "clustered":  # X and Y each share a group effect, independently of each other
        return shared_x + rng.standard_normal((N, P)), rng.standard_normal((10, P))[GROUPS] + rng.standard_normal((N, P))
    # "through_groups": Y depends on X only through the group effect; nothing within groups
    return (shared_x + rng.standard_normal((N, P)),
            shared_x @ rng.standard_normal((P, P)) + rng.standard_normal((N, P)))


def _rejection_rate(measure, structure, groups=None, groups_mode="between", seed=0):
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(N_DATASETS):
        x, y = _null_dataset(rng, structure)
        r = rl.stats.permutation_test(x, y, measure=measure, n_permutations=19, seed=rng, groups=groups,
                                      groups_mode=groups_mode)
        rejected += r.pvalue <= 0.05
    return rejected


@pytest.mark.parametrize("measure", FAMILIES)
def test_type_one_rate_without_groups(measure):
    rejected = _rejection_rate(measure, "independent")
    assert LOW <= rejected <= HIGH, f"{rejected}/{N_DATASETS} rejections at 0.05"


@pytest.mark.parametrize("measure", ["linear_cka", "debiased_linear_cka", "rbf_cka", "cca_mean_rho"])
def test_type_one_rate_with_whole_groups_exchanged(measure):
    rejected = _rejection_rate(measure, "clustered", groups=GROUPS, seed=1)
    assert LOW <= rejected <= HIGH, f"{rejected}/{N_DATASETS} rejections at 0.05"


@pytest.mark.parametrize("measure", ["linear_cka", "debiased_linear_cka", "rbf_cka", "cca_mean_rho"])
def test_type_one_rate_with_rows_shuffled_within_groups(measure):
    rejected = _rejection_rate(measure, "through_groups", groups=GROUPS, groups_mode="within", seed=2)
    assert LOW <= rejected <= HIGH, f"{rejected}/{N_DATASETS} rejections at 0.05"


def test_ignoring_groups_on_clustered_data_rejects_far_too_often():
    rejected = _rejection_rate("linear_cka", "clustered", seed=1)
    assert rejected > 3 * HIGH


def test_max_t_controls_the_family_wise_rate_over_a_grid():
    rng = np.random.default_rng(3)
    corrected = uncorrected = 0
    for _ in range(N_DATASETS):
        a = {f"a{k}": rng.standard_normal((N, 5)) for k in range(3)}
        b = {f"b{k}": rng.standard_normal((N, 5)) for k in range(3)}
        s = rl.stats.compare(a, b, n_permutations=19, seed=rng)
        corrected += bool(np.any(s.pvalues_corrected <= 0.05))
        uncorrected += bool(np.any(s.pvalues <= 0.05))
    assert corrected <= HIGH, f"family-wise rate {corrected}/{N_DATASETS}"
    assert uncorrected > 3 * HIGH


def population_debiased_cka(w, noise):
    """CKA of x ~ N(0, I_p), y = x W + noise e: ||W||_F^2 / (sqrt(p) ||W^T W + noise^2 I||_F)."""
    p, q = w.shape
    return float(np.sum(w * w) / (np.sqrt(p) * np.linalg.norm(w.T @ w + noise**2 * np.eye(q))))


def test_bca_intervals_of_debiased_cka_cover_the_population_value():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((5, 5)) / np.sqrt(5)
    truth = population_debiased_cka(w, 1.0)
    covered, repeats = 0, 100
    for _ in range(repeats):
        x = rng.standard_normal((100, 5))
        y = x @ w + rng.standard_normal((100, 5))
        b = rl.stats.bootstrap(x, y, measure="debiased_linear_cka", n_resamples=300, seed=rng)
        covered += b.low <= truth <= b.high
    assert covered >= 85, f"coverage {covered}/{repeats}"
