"""S10: freeze training (Raghu et al. 2017, sec. 4.2, Fig. 5).

The paper freezes conv layer i at a fraction i/L of training (the "linear regime"),
averages "ten runs", and says freeze training saves computation and "appears to actively
help generalization accuracy" (figure only). Our miniature (claims.md S10): the zoo's
digits CNN (6 conv layers, no batch norm), 10 seeds, each trained twice on the same
initialisation and mini-batch order, with :class:`~replens.analyses.FreezeSchedule`
``regime="linear"`` and ``regime="none"``; the paired difference of test accuracy gets a
95 % t interval over seeds (:func:`scipy.stats.ttest_rel`).

Criteria, fixed before the first run (claims.md): frozen runs lose at most 1 point of test
accuracy on average while saving >= 30 % of the backward compute
(:meth:`~replens.analyses.FreezeSchedule.backward_fraction_saved`, parameter-gradient work,
a lower bound); the generalisation gain is exploratory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..analyses import FreezeSchedule
from ..zoo import build, load, train
from .claims import Claim, Outcome

__all__ = ["run"]

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6")
FULL = {"seeds": 10, "epochs": 20, "optimizer": "adam", "lr": 1e-3, "batch_size": 32}
QUICK = {"seeds": 3, "epochs": 6, "optimizer": "adam", "lr": 1e-3, "batch_size": 32}


def _train(data: tuple, settings: dict[str, Any], seed: int, regime: str) -> tuple[Any, FreezeSchedule]:
    model = build("cnn", input_shape=(1, 8, 8), seed=seed)
    total = settings["epochs"] * -(-len(data[0]) // settings["batch_size"])
    schedule = FreezeSchedule(model, LAYERS, total, regime=regime)
    trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                    seed=seed, batch_size=settings["batch_size"], freeze=schedule)
    return trained, schedule


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train every seed with and without freezing; score S10's claims."""
    import pandas as pd
    from matplotlib.figure import Figure
    from scipy.stats import ttest_rel

    settings = dict(QUICK if quick else FULL)
    data = load("digits", seed=0)
    rows, curves = [], {"none": [], "linear": []}
    saved = None
    freeze_steps: dict[str, int] = {}
    for seed in range(settings["seeds"]):
        for regime in ("none", "linear"):
            trained, schedule = _train(data, settings, seed, regime)
            history = np.asarray(trained.history.test_accuracy, dtype=np.float64)
            curves[regime].append(history)
            rows.append({"seed": seed, "regime": regime, "test_accuracy": float(history[-1])})
            if regime == "linear":
                saved = schedule.backward_fraction_saved()
                freeze_steps = dict(schedule.freeze_steps)
        log(f"seed {seed}: test accuracy {rows[-2]['test_accuracy']:.3f} (baseline), "
            f"{rows[-1]['test_accuracy']:.3f} (frozen)")
    frame = pd.DataFrame(rows)
    base = frame[frame.regime == "none"].test_accuracy.to_numpy()
    frozen = frame[frame.regime == "linear"].test_accuracy.to_numpy()
    difference = frozen - base
    test = ttest_rel(frozen, base)
    low, high = test.confidence_interval(0.95)
    mean = float(difference.mean())
    claims = [
        Claim(claim="S10.no_accuracy_loss",
              statement="freeze training (layer i frozen at i/L of training) keeps test accuracy",
              paper="figure only (Fig. 5): frozen curves at or above the baseline",
              ours=f"frozen - baseline test accuracy {100 * mean:+.2f} points (95 % CI {100 * low:+.2f} to "
                   f"{100 * high:+.2f}; {len(base)} paired seeds); baseline {100 * base.mean():.1f} %",
              holds="yes" if mean >= -0.01 else "no",
              note="criterion (claims.md): mean paired loss at most 1 point." + (
                  "" if mean >= -0.01 else " Likely reason: the top layers freeze before the digits CNN "
                  "has converged.")),
        Claim(claim="S10.compute_saved",
              statement="freeze training reduces training cost",
              paper="stated, no number (sec. 4.2)",
              ours=f"backward compute saved {100 * saved:.1f} % (parameter-gradient work, a lower bound)",
              holds="yes" if saved >= 0.3 else "partly" if saved > 0 else "no",
              note="criterion (claims.md): >= 30 % saved. FreezeSchedule counts weight-gradient work in "
                   "proportion to parameters; conv layers near the input have few parameters but large maps, "
                   "and the backward pass below the lowest trained layer is skipped too, so the real "
                   "saving is larger." if saved < 0.3 else "criterion (claims.md): >= 30 % saved "
                   "(parameter-gradient work; the real saving is larger)."),
        Claim(claim="S10.generalisation",
              statement="freeze training 'appears to actively help generalization accuracy' (exploratory)",
              paper="figure only (Fig. 5)",
              ours=f"paired difference {100 * mean:+.2f} points, 95 % CI {100 * low:+.2f} to {100 * high:+.2f}, "
                   f"p = {test.pvalue:.2f}",
              holds="yes" if low > 0 else "no",
              note="criterion: the 95 % CI of the paired difference lies above 0. claims.md expects this "
                   "gain not to appear in miniature." if low <= 0 else
                   "criterion: the 95 % CI of the paired difference lies above 0."),
    ]
    figure = Figure(figsize=(6.5, 4.0))
    ax = figure.add_subplot()
    for regime, colour, label in (("none", "black", "baseline"), ("linear", "tab:blue", "frozen (linear)")):
        stacked = np.vstack(curves[regime])
        epochs = np.arange(1, stacked.shape[1] + 1)
        ax.plot(epochs, stacked.mean(axis=0), color=colour, label=f"{label}, mean of {len(stacked)}")
        ax.fill_between(epochs, stacked.min(axis=0), stacked.max(axis=0), color=colour, alpha=0.15)
    steps_per_epoch = -(-len(data[0]) // settings["batch_size"])
    for step in freeze_steps.values():
        ax.axvline(step / steps_per_epoch, color="grey", lw=0.7, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("freeze training: conv layer i frozen at i/6 of training (grey lines)")
    ax.legend()
    figure.tight_layout()
    settings.update({"dataset": "digits", "data_seed": 0, "network": "build('cnn', input_shape=(1, 8, 8))",
                     "frozen_layers": list(LAYERS), "regime": "linear", "seeds": list(range(settings["seeds"])),
                     "freeze_steps": freeze_steps, "backward_fraction_saved": saved})
    return Outcome(claims=tuple(claims), figures=(("accuracy", "test accuracy over training, frozen vs baseline "
                                                   "(band: min-max over seeds)", figure),),
                   tables=(("runs", "final test accuracy of every run", frame),), settings=settings)
