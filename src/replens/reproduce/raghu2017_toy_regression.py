"""S01: on a toy regression, neurons differ across seeds while SVCCA directions match, and a
few directions carry the output (Raghu et al. 2017, Fig. 1 and Fig. 3).

The paper trains two fully connected nets (four hidden layers, 1-D input, 4-D output) from
different initialisations on "four different simple functions", finds the top SVCCA
directions of the penultimate layer (200 neurons) "almost visually identical (up to a
sign)" across the nets while the top-activation neurons are not, and, projecting that layer
onto its top 2, 6, 15 and 30 SVCCA directions, "by 30, the output looks very similar to the
full 200 neuron output". Our miniature (claims.md S01, fixed before the first run): the zoo's
``"toy_regression"`` (x in [-1, 1]; targets sin(pi x), cos(pi x), x^2, |x|; 2000 random
training inputs, a 500-point test grid), ``build("mlp", input_shape=(1,), n_classes=4,
units=200, layers=4)`` with seeds 0 and 1, Adam at 1e-3, batch 64, mean squared error,
300 epochs (quick: 60); the penultimate layer is ``relu4``. SVCCA directions of net 0 against
net 1 on the training inputs with the 0.99 variance threshold, or ``keep=30`` when the
threshold keeps fewer than 30 directions on either side (claims.md's risk); output R^2 on
the test grid via :func:`~replens.analyses.output_fidelity`; single-neuron matches via
:func:`~replens.analyses.best_neuron_correlations` (each neuron of net 0 against every neuron
of net 1, on the test grid's activations).

Criteria (claims.md S01): the top-5 SVCCA rho are all >= 0.95 and above the best
correlations between individual neurons (their mean over net 0's neurons; the largest
single pair is reported too); and the output R^2 rises with k (2, 6, 15, 30) to >= 0.95 at
k = 30.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..analyses import best_neuron_correlations, output_fidelity
from ..measures.directions import cca_directions
from ..zoo import build, load, train
from ..zoo.layers import hidden_activations
from .claims import Claim, Outcome

__all__ = ["run"]

LAYER = "relu4"
FULL = {"units": 200, "layers": 4, "epochs": 300, "optimizer": "adam", "lr": 1e-3, "batch_size": 64,
        "seeds": [0, 1], "data_seed": 0, "threshold": 0.99, "min_kept": 30, "ks": [2, 6, 15, 30]}
QUICK = {**FULL, "epochs": 60}
FUNCTIONS = ("sin(pi x)", "cos(pi x)", "x^2", "|x|")


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train two regression MLPs, compare relu4 by neurons and by SVCCA; score S01's claims."""
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    data = load("toy_regression", seed=settings["data_seed"])
    nets, test_r2 = [], []
    for seed in settings["seeds"]:
        model = build("mlp", input_shape=(1,), n_classes=4, units=settings["units"], layers=settings["layers"],
                      seed=seed)
        trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                        batch_size=settings["batch_size"], seed=seed, loss="mse")
        log(f"seed {seed}: test R^2 {trained.test_r2:.5f}, test MSE {trained.history.test_mse[-1]:.2e}")
        nets.append(trained.model)
        test_r2.append(trained.test_r2)
    train_acts = [dict(hidden_activations(net, data[0]))[LAYER] for net in nets]
    test_acts = [dict(hidden_activations(net, data[2]))[LAYER] for net in nets]
    directions = cca_directions(train_acts[0], train_acts[1], threshold=settings["threshold"])
    kept_at_threshold = directions.kept
    if min(directions.kept) < settings["min_kept"]:
        log(f"the {settings['threshold']} threshold kept {directions.kept}; using keep={settings['min_kept']}")
        directions = cca_directions(train_acts[0], train_acts[1], keep=settings["min_kept"])
    rho = np.asarray(directions.rho, dtype=np.float64)
    best = best_neuron_correlations(test_acts[0], test_acts[1])
    live = best[np.isfinite(best)]
    fidelity = output_fidelity(nets[0], LAYER, directions, settings["ks"], data[2])
    log("R^2 per k: " + ", ".join(f"{k}: {r:.4f}" for k, r in zip(fidelity.ks, fidelity.r2)))
    log(f"top-5 rho {np.round(rho[:5], 4).tolist()}; best neuron match: mean {live.mean():.4f}, "
        f"max {live.max():.4f} over {live.size} live neurons")

    top5 = rho[:5]
    matched = bool(top5.min() >= 0.95 and top5.min() > live.mean())
    above_max = bool(top5.min() > live.max())
    rising = bool(np.all(np.diff(fidelity.r2) > 0))
    close = bool(fidelity.r2[-1] >= 0.95)
    claims = [
        Claim(claim="S01.directions_match", statement="the SVCCA pairs are almost visually identical (up to a sign), "
                                                      "unlike the neurons", paper="figure only (Fig. 1)",
              ours=f"top-5 SVCCA rho {', '.join(f'{r:.4f}' for r in top5)}; best |corr| of each of {live.size} "
                   f"live {LAYER} neurons of net 0 with a neuron of net 1: mean {live.mean():.4f}, median "
                   f"{np.median(live):.4f}, max {live.max():.4f}",
              holds="yes" if matched and above_max else "partly" if matched else "no",
              note="criterion (claims.md S01): top-5 rho >= 0.95 and above the mean best single-neuron match "
                   "(yes when above the largest single pair too; partly when above the mean only). Directions: "
                   f"threshold {settings['threshold']} kept {kept_at_threshold}"
                   + (f", so keep={settings['min_kept']}" if min(kept_at_threshold) < settings["min_kept"] else "")
                   + "; correlations on the 500-point test grid."),
        Claim(claim="S01.output_from_few_directions", statement="By 30, the output looks very similar to the full "
                                                                "200 neuron output",
              paper="figure only (Fig. 3, k = 2, 6, 15, 30)",
              ours="output R^2 against the full network, " + ", ".join(
                  f"k = {k}: {r:.4f}" for k, r in zip(fidelity.ks, fidelity.r2))
                   + f" (nets' test R^2 on the targets: {test_r2[0]:.4f}, {test_r2[1]:.4f})",
              holds="yes" if rising and close else "partly" if close or rising else "no",
              note="criterion (claims.md S01): R^2 rises with k and is >= 0.95 at k = 30 (partly: one of the two)."),
    ]
    table = pd.DataFrame({"k": list(fidelity.ks), "r2": fidelity.r2})
    matches = pd.DataFrame({"index": np.arange(rho.size), "svcca_rho": rho})
    figure = Figure(figsize=(10.0, 6.0))
    x = data[2][:, 0]
    order = np.argsort(-test_acts[0].max(axis=0))[:3]
    ax = figure.add_subplot(2, 3, 1)
    for j in order:
        ax.plot(x, test_acts[0][:, j], lw=1)
    ax.set_title("net 0: top-activation neurons", fontsize=8)
    ax = figure.add_subplot(2, 3, 2)
    standard = []  # unit-norm centred neurons; dead ones stay 0, so they are never a best match
    for acts in test_acts:
        centred = acts - acts.mean(axis=0)
        norms = np.linalg.norm(centred, axis=0)
        standard.append(centred / np.where(norms > 0, norms, 1.0))
    for j in order:
        partner = int(np.argmax(np.abs(standard[1].T @ standard[0][:, j])))
        ax.plot(x, test_acts[1][:, partner], lw=1)
    ax.set_title("net 1: best-correlated neuron of each", fontsize=8)
    ax = figure.add_subplot(2, 3, 3)
    variates = [(a - a.mean(axis=0)) @ w[:, :3] for a, w in ((test_acts[0], directions.weights_x),
                                                              (test_acts[1], directions.weights_y))]
    for i in range(3):
        for side, style in ((0, "-"), (1, "--")):
            v = variates[side][:, i]
            ax.plot(x, v / (np.linalg.norm(v) or 1.0), ls=style, lw=1, color=f"C{i}")
    ax.set_title("top-3 SVCCA directions (net 0 solid, net 1 dashed)", fontsize=8)
    shown = sorted({0, max(len(fidelity.ks) - 2, 0), len(fidelity.ks) - 1})
    for panel, k_index in enumerate(shown, start=4):
        k = fidelity.ks[k_index]
        ax = figure.add_subplot(2, 3, panel)
        for j in range(fidelity.full.shape[1]):
            ax.plot(x, fidelity.full[:, j], color=f"C{j}", lw=1.5, alpha=0.4)
            ax.plot(x, fidelity.projected[k_index][:, j], color=f"C{j}", lw=1, ls="--")
        ax.set_title(f"output with {k} directions (dashed) vs full, R^2 {fidelity.r2[k_index]:.3f}", fontsize=8)
    for ax in figure.axes:
        ax.tick_params(labelsize=7)
    figure.tight_layout()
    settings.update({"dataset": "toy_regression", "functions": list(FUNCTIONS), "layer": LAYER,
                     "network": f"build('mlp', input_shape=(1,), n_classes=4, units={settings['units']}, "
                                f"layers={settings['layers']})", "loss": "mse",
                     "kept_at_threshold": list(kept_at_threshold), "kept": list(directions.kept),
                     "rho_top5": [float(r) for r in top5], "net_test_r2": [float(r) for r in test_r2],
                     "neuron_match_mean": float(live.mean()), "neuron_match_max": float(live.max()),
                     "r2": [float(r) for r in fidelity.r2]})
    return Outcome(claims=tuple(claims),
                   figures=(("toy_regression", "neurons, SVCCA directions and outputs from k directions", figure),),
                   tables=(("output_fidelity", "R^2 of the output from k directions", table),
                           ("svcca_rho", "SVCCA correlations of relu4", matches)),
                   settings=settings)
