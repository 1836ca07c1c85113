"""rl.analyses.direction_stability (PWCCA Fig 1d-f) and timestep_similarity on data whose answer is
known: a fixed signal subspace plus noise redrawn at every checkpoint; hidden states related
linearly, nonlinearly or not at all."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import replens as rl

N, SIGNAL, NOISE = 1500, 4, 12


def _checkpoints(steps=(0, 10, 20, 30, 40, 50, 60), seed=0):
    """Layer (n, 16) = [fixed signal, fresh noise] @ a fixed mixing: only the signal persists."""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((N, SIGNAL))
    mixing = rng.standard_normal((SIGNAL + NOISE, SIGNAL + NOISE))
    out = []
    for step in steps:
        drift = rng.standard_normal((SIGNAL, SIGNAL)) * 0.1 + np.eye(SIGNAL)   # invertible: still the signal
        layer = np.hstack([signal @ drift, rng.standard_normal((N, NOISE))]) @ mixing
        out.append((step, {"fc": layer, "other": rng.standard_normal((N, 3))}))
    return out


def test_top_directions_stay_and_bottom_ones_decorrelate():
    checkpoints = _checkpoints()
    s = rl.analyses.direction_stability(checkpoints, "fc", early=0, k=SIGNAL)
    assert s.steps.tolist() == [10, 20, 30, 40, 50, 60]
    assert s.middle_step == 30 and s.early_step == 0 and s.k == SIGNAL and s.layer == "fc"
    assert s.top.shape == (6,) and s.top_rho.shape == (6, SIGNAL) and s.bottom_rho.shape == (6, SIGNAL)
    assert np.all(s.top > 0.999)                                   # signal: stable through training
    middle = s.steps.tolist().index(30)
    assert s.bottom[middle] > 1 - 1e-10                            # the spike: B lies in L(T/2)
    others = np.delete(s.bottom, middle)
    assert np.all(others < 0.15)                                   # noise: at the sqrt(p/n) floor
    assert np.allclose(s.rho[:SIGNAL], 1.0, atol=1e-3) and np.all(s.rho[SIGNAL:] < 0.2)


def test_sets_are_the_middle_variates_and_values_equal_cca():
    checkpoints = _checkpoints()
    s = rl.analyses.direction_stability(checkpoints, "fc", early=1, middle=4, k=3)
    d = rl.cca_directions(checkpoints[1][1]["fc"], checkpoints[4][1]["fc"])
    assert np.max(np.abs(s.rho - d.rho)) < 1e-12
    later = checkpoints[5][1]["fc"]
    assert np.max(np.abs(s.top_rho[3] - rl.cca(d.variates_y[:, :3], later).rho)) < 1e-10
    assert np.max(np.abs(s.bottom_rho[3] - rl.cca(d.variates_y[:, -3:], later).rho)) < 1e-10
    assert abs(s.top[3] - rl.cca(d.variates_y[:, :3], later).mean_rho) < 1e-10
    assert s.steps.tolist() == [20, 30, 40, 50, 60] and s.middle_step == 40


def test_overlapping_sets_warn():
    with pytest.warns(rl.UninformativeWarning, match="the top and bottom sets share 4"):
        rl.analyses.direction_stability(_checkpoints(), "fc", k=10)


def test_direction_stability_errors():
    checkpoints = _checkpoints()
    with pytest.raises(rl.UnknownOptionError, match="k must be at most the 16 features of 'fc'; got k=17"):
        rl.analyses.direction_stability(checkpoints, "fc", k=17)
    low = [(step, {**layers, "fc": np.repeat(layers["fc"][:, :5], 3, axis=1)[:, :16]})
           for step, layers in checkpoints]
    with pytest.raises(rl.UnknownOptionError, match="k must be at most the 5 canonical directions"):
        rl.analyses.direction_stability(low, "fc", k=6)
    with pytest.raises(rl.UnknownOptionError, match=r"middle must be a checkpoint after early; got early=3"):
        rl.analyses.direction_stability(checkpoints, "fc", early=3, middle=2)
    with pytest.raises(rl.UnknownOptionError, match="early must leave later checkpoints"):
        rl.analyses.direction_stability(checkpoints, "fc", early=-1)
    with pytest.raises(rl.UnknownOptionError, match="k must be a positive integer"):
        rl.analyses.direction_stability(checkpoints, "fc", k=0)
    with pytest.raises(rl.UnknownOptionError, match="layer 'fc2' is not in the checkpoints"):
        rl.analyses.direction_stability(checkpoints, "fc2")
    with pytest.raises(rl.ShapeError, match="at least 2 checkpoints; got 1"):
        rl.analyses.direction_stability(checkpoints[:1], "fc")
    bad = list(checkpoints)
    bad[2] = (20, {**checkpoints[2][1], "fc": checkpoints[2][1]["fc"][:100]})
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[2\] \(step 20\)\['fc'\] has 100 examples"):
        rl.analyses.direction_stability(bad, "fc")


# ------------------------------------------------------------------------- timestep_similarity

def _hidden(n=300, steps=4, d=5, seed=0):
    rng = np.random.default_rng(seed)
    start = rng.standard_normal((n, d))
    states = [start]
    for _ in range(steps - 1):
        states.append(states[-1] @ rng.standard_normal((d, d)))      # invertible linear maps
    return np.stack(states, axis=1), rng


def test_linearly_related_timesteps_are_fully_similar_under_cca():
    hidden, _ = _hidden()
    t = rl.analyses.timestep_similarity(hidden, measure="cca_mean_rho")
    assert t.shape == (4, 4) and np.allclose(t, 1.0, atol=1e-10)
    pw = rl.analyses.timestep_similarity(hidden)                      # default pwcca
    assert np.allclose(pw, 1.0, atol=1e-10)
    cka = rl.analyses.timestep_similarity(hidden, measure="linear_cka")
    assert np.allclose(np.diag(cka), 1.0) and cka.min() < 0.99    # CKA is not invariant to those maps


def test_independent_and_nonlinear_timesteps_and_direction_of_asymmetric_measures():
    rng = np.random.default_rng(1)
    first = rng.standard_normal((400, 4))
    hidden = np.stack([first, np.tanh(3 * first) ** 2, rng.standard_normal((400, 4)),
                       np.hstack([first[:, :2], rng.standard_normal((400, 6))])[:, :4]], axis=1)
    pw = rl.analyses.timestep_similarity(hidden, measure="pwcca")
    for i in range(4):
        for j in range(4):
            assert abs(pw[i, j] - rl.pwcca(hidden[:, i], hidden[:, j])) < 1e-10
    assert abs(pw[0, 3] - pw[3, 0]) > 1e-3                 # direction kept
    assert pw[0, 2] < 0.15 and pw[0, 1] < 0.5              # independent; nonlinear (even) relation
    rho = rl.analyses.timestep_similarity(hidden, measure="cca_mean_rho")
    assert np.allclose(rho, rho.T)


def test_timestep_similarity_errors():
    hidden, _ = _hidden()
    with pytest.raises(rl.ShapeError, match=r"hidden must be 3-D with shape \(sequences, timesteps, units\); "
                                            r"got 2-D"):
        rl.analyses.timestep_similarity(hidden[:, 0])
    with pytest.raises(rl.UnknownOptionError, match="measure must be one of"):
        rl.analyses.timestep_similarity(hidden, measure="nope")
    with pytest.raises(rl.TooFewExamplesError, match="needs at least 4 sequences"):
        rl.analyses.timestep_similarity(hidden[:3], measure="debiased_linear_cka")
    with pytest.raises(rl.ShapeError, match="holds no timesteps"):
        rl.analyses.timestep_similarity(hidden[:, :0])
    with pytest.raises(rl.NonFiniteError, match="contains NaN"):
        bad = hidden.copy()
        bad[0, 1, 0] = np.nan
        rl.analyses.timestep_similarity(bad, measure="linear_cka")


@pytest.fixture(autouse=True)
def _no_stray_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", rl.UninformativeWarning)
        yield


def test_direction_stability_more_error_paths():
    with pytest.raises(rl.UnknownOptionError, match="layer must be a layer name"):
        rl.analyses.direction_stability(_checkpoints(), 0)
    rng = np.random.default_rng(0)
    small = [(s, {"fc": rng.standard_normal((8, 6))}) for s in range(3)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rl.analyses.direction_stability(small, "fc", k=3)
    assert any("give k + rank > n - 1 for 'fc'" in str(w.message) for w in caught)
