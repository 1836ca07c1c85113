"""rl.analyses.learning_dynamics and coefficients_over_training on synthetic checkpoints whose
convergence steps are known: layer l equals its final value plus noise that vanishes at s_l."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import replens as rl  # noqa: E402
from replens.activations.cache import ActivationCache  # noqa: E402

torch.set_num_threads(1)

STEPS = list(range(0, 100, 10))          # 10 checkpoints: steps 0, 10, ..., 90
CONVERGE = {"l1": 20, "l2": 40, "l3": 50, "l4": 80}


def _checkpoints(converge=CONVERGE, n=120, width=5, seed=0, steps=STEPS):
    """Layer l at step s: final + (1 + (s_l - s) / 10) * noise before s_l, exactly final after."""
    rng = np.random.default_rng(seed)
    final = {name: rng.standard_normal((n, width)) for name in converge}
    out = []
    for step in steps:
        layers = {}
        for name, at in converge.items():
            scale = (1.0 + (at - step) / 10.0) if step < at else 0.0
            layers[name] = final[name] + scale * rng.standard_normal((n, width))
        out.append((step, layers))
    return out


def test_convergence_steps_and_bottom_up_score_are_recovered():
    d = rl.analyses.learning_dynamics(_checkpoints())
    assert d.values.shape == (10, 4) and d.layers == ("l1", "l2", "l3", "l4")
    assert d.steps.tolist() == STEPS and d.reference == 9 and d.measure == "svcca_mean_rho"
    assert d.convergence_step(0.95) == CONVERGE
    assert d.bottom_up_score() == pytest.approx(1.0)
    top_down = rl.analyses.learning_dynamics(_checkpoints({"a": 80, "b": 50, "c": 20}))
    assert top_down.bottom_up_score() == pytest.approx(-1.0)
    assert top_down.bottom_up_score(exclude=["c"]) == pytest.approx(-1.0)


def test_values_equal_the_pair_function_against_the_reference():
    checkpoints = _checkpoints()
    d = rl.analyses.learning_dynamics(checkpoints, reference=-1, measure="svcca_mean_rho")
    final = checkpoints[-1][1]
    for t, (_, layers) in enumerate(checkpoints):
        for i, name in enumerate(d.layers):
            assert abs(d.values[t, i] - rl.svcca(layers[name], final[name]).mean_rho) < 1e-10
    assert np.allclose(d.values[-1], 1.0)


def test_asymmetric_measure_takes_the_step_as_x_and_reference_can_be_any_checkpoint():
    checkpoints = _checkpoints()
    d = rl.analyses.learning_dynamics(checkpoints, reference=3, measure="pwcca")
    middle = checkpoints[3][1]
    for t in (0, 5, 9):
        layers = checkpoints[t][1]
        assert abs(d.values[t, 1] - rl.pwcca(layers["l2"], middle["l2"])) < 1e-10
    assert d.reference == 3
    # Relative to step 30, l4 (still noisy then) is below 0.95 at the last checkpoint: never converges.
    assert d.convergence_step(0.95)["l4"] is None


def test_all_pairs_holds_every_layer_against_every_reference_layer():
    checkpoints = _checkpoints()
    pairs = rl.analyses.learning_dynamics(checkpoints, measure="linear_cka", all_pairs=True)
    same = rl.analyses.learning_dynamics(checkpoints, measure="linear_cka")
    assert pairs.values.shape == (10, 4, 4)
    assert np.max(np.abs(pairs.same_layer - same.values)) < 1e-12
    final = checkpoints[-1][1]
    assert abs(pairs.values[2, 0, 3] - rl.cka(checkpoints[2][1]["l1"], final["l4"])) < 1e-10
    assert pairs.convergence_step(0.9) == same.convergence_step(0.9)
    pane = pairs.pane(20)
    assert pane.values.shape == (1, 4, 4) and np.array_equal(pane.values[0], pairs.values[2])


def test_reference_layers_are_prepared_once():
    calls = []
    m = rl.register_measure("counting_corr", prepare=lambda x: (calls.append(1), x)[1],
                            score=lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), replace=True)
    try:
        d = rl.analyses.learning_dynamics(_checkpoints(), measure=m)
        assert len(calls) == 10 * 4      # T * L, the reference's layers included once
        calls.clear()
        rl.analyses.learning_dynamics(_checkpoints(), measure=m, all_pairs=True)
        assert len(calls) == 10 * 4
    finally:
        rl.unregister_measure("counting_corr")
    assert d.values.shape == (10, 4)


def test_activation_caches_and_folders_give_the_same_values(tmp_path):
    checkpoints = _checkpoints(n=60)
    caches = []
    for step, layers in checkpoints:
        cache = ActivationCache.create(tmp_path / f"step{step}", {k: ((5,), "float64") for k in layers},
                                       n_examples=60, inputs_hash="probe")
        cache.write(layers, 0)
        caches.append(cache)
    expected = rl.analyses.learning_dynamics(checkpoints, measure="cca_mean_rho").values
    pairs = [(step, tmp_path / f"step{step}") for step, _ in checkpoints]
    assert np.allclose(rl.analyses.learning_dynamics(pairs, measure="cca_mean_rho").values, expected, atol=1e-12)
    bare = rl.analyses.learning_dynamics(caches, measure="cca_mean_rho")
    assert np.allclose(bare.values, expected, atol=1e-12)
    assert bare.steps.tolist() == list(range(10))      # bare caches: their positions
    other = ActivationCache.create(tmp_path / "other", {k: ((5,), "float64") for k in checkpoints[0][1]},
                                   n_examples=60, inputs_hash="another probe")
    other.write(checkpoints[0][1], 0)
    with pytest.raises(rl.ReplensError, match=r"checkpoints\[1\] \(step 1\) was recorded on other inputs"):
        rl.analyses.learning_dynamics([caches[0], other])


def test_conv_and_sequence_layers_follow_the_modes():
    rng = np.random.default_rng(0)
    conv = [(s, {"c": rng.standard_normal((30, 3, 4, 4))}) for s in range(3)]
    d = rl.analyses.learning_dynamics(conv, measure="cca_mean_rho", conv="spatial_as_examples")
    expected = rl.cca(conv[0][1]["c"].transpose(0, 2, 3, 1).reshape(-1, 3),
                      conv[2][1]["c"].transpose(0, 2, 3, 1).reshape(-1, 3)).mean_rho
    assert abs(d.values[0, 0] - expected) < 1e-10
    seq = [(s, {"h": torch.from_numpy(rng.standard_normal((40, 5, 3)))}) for s in range(3)]
    d = rl.analyses.learning_dynamics(seq, measure="pwcca", sequence="time_as_examples")
    assert abs(d.values[1, 0] - rl.pwcca(seq[1][1]["h"].reshape(-1, 3), seq[2][1]["h"].reshape(-1, 3))) < 1e-10
    mixed = [(s, {"c": rng.standard_normal((30, 3, 4, 4)), "d": rng.standard_normal((30, 3, 2, 2))})
             for s in range(2)]
    with pytest.raises(rl.ShapeError, match="every layer must give the same number of rows"):
        rl.analyses.learning_dynamics(mixed, conv="spatial_as_examples", all_pairs=True)
    assert rl.analyses.learning_dynamics(mixed, conv="mean_pool", all_pairs=True).values.shape == (2, 2, 2)


def test_progress_bar_is_shown_on_request(capsys):
    rl.analyses.learning_dynamics(_checkpoints(), progress=True)
    assert "replens learning_dynamics" in capsys.readouterr().err
    rl.analyses.learning_dynamics(_checkpoints(), progress=False)
    assert capsys.readouterr().err == ""


def test_bottom_up_score_without_an_order_is_nan_with_a_warning():
    d = rl.analyses.learning_dynamics(_checkpoints({"a": 20, "b": 20, "c": 20}))
    with pytest.warns(rl.UninformativeWarning, match="every layer converges at the same step"):
        assert np.isnan(d.bottom_up_score())
    with pytest.raises(rl.UnknownOptionError, match="needs at least 2 layers"):
        d.bottom_up_score(exclude=["a", "b"])
    with pytest.raises(rl.UnknownOptionError, match="exclude must list layer names"):
        d.bottom_up_score(exclude=["zzz"])
    with pytest.raises(rl.UnknownOptionError, match="level must be a finite number"):
        d.convergence_step("high")


def test_plot_returns_figure_and_axes():
    d = rl.analyses.learning_dynamics(_checkpoints(), all_pairs=True)
    fig, ax = d.plot(log_steps=True)
    assert len(ax.get_lines()) == 4 and ax.get_xscale() == "symlog"
    fig2, ax2 = d.plot(step=40)
    assert ax2.get_images()
    with pytest.raises(rl.UnknownOptionError, match="step must be one of the checkpoints' steps"):
        d.plot(step=41)
    single = rl.analyses.learning_dynamics(_checkpoints())
    with pytest.raises(rl.UnknownOptionError, match="pane needs learning_dynamics"):
        single.plot(step=40)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_checkpoint_errors_name_the_checkpoint():
    good = _checkpoints(n=40)
    bad_n = list(good)
    bad_n[2] = (20, {**good[2][1], "l3": good[2][1]["l3"][:-1]})
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[2\] \(step 20\)\['l3'\] has 39 examples, but .* has 40"):
        rl.analyses.learning_dynamics(bad_n)
    bad_layers = list(good)
    bad_layers[4] = (40, {k: v for k, v in good[4][1].items() if k != "l2"} | {"extra": good[4][1]["l2"]})
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[4\] \(step 40\) does not hold the layers .* "
                                            r"\(missing \[.l2.\], extra \[.extra.\]\)"):
        rl.analyses.learning_dynamics(bad_layers)
    bad_shape = list(good)
    bad_shape[1] = (10, {**good[1][1], "l1": np.zeros((40, 6))})
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[1\] \(step 10\)\['l1'\] has shape \(40, 6\)"):
        rl.analyses.learning_dynamics(bad_shape)
    with pytest.raises(rl.ShapeError, match=r"steps must increase strictly; checkpoints\[1\] \(step 0\)"):
        rl.analyses.learning_dynamics([good[0], (0, good[1][1])])
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[0\] has step None"):
        rl.analyses.learning_dynamics([(None, good[0][1])])
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[1\] must be \(step, layers\)"):
        rl.analyses.learning_dynamics([good[0], 42])
    with pytest.raises(rl.ShapeError, match="checkpoints must be a sequence"):
        rl.analyses.learning_dynamics(good[0][1])
    with pytest.raises(rl.ShapeError, match="at least 1 checkpoints; got 0"):
        rl.analyses.learning_dynamics([])
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[0\] \(step 0\) holds no layers"):
        rl.analyses.learning_dynamics([(0, {})])
    with pytest.raises(rl.ShapeError, match=r"\['l1'\] has 1-D shape"):
        rl.analyses.learning_dynamics([(0, {"l1": np.zeros(5)})])
    with pytest.raises(rl.NonFiniteError, match=r"checkpoints\[3\] \(step 30\)\['l2'\] contains NaN"):
        nan = list(good)
        nan[3] = (30, {**good[3][1], "l2": np.full((40, 5), np.nan)})
        rl.analyses.learning_dynamics(nan)


def test_option_errors():
    good = _checkpoints(n=40)
    with pytest.raises(rl.UnknownOptionError, match="measure must be one of"):
        rl.analyses.learning_dynamics(good, measure="no_such_measure")
    with pytest.raises(rl.UnknownOptionError, match="reference must be the index of a checkpoint, an integer "
                                                    "from -10 to 9"):
        rl.analyses.learning_dynamics(good, reference=10)
    with pytest.raises(rl.UnknownOptionError, match="all_pairs must be True or False"):
        rl.analyses.learning_dynamics(good, all_pairs="yes")
    with pytest.raises(rl.UnknownOptionError, match="conv='dft'"):
        rl.analyses.learning_dynamics(good, conv="dft")
    with pytest.raises(rl.TooFewExamplesError, match="debiased_linear_cka needs at least 4 examples"):
        rl.analyses.learning_dynamics(_checkpoints(n=3), measure="debiased_linear_cka")
    with pytest.raises(rl.UnknownOptionError, match="sequence must be one of"):
        rl.analyses.learning_dynamics(good, sequence="sideways")


def test_more_features_than_examples_warns():
    rng = np.random.default_rng(0)
    checkpoints = [(s, {"wide": rng.standard_normal((10, 8))}) for s in range(3)]
    with pytest.warns(rl.UninformativeWarning, match="3 comparisons"):
        rl.analyses.learning_dynamics(checkpoints, measure="cca_mean_rho")


# ------------------------------------------------------------------- coefficients_over_training

def test_coefficients_over_training_are_the_sorted_cca_rho_per_step():
    checkpoints = _checkpoints()
    rho = rl.analyses.coefficients_over_training(checkpoints, "l3")
    assert rho.shape == (10, 5)
    final = checkpoints[-1][1]["l3"]
    for t, (_, layers) in enumerate(checkpoints):
        assert np.max(np.abs(rho[t] - rl.cca(layers["l3"], final).rho)) < 1e-10
    assert np.all(np.diff(rho, axis=1) <= 0)
    assert np.allclose(rho[5:], 1.0) and np.all(rho[:4, -1] < 0.9)   # l3 converges at step 50
    kept = rl.analyses.coefficients_over_training(checkpoints, "l3", reference=2, keep=3)
    assert kept.shape == (10, 3)
    assert np.max(np.abs(kept[0] - rl.svcca(checkpoints[0][1]["l3"], checkpoints[2][1]["l3"], keep=3).rho)) < 1e-10
    with pytest.warns(rl.UninformativeWarning, match="the truncation kept fewer directions there"):
        thresholded = rl.analyses.coefficients_over_training(checkpoints, "l3", threshold=0.5)
    counts = [rl.svcca(layers["l3"], final, threshold=0.5).rho.shape[0] for _, layers in checkpoints]
    assert thresholded.shape[1] == max(counts)
    assert [int(np.sum(~np.isnan(row))) for row in thresholded] == counts


def test_coefficients_pad_lower_rank_steps_with_nan_and_warn():
    checkpoints = _checkpoints(n=50)
    low = checkpoints[1][1]["l1"].copy()
    low[:, 4] = low[:, 3]
    checkpoints[1] = (10, {**checkpoints[1][1], "l1": low})
    with pytest.warns(rl.UninformativeWarning, match=r"checkpoints\[1\] \(step 10\)\) have fewer than 5"):
        rho = rl.analyses.coefficients_over_training(checkpoints, "l1")
    assert np.isnan(rho[1, 4]) and not np.isnan(rho[1, :4]).any() and not np.isnan(rho[0]).any()


def test_coefficients_errors():
    good = _checkpoints(n=40)
    with pytest.raises(rl.UnknownOptionError, match=r"layer 'l9' is not in the checkpoints; they hold the "
                                                    r"layers \['l1', 'l2', 'l3', 'l4'\]"):
        rl.analyses.coefficients_over_training(good, "l9")
    with pytest.raises(rl.UnknownOptionError, match="layer must be a layer name"):
        rl.analyses.coefficients_over_training(good, 3)
    with pytest.raises(rl.UnknownOptionError, match="give threshold or keep, not both"):
        rl.analyses.coefficients_over_training(good, "l1", threshold=0.9, keep=2)
    with pytest.raises(rl.UnknownOptionError, match="keep must be a positive integer"):
        rl.analyses.coefficients_over_training(good, "l1", keep=-1)
    with pytest.raises(rl.UnknownOptionError, match="reference must be the index"):
        rl.analyses.coefficients_over_training(good, "l1", reference=1.5)
    bad = list(good)
    bad[5] = (50, {**good[5][1], "l1": good[5][1]["l1"][:30]})
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[5\] \(step 50\)\['l1'\] has 30 examples"):
        rl.analyses.coefficients_over_training(bad, "l1")


def test_analyses_import_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, replens; replens.analyses.learning_dynamics; "
            "print(sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture(autouse=True)
def _no_stray_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", rl.UninformativeWarning)
        yield


def test_more_error_paths():
    good = _checkpoints(n=40)
    with pytest.raises(rl.ShapeError, match=r"checkpoints\[0\] \(step 0\) has a layer named 3; layer names must "
                                            r"be strings"):
        rl.analyses.learning_dynamics([(0, {3: np.zeros((4, 2))})])
    with pytest.raises(rl.ShapeError, match=r"\['l1'\] is a scalar"):
        rl.analyses.learning_dynamics([(0, {"l1": 1.0})])
    with pytest.raises(rl.UnknownOptionError, match="rule must be one of"):
        rl.analyses.coefficients_over_training(good, "l1", rule="energy")
    with pytest.raises(rl.UnknownOptionError, match=r"threshold must be a number in \(0, 1\]"):
        rl.analyses.coefficients_over_training(good, "l1", threshold=0)
    rng = np.random.default_rng(0)
    wide = [(s, {"wide": rng.standard_normal((10, 8))}) for s in range(3)]
    with pytest.warns(rl.UninformativeWarning, match=r"3 checkpoints \(e.g. checkpoints\[0\] \(step 0\)\) give "
                                                     r"'wide' more features than the examples can separate"):
        rl.analyses.coefficients_over_training(wide, "wide")
