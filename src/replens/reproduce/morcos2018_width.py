"""P06: wider networks converge to more similar solutions, and the similarity predicts test
accuracy (Morcos et al. 2018, sec. 3.2, Fig. 4).

The paper trains "groups of 5 networks with different random initializations" of
convolutional networks "with increasing numbers of filters at each layer" on CIFAR-10,
computes the pairwise PWCCA distance within each group on the training data, and finds that
"larger networks converged to much more similar solutions" (Fig. 4a) and that "across pairs
of networks, the correlation between test accuracy and the pairwise CCA distance was -0.96"
(Fig. 4b), so that the distance "may serve as a strong predictor of test accuracy ...
without requiring the use of a validation set". Footnote 8: "a random subset of 128 filters
from the final layer were used for all network comparisons", so that every comparison has
the same number of units.

Our miniature (claims.md P06, shared with K11 through :mod:`._width`): the zoo's CNN with
one 3x3 conv per stage and (4, 8, 16) x w channels (no batch norm), widths w = 1, 2, 4, 8,
16 (claims.md's x32 is dropped: at (128, 256, 512) channels it alone would take about 11
min of CPU for 5 seeds, beyond the ~8 min budget), 5 seeds per width, Adam at 1e-3, batch
64, 20 epochs on the first 2000 training images of the 14x14 MNIST subset. Each network's
three ReLU layers on those 2000 training images (the paper computes the distances "using
the train data"), every layer reduced to a fixed random subset of the narrowest width's
channels (4, 8 and 16; :func:`~replens.analyses.populations.subsample_units`, the analogue
of footnote 8's 128 filters), conv layers averaged over spatial positions
(``conv="mean_pool"``: "the representation in a given layer was obtained by averaging across
all spatial locations within each filter", sec. 3.1, for all of sec. 3's analyses). One
:func:`~replens.reproduce._population.sweep_population` of PWCCA over all 25 networks (both
orders, symmetrised by their mean: PWCCA is not symmetric), then the within-width mean and
standard deviation over pairs (:func:`~replens.analyses.group_distances`) and Pearson's r
between each within-width pair's mean test accuracy and its distance
(:func:`~replens.analyses.populations.distance_accuracy_correlation`).

Diagnostic (no claim): the same within-width distance for the whole final layer, every
channel kept, so that the effect of footnote 8's subsampling can be seen.

Criteria (claims.md P06, fixed before the first full run), at the final conv layer
``relu3`` (the layer of footnote 8):

* ``P06.within_falls``: Spearman(width, mean within-width distance) <= -0.9 (partly: < 0);
  compared with a 1e-9 tolerance, since Spearman's rho of 5 widths is a multiple of 0.1.
* ``P06.accuracy_predicts``: Pearson(test accuracy, distance) over within-width pairs < -0.5
  (partly: < 0).

Settings tried: only those above (quick: widths 1, 2, 4, 3 seeds, 600 training images,
6 epochs, the same 600 images as the probe).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import distance_accuracy_correlation, group_distances
from ._population import sweep_population
from ._width import LAYERS, SETTINGS, width_population
from .claims import Claim, Outcome

__all__ = ["run"]

LAYER = "relu3"
TIE = 1e-9
"""Spearman's rho of 5 widths takes the values k/10; rounding must not move one onto the wrong
side of the criterion's -0.9."""
"""The final conv layer: the claims' layer (PWCCA footnote 8: "filters from the final layer")."""
FULL = {"widths": [1, 2, 4, 8, 16], "seeds": [0, 1, 2, 3, 4], "epochs": 20, "n_train": 2000, "n_probe": 2000}
QUICK = {"widths": [1, 2, 4], "seeds": [0, 1, 2], "epochs": 6, "n_train": 600, "n_probe": 600}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train (or load) the width population, sweep PWCCA within it; score P06's claims."""
    import pandas as pd
    from matplotlib.figure import Figure
    from scipy.stats import spearmanr

    settings = dict(QUICK if quick else FULL)
    pop = width_population(widths=settings["widths"], seeds=settings["seeds"], epochs=settings["epochs"],
                           n_train=settings["n_train"], probe="train", n_probe=settings["n_probe"], subsample=True,
                           log=log)
    population = sweep_population(pop.activations, ["pwcca"], layers=LAYERS, conv="mean_pool", pairs="all", log=log)
    distances = {layer: population.result.distances("pwcca", layer=layer) for layer in LAYERS}
    groups = pop.groups()
    stats = group_distances(distances, groups)
    widths = [float(w) for w in stats.groups]
    order = list(distances[LAYER].names)
    by_name = {net.name: net for net in pop.nets}
    accuracy = np.array([by_name[name].test_accuracy for name in order])
    pairs = {layer: distance_accuracy_correlation(distances[layer], accuracy, groups=groups) for layer in LAYERS}
    per_net = distance_accuracy_correlation(distances[LAYER], accuracy, groups=groups, over="networks")
    rank = {layer: float(spearmanr(widths, stats.within[i]).statistic) for i, layer in enumerate(LAYERS)}
    # diagnostic (no claim): the final layer whole, without footnote 8's subsampling
    whole_pop = width_population(widths=settings["widths"], seeds=settings["seeds"], epochs=settings["epochs"],
                                 n_train=settings["n_train"], probe="train", n_probe=settings["n_probe"],
                                 subsample=False, layers=(LAYER,), log=lambda message: None)
    whole_sweep = sweep_population(whole_pop.activations, ["pwcca"], layers=(LAYER,), conv="mean_pool", pairs="all")
    whole = group_distances({LAYER: whole_sweep.result.distances("pwcca", layer=LAYER)}, groups).within[0]
    whole_rank = float(spearmanr(widths, whole).statistic)
    last = LAYERS.index(LAYER)
    within = stats.within[last]
    falls = rank[LAYER] <= -0.9 + TIE
    r = pairs[LAYER].r
    group_acc = [float(np.mean([n.test_accuracy for n in pop.nets if n.width == w])) for w in widths]

    claims = [
        Claim(claim="P06.within_falls",
              statement="larger networks 'converged to much more similar solutions than smaller networks' "
                        "(pairwise PWCCA distance within groups of 5 identical networks)",
              paper="figure only (Fig. 4a: the distance falls as the number of filters grows)",
              ours=f"{LAYER} within-width distance " + ", ".join(
                  f"x{w:g} {m:.3f}+-{s:.3f}" for w, m, s in zip(widths, within, stats.within_std[last])) +
                   f"; Spearman(width, distance) {rank[LAYER]:+.2f} (" + ", ".join(
                  f"{layer} {rank[layer]:+.2f}" for layer in LAYERS if layer != LAYER) + f"); diagnostic, the whole "
                   f"{LAYER} (no subsampling): " + ", ".join(f"x{w:g} {m:.3f}" for w, m in zip(widths, whole)) +
                   f", Spearman {whole_rank:+.2f}",
              holds="yes" if falls else "partly" if rank[LAYER] < 0 else "no",
              note="criterion (claims.md P06): Spearman(width, mean within-width PWCCA distance) <= -0.9 at the "
                   f"final conv layer {LAYER} (partly: < 0); every layer subsampled to the narrowest width's "
                   f"channels {pop.units}, spatially averaged, on {pop.n_probe} training images; x32 dropped "
                   "for time." + ("" if falls else
                                  " Likely reason: footnote 8's control. Every network is compared on the "
                                  "narrowest width's channels only, so a x16 network on 1/16 of its final-layer "
                                  "filters; the wider the layer, the smaller the share of it a fixed-size random "
                                  "subset holds, and two such subsets agree less, which offsets the convergence "
                                  f"of the whole layers (Spearman {whole_rank:+.2f} without subsampling, the "
                                  "diagnostic; whole layers, though, carry the size bias the subsampling removes). "
                                  "The paper kept 128 filters of wider final layers; our range of widths keeps "
                                  "16.")),
        Claim(claim="P06.accuracy_predicts",
              statement="'the correlation between test accuracy and the pairwise CCA distance was -0.96': "
                        "the distance on the train data may predict test accuracy 'without requiring the use "
                        "of a validation set'",
              paper="r = -0.96 (Fig. 4b)",
              ours=f"{LAYER}: Pearson r {r:+.2f} over {pairs[LAYER].accuracy.size} within-width pairs (pair "
                   f"accuracy = mean of the two; per network: {per_net.r:+.2f}; other layers: " + ", ".join(
                  f"{layer} {pairs[layer].r:+.2f}" for layer in LAYERS if layer != LAYER) + "); mean test "
                   "accuracy " + ", ".join(f"x{w:g} {a:.3f}" for w, a in zip(widths, group_acc)),
              holds="yes" if r < -0.5 else "partly" if r < 0 else "no",
              note="criterion (claims.md P06): Pearson(test accuracy, within-width pairwise distance) < -0.5 at "
                   f"{LAYER} (partly: < 0); distances on training images only, accuracy on the 2000 held-out "
                   "test images." + ("" if r < -0.5 else
                                     " Likely reason: the accuracy spread within and across widths is small on "
                                     "MNIST, so the correlation rests on few distinct values.")),
    ]

    figure = Figure(figsize=(10.0, 4.0))
    ax, bx = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for i, layer in enumerate(LAYERS):
        ax.errorbar(widths, stats.within[i], yerr=stats.within_std[i], marker="o", capsize=3,
                    label=f"{layer} ({pop.units[layer]} channels)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width multiplier")
    ax.set_ylabel("PWCCA distance within width (mean +- std)")
    ax.set_title("(a) wider networks converge to more similar solutions", fontsize=9)
    ax.legend(fontsize=8)
    labels = np.array([groups[name] for name in order])
    same = (labels[:, None] == labels[None, :]) & ~np.eye(len(order), dtype=bool)
    i_idx, j_idx = np.nonzero(np.triu(same, k=1))
    values = np.asarray(distances[LAYER])
    scatter = bx.scatter(values[i_idx, j_idx], (accuracy[i_idx] + accuracy[j_idx]) / 2, c=np.log2(labels[i_idx]),
                         cmap="viridis")
    figure.colorbar(scatter, ax=bx, label="log2 width")
    bx.set_xlabel(f"PWCCA distance at {LAYER} (pair)")
    bx.set_ylabel("test accuracy (mean of the pair)")
    bx.set_title(f"(b) accuracy against distance: r = {r:+.2f}", fontsize=9)
    figure.tight_layout()

    within_table = pd.DataFrame([{"layer": layer, "width": w, "units": pop.units[layer], "mean": stats.within[i, g],
                                  "std": stats.within_std[i, g], "n_networks": stats.sizes[g],
                                  "whole_layer_mean": whole[g] if layer == LAYER else np.nan}
                                 for i, layer in enumerate(LAYERS) for g, w in enumerate(widths)])
    pair_distances = {f"distance_{layer}": np.asarray(distances[layer])[i_idx, j_idx] for layer in LAYERS}
    pair_table = pd.DataFrame({"network_a": [order[i] for i in i_idx], "network_b": [order[j] for j in j_idx],
                               "width": labels[i_idx], **pair_distances,
                               "mean_test_accuracy": (accuracy[i_idx] + accuracy[j_idx]) / 2})
    net_table = pd.DataFrame([{"network": n.name, "width": n.width, "seed": n.seed, "channels": str(n.channels),
                               "train_accuracy": n.train_accuracy, "test_accuracy": n.test_accuracy} for n in pop.nets])
    settings.update({**SETTINGS, "layers": list(LAYERS), "claim_layer": LAYER, "measure": "pwcca",
                     "conv": "mean_pool", "probe": "train", "subsampled_units": pop.units,
                     "subsample_seeds": "1000 * network index + layer index", "pairs": "all, symmetrised by mean",
                     "spearman_width_distance": rank, "pearson_accuracy_distance": {k: v.r for k, v in pairs.items()},
                     "pearson_accuracy_distance_per_network": per_net.r, "spearman_whole_layer": whole_rank,
                     "dropped_widths": [] if quick else [32]})
    return Outcome(claims=tuple(claims),
                   figures=(("width", ("(a) PWCCA distance within each width, per layer; (b) test accuracy against "
                                      f"the within-width distance at {LAYER}"), figure),),
                   tables=(("within", ("mean and std of the within-width PWCCA distance per layer and width (and, "
                                      f"as a diagnostic, the mean for the whole {LAYER}, not subsampled)"),
                            within_table),
                           ("pairs", "every within-width pair: distances per layer and mean test accuracy", pair_table),
                           ("networks", "every network: width, seed, channels, accuracies", net_table)),
                   settings=settings)
