"""P02: signal directions are stable, noise directions are not (Morcos et al. 2018, Fig. 1d-f).

The paper runs CCA between a layer at t_early and at T/2, takes the "100 top converged
vectors (according to rho_{T/2})" as S and the "100 least converged" as B, and follows
CCA(S, L_t) and CCA(B, L_t): S "remains stable through training (signal)", B "rapidly
becomes uncorrelated" (its spike at T/2 is an artefact of how B was chosen). Our miniature
(claims.md P02): an MLP of two hidden layers of 512 units on the 14x14 MNIST subset, plain
SGD, 21 evenly spaced checkpoints of the second hidden layer on 5000 training images,
t_early = the second checkpoint (5 % of training), k = 100,
:func:`~replens.analyses.direction_stability`; the noise floor is the permutation null of
CCA rho-bar between B and the final layer (:func:`replens.stats.permutation_test`).

Criteria, fixed before the first run (claims.md): rho-bar(S, L_t) >= 0.9 at every checkpoint;
rho-bar(B, L_t) within 0.1 of its permutation null at the checkpoints more than one away
from T/2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import direction_stability
from ..measures.directions import cca_directions
from ..stats import permutation_test
from ..zoo import Recorder, build, load, train
from .claims import Claim, Outcome

__all__ = ["run"]

LAYER = "relu2"
FULL = {"units": 512, "k": 100, "probe": 5000, "epochs": 20, "n_checkpoints": 21, "optimizer": "sgd",
        "lr": 0.05, "batch_size": 64, "seed": 0, "early": 1, "n_permutations": 20}
QUICK = {"units": 128, "k": 25, "probe": 2000, "epochs": 6, "n_checkpoints": 11, "optimizer": "sgd",
         "lr": 0.05, "batch_size": 64, "seed": 0, "early": 1, "n_permutations": 10}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train the MLP with checkpoints, track S and B; score P02's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    data = load("mnist14", seed=0)
    model = build("mlp", units=settings["units"], layers=2, input_shape=(1, 14, 14), seed=settings["seed"])
    recorder = Recorder([LAYER], data[0][: settings["probe"]], steps="linear",
                        n_checkpoints=settings["n_checkpoints"])
    trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                    seed=settings["seed"], batch_size=settings["batch_size"], record=recorder)
    log(f"trained {settings['epochs']} epochs, test accuracy {trained.history.test_accuracy[-1]:.4f}")
    checkpoints = recorder.checkpoints
    k = settings["k"]
    stability = direction_stability(checkpoints, LAYER, early=settings["early"], k=k)
    middle = int(np.flatnonzero(np.array([s for s, _ in checkpoints]) == stability.middle_step)[0])

    early_acts = np.asarray(checkpoints[settings["early"]][1][LAYER], dtype=np.float64)
    middle_acts = np.asarray(checkpoints[middle][1][LAYER], dtype=np.float64)
    final_acts = np.asarray(checkpoints[-1][1][LAYER], dtype=np.float64)
    bottom_set = cca_directions(early_acts, middle_acts).variates_y[:, -k:]
    null = permutation_test(bottom_set, final_acts, measure="cca_mean_rho",
                            n_permutations=settings["n_permutations"], seed=0)
    floor = float(np.mean(null.null))

    positions = np.flatnonzero(np.array([s for s, _ in checkpoints]) > stability.early_step)
    away = np.array([abs(int(p) - middle) > 1 for p in positions])
    top_min = float(np.min(stability.top))
    bottom_away = stability.bottom[away]
    excess = float(np.max(bottom_away - floor)) if bottom_away.size else float("nan")
    gap = stability.top[away] - stability.bottom[away]
    claims = [
        Claim(claim="P02.signal_stable",
              statement="S (the top converged directions) 'remains stable through training (signal)'",
              paper="figure only (Fig. 1d)",
              ours=f"rho-bar(S, L_t) min {top_min:.3f} over {len(stability.steps)} checkpoints (k = {k})",
              holds="yes" if top_min >= 0.9 else "partly" if np.mean(stability.top >= 0.9) >= 0.5 else "no",
              note="criterion (claims.md): >= 0.9 at every checkpoint after t_early (partly: at half of them)."),
        Claim(claim="P02.noise_decorrelates",
              statement="B (the least converged directions) 'rapidly becomes uncorrelated', apart from the "
                        "spike at T/2",
              paper="figure only (Fig. 1e)",
              ours=f"rho-bar(B, L_t) away from T/2: {np.min(bottom_away):.3f}-{np.max(bottom_away):.3f} (first "
                   f"checkpoint {stability.bottom[0]:.3f}, peak {np.max(stability.bottom):.3f} at T/2, last "
                   f"{stability.bottom[-1]:.3f}); permutation floor {floor:.3f}; largest excess {excess:+.3f}",
              holds="yes" if excess <= 0.1 else "partly" if np.median(bottom_away - floor) <= 0.1 else "no",
              note=f"criterion (claims.md): within 0.1 of the permutation null (mean of "
                   f"{settings['n_permutations']} shuffles of B against the final layer) at every checkpoint "
                   f"more than one from T/2 (partly: at most of them). The floor is of order sqrt(p/n) = "
                   f"{np.sqrt(settings['units'] / settings['probe']):.2f}." + (
                       "" if excess <= 0.1 else " Likely reason: CCA(B, L_t) asks whether B's directions are "
                       "linear functions of L_t; this MLP's layer keeps nearly the same span after t_early (full "
                       "rank, slow constant-rate SGD), so even the least converged directions stay inside it.")),
        Claim(claim="P02.signal_above_noise",
              statement="S is far more similar to the network at every step than B",
              paper="figure only (Fig. 1d vs 1e)",
              ours=f"rho-bar(S) - rho-bar(B) away from T/2: min {np.min(gap):+.3f}",
              holds="yes" if np.min(gap) >= 0.2 else "partly" if np.min(gap) > 0 else "no",
              note="criterion (fixed before the run): the gap >= 0.2 at every checkpoint more than one from T/2."),
    ]
    figure = Figure(figsize=(6.5, 4.0))
    ax = figure.add_subplot()
    ax.plot(stability.steps, stability.top, marker=".", label=f"S: top {k} directions")
    ax.plot(stability.steps, stability.bottom, marker=".", label=f"B: bottom {k} directions")
    ax.axhline(floor, color="grey", ls="--", lw=0.8, label="permutation floor of B")
    ax.axvline(stability.middle_step, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("CCA rho-bar with the layer at the step")
    ax.set_title(f"{LAYER}: directions from steps {stability.early_step:g} vs {stability.middle_step:g}",
                 fontsize=9)
    ax.legend(fontsize=8)
    figure.tight_layout()
    table = pd.DataFrame({"step": stability.steps, "top": stability.top, "bottom": stability.bottom})
    settings.update({"dataset": "mnist14", "data_seed": 0, "probe_source": "training images", "layer": LAYER,
                     "network": f"build('mlp', units={settings['units']}, layers=2, input_shape=(1, 14, 14))",
                     "steps": "linear", "middle_step": stability.middle_step, "early_step": stability.early_step,
                     "seeds": [settings["seed"]], "permutation_floor": floor})
    return Outcome(claims=tuple(claims), figures=(("directions", "CCA rho-bar of the signal (S) and noise (B) "
                                                   "direction sets with the layer over training", figure),),
                   tables=(("directions", "rho-bar of S and B at every checkpoint after t_early", table),),
                   settings=settings)
