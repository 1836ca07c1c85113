"""S11: where class information forms, from each layer against one class's logit (Raghu et al.
2017, sec. 4.3, Fig. 6).

The paper runs DFT CCA between every layer of an ImageNet ResNet and the logit of one class
over the dataset: the distinct class (firetruck) is "clearly distinct" and shows "greater
sensitivity displayed much sooner", while visually similar classes (two pairs of dogs) are
"very close". Our miniature (claims.md S11, fixed before the first run): the digits CNN of
K13 (seed 0, channels (32, 64, 64), Adam 1e-3, 60 epochs; quick: (16, 32, 64), 10 epochs),
its six ReLU layers and the GAP layer on the 599 test images,
:func:`~replens.analyses.class_sensitivity` with ``conv="dft"`` (the DC block, see its
module) and mean CCA, for the visually similar pairs {4, 9} and {3, 5} against the distinct
classes 0 and 1. The plan's MNIST CNN (14x14) is replaced by the digits one already trained
for K13, to stay within a few seconds.

Criteria (claims.md S11): the mean within-pair gap over layers is smaller than the mean gap
between each distinct class and the pairs; and every class's curve rises with depth
(GAP above the first ReLU).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import class_sensitivity
from ..zoo.layers import layer_activations
from .claims import Claim, Outcome
from .kornblith2019_shared_subspace import FULL as K13_FULL
from .kornblith2019_shared_subspace import QUICK as K13_QUICK
from .kornblith2019_shared_subspace import trained_cnns

__all__ = ["run"]

PAIRS = [[4, 9], [3, 5]]
DISTINCT = [0, 1]


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Each layer of a digits CNN against single-class logits; score S11's claims."""
    import pandas as pd
    import torch
    from matplotlib.figure import Figure

    settings = {key: value for key, value in (K13_QUICK if quick else K13_FULL).items() if key != "cos_tol"}
    nets, data = trained_cnns(settings, log)
    net = nets[0]
    acts = dict(layer_activations(net, data[2], layer_types=(torch.nn.ReLU, torch.nn.AdaptiveAvgPool2d,
                                                            torch.nn.Linear)))
    logits = acts.pop("out")
    classes = [c for pair in PAIRS for c in pair] + DISTINCT
    values = class_sensitivity(acts, logits, classes, measure="cca_mean_rho", conv="dft")
    table = pd.DataFrame(values, index=[f"class {c}" for c in classes], columns=list(acts))
    log(table.round(3).to_string())
    row = {c: values[i] for i, c in enumerate(classes)}
    within = float(np.mean([np.mean(np.abs(row[a] - row[b])) for a, b in PAIRS]))
    pair_mean = np.mean([row[c] for pair in PAIRS for c in pair], axis=0)
    between = float(np.mean([np.mean(np.abs(row[d] - pair_mean)) for d in DISTINCT]))
    rises = {c: bool(row[c][-1] > row[c][0]) for c in classes}
    claims = [
        Claim(claim="S11.pairs_close", statement="the lines within each pair are very close; the distinct class is "
                                                 "clearly distinct",
              paper="figure only (Fig. 6, ImageNet ResNet: firetruck vs two pairs of dogs)",
              ours=f"mean |gap| within {PAIRS}: {within:.3f}; between {DISTINCT} and the pairs' mean: {between:.3f}",
              holds="yes" if within < between else "no",
              note="criterion (claims.md S11): mean within-pair gap over layers < mean distinct-vs-pairs gap." + (
                  "" if within < between else " The curves saturate together: every class's logit is nearly "
                                              "linearly predictable (rho >= 0.97) from the middle layers on, and "
                                              "exactly from the last ReLU, whose mean pool is the GAP layer the "
                                              "readout reads; on 8x8 digits these pairs may also not be as alike as "
                                              "the paper's dog breeds.")),
        Claim(claim="S11.rises_with_depth", statement="sensitivity to the class forms with depth",
              paper="figure only (Fig. 6)",
              ours="first ReLU -> GAP: " + ", ".join(f"{c}: {row[c][0]:.2f} -> {row[c][-1]:.2f}" for c in classes),
              holds="yes" if all(rises.values()) else "partly" if any(rises.values()) else "no",
              note="criterion: the GAP layer's value above the first ReLU's for every class."),
    ]
    figure = Figure(figsize=(7.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    for c in classes:
        ax.plot(list(acts), row[c], marker=".", ls="-" if c not in DISTINCT else "--", label=f"class {c}")
    ax.set_ylabel("CCA rho of the layer (DC block) with the class logit")
    ax.legend(fontsize=7)
    figure.tight_layout()
    settings.update({"dataset": "digits", "probe": "the 599 test images", "network_seed": settings["seeds"][0],
                     "pairs": PAIRS, "distinct": DISTINCT, "conv": "dft"})
    return Outcome(claims=tuple(claims), figures=(("class_sensitivity", "each layer against each class's logit",
                                                   figure),),
                   tables=(("class_sensitivity", "CCA of each layer with each class logit", table.reset_index()),),
                   settings=settings)
