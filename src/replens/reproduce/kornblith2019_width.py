"""K11: wider networks learn more similar representations; earlier layers saturate first
(Kornblith et al. 2019, sec. 6.2, Fig. 6).

The paper shows "CKA between networks with different layer widths": "Like Morcos et al.
(2018), we find that increasing layer width leads to more similar representations between
networks. As width increases, CKA approaches 1; CKA of earlier layers saturates faster than
later layers. Networks are generally more similar to other networks of the same width than
they are to the widest network we trained." Fig. 6 plots, per layer, linear CKA with the
widest network (left) and with other networks of the same width (middle), "computed between
10 networks; shaded regions reflect jackknife standard error".

Our miniature (claims.md K11, shared with P06 through :mod:`._width`, so that this
experiment reuses P06's trained networks from the zoo's cache): the zoo's CNN with one 3x3
conv per stage and (4, 8, 16) x w channels, widths w = 1, 2, 4, 8, 16 (claims.md's x32 is
dropped for time, as in P06), 5 seeds per width (the paper: 10), Adam at 1e-3, batch 64, 20
epochs on the first 2000 training images of the 14x14 MNIST subset. Layers ``relu1``-
``relu3`` on the first 500 test images (class-balanced), whole layers (no subsampling:
CKA has no size bias to control) flattened to (n, c h w): the paper counts every position
of a conv feature map as a neuron (sec. 2.1: convolutional networks "have more neurons in
some layers than there are examples"), which is the regime where CKA, unlike CCA, stays
informative. One :func:`~replens.reproduce._population.sweep_population` of linear CKA
over all 25 networks; per layer and width, the mean CKA over the pairs of distinct networks
of that width (10) and over the pairs (network of that width, widest network) (25)
(:func:`~replens.analyses.group_distances` on 1 - CKA). Error bars: the jackknife over the
500 probe examples (:func:`replens.stats.jackknife`, as the paper's) of each of those means
(:func:`~replens.analyses.populations.mean_jackknife`), each layer reduced first to its
Gram factor (:func:`~replens.analyses.populations.gram_factor`: exact for linear CKA, and
n x n instead of n x c h w).

Criteria (claims.md K11, fixed before the first full run):

* ``K11.same_width_rises``: Spearman(width, same-width CKA) >= 0.9 at each layer (partly: at
  some layers); compared with a 1e-9 tolerance, since Spearman's rho of 5 widths is a
  multiple of 0.1 (the first full run scored 0.8999999999999999 as below 0.9: fixed).
* ``K11.early_saturates``: the smallest width at which same-width CKA reaches 0.95 is smaller
  for ``relu1`` than for the last layer ``relu3`` (a layer that never reaches it counts as
  beyond the widest) (partly: the same width).
* ``K11.same_beats_widest``: same-width CKA > CKA to the widest in >= 70 % of the (width,
  layer) cells below the widest width (partly: >= 50 %).

Settings tried: only those above (quick: widths 1, 2, 4, 3 seeds, 600 training images,
6 epochs, 200 test images as the probe).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import gram_factor, group_distances, mean_jackknife
from ..stats import jackknife
from ._population import sweep_population
from ._width import LAYERS, SETTINGS, width_population
from .claims import Claim, Outcome, verdict

__all__ = ["run"]

LEVEL = 0.95
"""claims.md K11: the CKA at which a layer counts as saturated."""
TIE = 1e-9
"""Spearman's rho of 5 widths takes the values k/10; rounding must not move one onto the wrong
side of the criterion's 0.9."""
FULL = {"widths": [1, 2, 4, 8, 16], "seeds": [0, 1, 2, 3, 4], "epochs": 20, "n_train": 2000, "n_probe": 500}
QUICK = {"widths": [1, 2, 4], "seeds": [0, 1, 2], "epochs": 6, "n_train": 600, "n_probe": 200}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Load (or train) the width population, sweep linear CKA over it; score K11's claims."""
    import pandas as pd
    from matplotlib.figure import Figure
    from scipy.stats import spearmanr

    settings = dict(QUICK if quick else FULL)
    pop = width_population(widths=settings["widths"], seeds=settings["seeds"], epochs=settings["epochs"],
                           n_train=settings["n_train"], probe="test", n_probe=settings["n_probe"], subsample=False,
                           log=log)
    population = sweep_population(pop.activations, ["linear_cka"], layers=LAYERS, conv="flatten", log=log)
    distances = {layer: population.result.distances("linear_cka", layer=layer) for layer in LAYERS}
    stats = group_distances(distances, pop.groups())
    widths = [float(w) for w in stats.groups]
    top = len(widths) - 1
    same = 1.0 - stats.within                      # (layers, widths)
    to_widest = 1.0 - stats.between[:, :, top]      # (layers, widths); the widest column equals `same`

    members = {w: [n.name for n in pop.nets if n.width == w] for w in widths}
    factors = {name: {layer: gram_factor(acts) for layer, acts in layers.items()}
               for name, layers in pop.activations.items()}
    same_se = np.zeros_like(same)
    widest_se = np.zeros_like(same)
    for i, layer in enumerate(LAYERS):
        for g, w in enumerate(widths):
            names = members[w]
            within_pairs = [(a, b) for k, a in enumerate(names) for b in names[k + 1:]]
            across_pairs = within_pairs if g == top else [(a, b) for a in names for b in members[widths[top]]]
            for pairs, out in ((within_pairs, same_se), (across_pairs, widest_se)):
                out[i, g] = mean_jackknife([jackknife(factors[a][layer], factors[b][layer]) for a, b in pairs]).se
    log(f"jackknife over {pop.n_probe} test images for {len(LAYERS) * len(widths) * 2} (layer, width, panel) means")

    rank = [float(spearmanr(widths, same[i]).statistic) for i in range(len(LAYERS))]
    rank_widest = [float(spearmanr(widths[:top], to_widest[i, :top]).statistic) if top >= 2 else float("nan")
                   for i in range(len(LAYERS))]
    rises = sum(r >= 0.9 - TIE for r in rank)
    saturation = [next((w for w, v in zip(widths, same[i]) if v >= LEVEL), None) for i in range(len(LAYERS))]
    first, last = saturation[0], saturation[-1]
    beyond = float("inf")
    first_at, last_at = (beyond if first is None else first), (beyond if last is None else last)
    early = "yes" if first is not None and first_at < last_at else "partly" if first is not None and \
        first_at == last_at else "no"
    beats = same[:, :top] > to_widest[:, :top]
    fraction = float(beats.mean())
    failed = ", ".join(f"{layer} x{w:g}" for i, layer in enumerate(LAYERS) for g, w in enumerate(widths[:top])
                       if not beats[i, g]) or "none"

    def fmt(w: float | None) -> str:
        return "never" if w is None else f"x{w:g}"

    claims = [
        Claim(claim="K11.same_width_rises",
              statement="'increasing layer width leads to more similar representations between networks' "
                        "(CKA between networks of the same width, Fig. 6 middle)",
              paper="figure only (Fig. 6)",
              ours="Spearman(width, same-width CKA) " + ", ".join(
                  f"{layer} {r:+.2f}" for layer, r in zip(LAYERS, rank)) + "; same-width CKA " + "; ".join(
                  f"{layer} " + " ".join(f"{v:.3f}" for v in same[i]) for i, layer in enumerate(LAYERS)) +
                   f" at widths {', '.join(f'x{w:g}' for w in widths)}; CKA to the widest rises too (Spearman "
                   + ", ".join(f"{r:+.2f}" for r in rank_widest) + ")",
              holds=verdict(rises, len(LAYERS)),
              note=f"criterion (claims.md K11): Spearman >= 0.9 at each of {len(LAYERS)} layers (partly: some); "
                   f"linear CKA of flattened layers on {pop.n_probe} test images, mean over the pairs of "
                   f"{len(members[widths[0]])} networks per width; x32 dropped for time." + (
                       "" if rises == len(LAYERS) else " Likely reason: CKA at that layer is already near its "
                       "ceiling at small widths, so noise between seeds decides the order.")),
        Claim(claim="K11.early_saturates",
              statement="'As width increases, CKA approaches 1; CKA of earlier layers saturates faster than later "
                        "layers'",
              paper="figure only (Fig. 6)",
              ours=f"same-width CKA first >= {LEVEL}: " + ", ".join(
                  f"{layer} {fmt(w)}" for layer, w in zip(LAYERS, saturation)) +
                   f"; at the widest width {', '.join(f'{v:.3f}' for v in same[:, top])}",
              holds=early,
              note=f"criterion (claims.md K11): {LAYERS[0]} reaches {LEVEL} at a smaller width than the last layer "
                   f"{LAYERS[-1]} (a layer that never reaches it counts as beyond the widest; partly: at the same "
                   "width)." + ("" if early == "yes" else " Likely reason: the widest width we could train (x16) "
                                "is too narrow for the first layer to reach the level, or both saturate at once.")),
        Claim(claim="K11.same_beats_widest",
              statement="'Networks are generally more similar to other networks of the same width than they are "
                        "to the widest network we trained'",
              paper="figure only (Fig. 6, left vs middle)",
              ours=f"same-width CKA > CKA to the widest in {int(beats.sum())} of {beats.size} (width, layer) cells "
                   f"({fraction:.0%}); mean difference {float(np.mean(same[:, :top] - to_widest[:, :top])):+.3f}",
              holds="yes" if fraction >= 0.7 else "partly" if fraction >= 0.5 else "no",
              note="criterion (claims.md K11): same-width CKA beats CKA to the widest in >= 70 % of the (width, "
                   "layer) cells below the widest width (partly: >= 50 %)." + (
                       "" if fraction >= 0.7 else f" It fails at {failed}. Likely reason: a network of the "
                       "narrowest width is far from its peers, and in relu1 every comparison sits at the ceiling "
                       "(differences of a few 1e-3); there a network is at least as close to the widest networks, "
                       "which lie near the population's common solution, as to another network of its own width.")),
    ]

    figure = Figure(figsize=(10.0, 4.0))
    axes = figure.subplots(1, 2, sharey=True)
    for panel, (ax, values, errors, title) in enumerate(zip(
            axes, (to_widest, same), (widest_se, same_se),
            (f"similarity with the widest network (x{widths[top]:g})", "similarity with networks of the same width"))):
        for i, layer in enumerate(LAYERS):
            line, = ax.plot(widths, values[i], marker="o", label=layer)
            ax.fill_between(widths, values[i] - errors[i], values[i] + errors[i], color=line.get_color(), alpha=0.25)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width multiplier")
        ax.set_title(title, fontsize=9)
        ax.axhline(LEVEL, color="grey", ls=":", lw=0.8)
    axes[0].set_ylabel("linear CKA (mean; band: jackknife SE)")
    axes[1].legend(fontsize=8)
    figure.tight_layout()

    table = pd.DataFrame([{"layer": layer, "width": w, "same_width_cka": same[i, g], "same_width_se": same_se[i, g],
                           "same_width_std": stats.within_std[i, g], "to_widest_cka": to_widest[i, g],
                           "to_widest_se": widest_se[i, g], "to_widest_std": stats.between_std[i, g, top],
                           "same_beats_widest": bool(same[i, g] > to_widest[i, g]) if g < top else None}
                          for i, layer in enumerate(LAYERS) for g, w in enumerate(widths)])
    net_table = pd.DataFrame([{"network": n.name, "width": n.width, "seed": n.seed, "channels": str(n.channels),
                               "train_accuracy": n.train_accuracy, "test_accuracy": n.test_accuracy} for n in pop.nets])
    settings.update({**SETTINGS, "layers": list(LAYERS), "measure": "linear_cka", "conv": "flatten", "probe": "test",
                     "subsampled_units": None, "level": LEVEL, "spearman_same_width": dict(zip(LAYERS, rank)),
                     "saturation_width": dict(zip(LAYERS, saturation)), "fraction_same_beats_widest": fraction,
                     "jackknife": "over probe examples, of the mean over pairs",
                     "dropped_widths": [] if quick else [32]})
    return Outcome(claims=tuple(claims),
                   figures=(("width", ("Linear CKA with the widest network (left) and with networks of the same "
                                      "width (right), per layer; bands: jackknife standard error (CKA Fig. 6)"),
                             figure),),
                   tables=(("cka", ("mean CKA per layer and width, to the same width and to the widest, with "
                                   "jackknife SE and the spread over pairs"), table),
                           ("networks", "every network: width, seed, channels, accuracies", net_table)),
                   settings=settings)
