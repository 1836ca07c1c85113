"""P01: CCA coefficients keep changing after accuracy has converged (Morcos et al. 2018, sec. 2.2,
Fig. 1a-c).

The paper computes the sorted canonical correlations of a layer at time t against the same
layer at the end of training and finds that "many of the coefficients continue to change
well after the network's performance has converged", which it reads as noise. Our
miniature (claims.md P01): an MLP of two hidden layers of 512 units on the 14x14 MNIST
subset, plain SGD, 40 epochs, 40 evenly spaced checkpoints of the second hidden layer on
the 2000 test images (log-spaced ones, tried first, leave almost none after accuracy has
converged), :func:`~replens.analyses.coefficients_over_training` against the last.

Criterion, fixed before the first run (claims.md): at the first checkpoint after test
accuracy is within 0.5 points of its final value (and stays there), at least 30 % of the
coefficients are still below 0.9, and they keep rising (the mean coefficient grows from
there to the last checkpoint before the reference).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..analyses import coefficients_over_training
from ..errors import UninformativeWarning
from ..zoo import Recorder, build, load, train
from .claims import Claim, Outcome

__all__ = ["run"]

LAYER = "relu2"
FULL = {"units": 512, "epochs": 40, "n_checkpoints": 40, "optimizer": "sgd", "lr": 0.05, "batch_size": 64,
        "seed": 0}
QUICK = {"units": 128, "epochs": 20, "n_checkpoints": 14, "optimizer": "sgd", "lr": 0.05, "batch_size": 64,
         "seed": 0}
TOLERANCE = 0.005


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train the MLP with checkpoints, follow the coefficients; score P01's claim."""
    import pandas as pd
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    data = load("mnist14", seed=0)
    model = build("mlp", units=settings["units"], layers=2, input_shape=(1, 14, 14), seed=settings["seed"])
    recorder = Recorder([LAYER], data[2], steps="linear", n_checkpoints=settings["n_checkpoints"])
    trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                    seed=settings["seed"], batch_size=settings["batch_size"], record=recorder)
    history = np.asarray(trained.history.test_accuracy, dtype=np.float64)
    log(f"trained {settings['epochs']} epochs, test accuracy {history[-1]:.4f}")
    with warnings.catch_warnings():
        # rank-deficient checkpoints (dead units) get NaN-padded rows; counted in the note instead
        warnings.simplefilter("ignore", UninformativeWarning)
        rho = coefficients_over_training(recorder.checkpoints, LAYER)
    padded = int(np.sum(np.isnan(rho).any(axis=1)))
    steps = np.array([step for step, _ in recorder.checkpoints], dtype=np.float64)
    steps_per_epoch = -(-len(data[0]) // settings["batch_size"])

    off = np.flatnonzero(np.abs(history - history[-1]) > TOLERANCE)
    converged_epoch = 1 if off.size == 0 else int(off[-1]) + 2  # epochs are 1-based
    converged_step = converged_epoch * steps_per_epoch
    after = np.flatnonzero(steps >= converged_step)
    t0 = int(after[0]) if after.size else len(steps) - 1
    before_reference = len(steps) - 2
    # rows of rank-deficient checkpoints (dead units) are NaN-padded: count the coefficients that exist
    below_fraction = np.sum(rho < 0.9, axis=1) / np.sum(np.isfinite(rho), axis=1)
    below = float(below_fraction[t0])
    rising = float(np.nanmean(rho[before_reference]) - np.nanmean(rho[t0]))
    holds = t0 < before_reference and below >= 0.3 and rising > 0
    claims = [Claim(
        claim="P01.still_changing",
        statement="many of the coefficients continue to change well after the network's performance has "
                  "converged",
        paper="figure only (Fig. 1a-c; CIFAR-10 CNN, PTB and WikiText-2 RNNs)",
        ours=f"accuracy within {100 * TOLERANCE:.1f} pt of final from epoch {converged_epoch} of "
             f"{settings['epochs']} (step {converged_step}); there {100 * below:.0f} % of the "
             f"{int(np.sum(np.isfinite(rho[t0])))} coefficients are < 0.9, and their mean rises by "
             f"{rising:+.3f} up to step {steps[before_reference]:g}",
        holds="yes" if holds else "partly" if below >= 0.3 or rising > 0 else "no",
        note="criterion (claims.md): >= 30 % of the coefficients < 0.9 once accuracy is within 0.5 points of "
             "its final value, and still rising." + (
                 f" {padded} checkpoints have fewer coefficients (dead units lower the rank); fractions count "
                 "the coefficients that exist." if padded else "") + ("" if holds else (
                 " Accuracy converged only at the last checkpoints, leaving nothing to observe after it."
                 if t0 >= before_reference else " The coefficients had settled.")))]

    figure = Figure(figsize=(11.0, 4.0))
    ax = figure.add_subplot(1, 2, 1)
    colours = colormaps["viridis"](np.linspace(0, 0.95, len(steps) - 1))
    for t in range(len(steps) - 1):
        ax.plot(np.arange(1, rho.shape[1] + 1), rho[t], color=colours[t], lw=2.0 if t == t0 else 0.8)
    ax.set_xlabel("coefficient index (sorted)")
    ax.set_ylabel(f"CCA rho vs step {steps[-1]:g}")
    ax.set_title(f"{LAYER}: coefficients at each checkpoint (bold: accuracy converged)", fontsize=9)
    ax2 = figure.add_subplot(1, 2, 2)
    ax2.plot(steps[:-1], np.nanmean(rho[:-1], axis=1), marker=".", label="mean rho vs final")
    ax2.plot(steps[:-1], below_fraction[:-1], marker=".", label="fraction of rho < 0.9")
    ax2.plot(np.arange(1, len(history) + 1) * steps_per_epoch, history, color="black", label="test accuracy")
    ax2.axvline(converged_step, color="grey", ls="--", lw=0.8)
    ax2.set_xscale("symlog", linthresh=1.0)
    ax2.set_xlabel("step")
    ax2.legend(fontsize=8)
    figure.tight_layout()
    table = pd.DataFrame({"step": steps, "mean_rho": np.nanmean(rho, axis=1),
                          "fraction_below_0.9": below_fraction,
                          "coefficients": np.sum(np.isfinite(rho), axis=1)})
    settings.update({"dataset": "mnist14", "data_seed": 0, "probe": "the 2000 test images", "layer": LAYER,
                     "network": f"build('mlp', units={settings['units']}, layers=2, input_shape=(1, 14, 14))",
                     "steps": "linear", "tolerance": TOLERANCE, "seeds": [settings["seed"]],
                     "history": history.tolist()})
    return Outcome(claims=tuple(claims), figures=(("coefficients", "sorted CCA coefficients over training, "
                                                   "and their mean beside test accuracy", figure),),
                   tables=(("coefficients", "mean coefficient and fraction below 0.9 at every checkpoint",
                            table),), settings=settings)
