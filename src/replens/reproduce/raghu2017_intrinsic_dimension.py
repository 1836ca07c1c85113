"""S02: how many SVCCA directions a layer needs to keep its accuracy (Raghu et al. 2017, sec. 2.1,
Fig. 2a).

The paper projects a layer's output onto its top-k SVCCA directions (against the same
layer of a second network), with no retraining, and finds "the first 25 dimensions provide
nearly the same accuracy as using all 512 dimensions", while k random neurons or the k
neurons of highest activation "require far more directions". Our miniature (claims.md
S02, the pilot's network, fixed before the first run): two MLPs 64-256-256-256-10 (seeds 0
and 1) on sklearn's digits, Adam at 1e-3 for 30 epochs (quick: width 128, 15 epochs), the
second hidden layer (``relu2``); SVCCA directions of network 0 against network 1 on the
training images with ``keep=50`` top singular directions per side (the 0.99 threshold
keeps fewer than 25, claims.md's risk), accuracy on the test images via
:func:`~replens.analyses.accuracy_vs_directions` with the removed components filled with
their training mean; PCA as a further baseline; 5 random-neuron draws.

Criterion (claims.md S02): some k <= 10 % of the width reaches >= 98 % of the full layer's
accuracy, and at that k both neuron baselines are >= 20 points lower.
"""

from __future__ import annotations

from collections.abc import Callable

from ..analyses import accuracy_vs_directions
from ..measures.directions import cca_directions
from ..zoo import build, load, train
from ..zoo.layers import hidden_activations
from .claims import Claim, Outcome

__all__ = ["run"]

LAYER = "relu2"
FULL = {"units": 256, "epochs": 30, "optimizer": "adam", "lr": 1e-3, "seeds": [0, 1], "keep": 50,
        "ks": [1, 2, 3, 5, 10, 15, 25, 50], "fill": "mean", "n_random": 5}
QUICK = {**FULL, "units": 128, "epochs": 15, "ks": [1, 3, 5, 10, 25, 50]}


def trained_pair(settings: dict, log: Callable[[str], None]) -> tuple[list, tuple]:
    """The two digits MLPs of S02 and S12 (cached by the zoo), and the data."""
    data = load("digits", seed=0)
    nets = []
    for seed in settings["seeds"]:
        model = build("mlp", units=settings["units"], layers=3, input_shape=(1, 8, 8), seed=seed)
        trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                        seed=seed)
        log(f"seed {seed}: test accuracy {trained.test_accuracy:.4f}")
        nets.append(trained.model)
    return nets, data


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train two MLPs, project relu2 onto k directions; score S02's claims."""
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    (net, peer), data = trained_pair(settings, log)
    acts = {name: dict(hidden_activations(model, data[0]))[LAYER] for name, model in (("a", net), ("b", peer))}
    directions = cca_directions(acts["a"], acts["b"], keep=settings["keep"])
    table = accuracy_vs_directions(net, LAYER, (data[2], data[3]), directions, settings["ks"], fill=settings["fill"],
                                   n_random=settings["n_random"], seed=0)
    log(table.to_string(index=False))
    full = float(table.attrs["full_accuracy"])
    width = settings["units"]
    curve = table[table.method == "svcca"].set_index("k").accuracy
    small = [k for k in curve.index if k <= 0.1 * width and curve[k] >= 0.98 * full]
    k_star = min(small) if small else None
    baseline = {name: table[(table.method == name)].set_index("k").accuracy for name in
                ("random_neurons", "max_activation", "pca")}
    if k_star is not None:
        gaps = {name: float(curve[k_star] - baseline[name][k_star]) for name in ("random_neurons", "max_activation")}
    else:
        gaps = {}
    reached = k_star is not None
    far = reached and min(gaps.values()) >= 0.2
    at = (lambda name, k: f"{baseline[name][k]:.3f}") if reached else None
    claims = [
        Claim(claim="S02.few_directions", statement="the first 25 dimensions provide nearly the same accuracy as "
                                                    "using all 512 dimensions of a fully connected layer",
              paper="25 of 512 (Fig. 2a, CIFAR-10 convnet)",
              ours=f"{LAYER} of width {width}: full accuracy {full:.3f}; SVCCA k = " + ", ".join(
                  f"{k}: {curve[k]:.3f}" for k in curve.index) + (
                  f"; fewest k <= 10 % of the width reaching 98 % of full: {k_star}" if reached else
                  "; no k <= 10 % of the width reaches 98 % of full"),
              holds="yes" if reached else "no",
              note="criterion (claims.md S02): some k <= 10 % of the width reaches >= 98 % of the full layer's "
                   f"accuracy (directions: keep={settings['keep']} SVD directions per side, then CCA; fill: training "
                   "mean)."),
        Claim(claim="S02.baselines_need_more", statement="random neurons and max-activation neurons require far more "
                                                         "directions", paper="figure only (Fig. 2a)",
              ours=(f"at k = {k_star}: SVCCA {curve[k_star]:.3f}, random neurons {at('random_neurons', k_star)}, "
                    f"max activation {at('max_activation', k_star)}, PCA {at('pca', k_star)}" if reached else
                    "no k reached the criterion above") + "; at k = " + f"{max(curve.index)}: random " + (
                  f"{baseline['random_neurons'][max(curve.index)]:.3f}, max activation "
                  f"{baseline['max_activation'][max(curve.index)]:.3f}"),
              holds="yes" if far else "partly" if reached and max(gaps.values()) >= 0.2 else "no",
              note="criterion: both neuron baselines >= 20 points below SVCCA at that k (other neurons at their "
                   "training mean; the paper does not state its fill)."),
    ]
    figure = Figure(figsize=(6.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    for name in ("svcca", "pca", "max_activation", "random_neurons"):
        part = table[table.method == name]
        ax.plot(part.k, part.accuracy, marker=".", label=name)
    ax.axhline(full, color="black", lw=0.8, ls="--", label=f"full layer ({width})")
    ax.set_xscale("log")
    ax.set_xlabel("k kept")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"digits MLP, {LAYER}: accuracy with k directions or neurons", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    settings.update({"dataset": "digits", "layer": LAYER, "network": f"build('mlp', units={width}, layers=3, "
                     "input_shape=(1, 8, 8))", "rho_top5": [float(r) for r in directions.rho[:5]]})
    return Outcome(claims=tuple(claims), figures=(("intrinsic", "accuracy against the number of kept directions",
                                                   figure),),
                   tables=(("intrinsic", "accuracy per k and method", table),), settings=settings)
