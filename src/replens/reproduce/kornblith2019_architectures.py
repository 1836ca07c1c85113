"""K10: comparing a network with its deeper sibling (Kornblith et al. 2019, sec. 6.2, Fig. 5;
App. F.5).

Between a plain CNN and one with each layer repeated, CKA shows that "new layers are
effectively inserted in between the old layers"; "other similarity indexes fail" to show
such relationships (F.5, absent from our copy). Miniature (claims.md K10): the plain digits
CNNs of K08 (:mod:`._plain_depth`, reused from the zoo's cache), each compared with the next
deeper one; :func:`replens.analyses.layer_correspondence` gives the argmax layer of the
deeper net for each layer of the shallower and the map's monotonicity (Spearman).
Conv layers are flattened for CKA (as in K08) and mean-pooled for every measure (so that
the CCA family, 32 units against 599 examples, is informative; flattened, CCA's values are
forced to 1 by the CKA paper's Theorem 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ..analyses import layer_correspondence
from ..engine.compare import compare
from ._plain_depth import SETTINGS, trained_depths
from .claims import Claim, Outcome

__all__ = ["CCA_FAMILY", "FULL", "MONOTONE", "QUICK", "RELATIVE_DEPTH", "run"]

FULL = {"depths": (1, 2, 4, 8), "epochs": 20}
QUICK = {"depths": (1, 2, 8), "epochs": 4}
CCA_FAMILY = ("cca_mean_rho", "svcca_mean_rho", "pwcca")
MONOTONE = 0.9
"""claims.md K10: CKA's argmax map must have Spearman >= this."""
RELATIVE_DEPTH = 0.15
"""Mean |relative depth of the argmax - relative depth of the layer| for 'inserted in between'."""


def _relative_gap(c) -> float:
    a = (np.arange(len(c.layers_a)) + 1) / len(c.layers_a)
    b = (c.argmax_index + 1) / len(c.layers_b)
    return float(np.mean(np.abs(a - b)))


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Compare each plain CNN with the next deeper one and score K10's claims.

    Full: pairs 1x-2x, 2x-4x, 4x-8x after 20 epochs; quick: 1x-2x and 2x-8x after 4 epochs
    (the networks K08 trains, read from the zoo's cache when K08 ran first).
    """
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    depths = settings["depths"]
    nets, _ = trained_depths(depths, settings["epochs"], log)
    pairs = list(itertools.pairwise(depths))
    rows, maps = [], {}
    for shallow, deep in pairs:
        a, b = nets[shallow]["test"], nets[deep]["test"]
        flat = compare(a, b, measures="linear_cka", conv="flatten", progress=False)
        pooled = compare(a, b, measures=("linear_cka", *CCA_FAMILY), conv="mean_pool", progress=False)
        for conv, matrix, names in (("flatten", flat, ("linear_cka",)),
                                    ("mean_pool", pooled, ("linear_cka", *CCA_FAMILY))):
            for name in names:
                c = layer_correspondence(matrix, measure=name)
                maps[shallow, deep, conv, name] = c
                rows.append({"pair": f"{shallow}x-{deep}x", "conv": conv, "measure": name,
                             "monotonicity": c.monotonicity, "relative_depth_gap": _relative_gap(c),
                             "argmax": " ".join(str(j + 1) for j in c.argmax_index)})
        log(f"{shallow}x -> {deep}x: CKA argmax " + rows[-len(CCA_FAMILY) - 1]["argmax"])
    table = pd.DataFrame(rows)

    def monotonicity(conv: str, name: str) -> np.ndarray:
        values = table[(table.conv == conv) & (table.measure == name)].monotonicity.to_numpy()
        return np.nan_to_num(values, nan=0.0)      # a constant map is not monotone

    cka = monotonicity("flatten", "linear_cka")
    gaps = table[(table.conv == "flatten") & (table.measure == "linear_cka")].relative_depth_gap.to_numpy()
    pooled_cka = float(monotonicity("mean_pool", "linear_cka").mean())
    family = {name: float(monotonicity("mean_pool", name).mean()) for name in CCA_FAMILY}
    lower = [name for name, value in family.items() if value < pooled_cka]
    pair_names = [f"{s}x-{d}x" for s, d in pairs]
    claims = [
        Claim(claim="K10.cka_monotone",
              statement="the linear-CKA argmax map from a network to its deeper sibling is monotone",
              paper="figure only (Fig. 5)",
              ours="Spearman of the argmax map " + ", ".join(f"{p}: {v:.2f}" for p, v in zip(pair_names, cka)),
              holds="yes" if np.all(cka >= MONOTONE) else "partly" if np.any(cka >= MONOTONE) else "no",
              note=f"criterion: Spearman >= {MONOTONE} for every pair (yes), some pairs (partly) (claims.md); "
                   "flattened conv layers."),
        Claim(claim="K10.inserted_between",
              statement="'new layers are effectively inserted in between the old layers': layer i of the "
                        "shallow net maps to about layer 2i of its 2x sibling",
              paper="figure only (Fig. 5)",
              ours="mean |relative depth of argmax - relative depth| " +
                   ", ".join(f"{p}: {v:.2f}" for p, v in zip(pair_names, gaps)),
              holds="yes" if np.all(gaps <= RELATIVE_DEPTH) else "partly" if np.any(gaps <= RELATIVE_DEPTH) else "no",
              note=f"criterion: mean gap in relative depth <= {RELATIVE_DEPTH} for every pair (yes), some (partly); "
                   "fixed before the run." + ("" if np.all(gaps <= RELATIVE_DEPTH) else
                   " Likely reason: the deeper nets' pathology (K08): runs of their layers are near-copies, so "
                   "the argmax lands on one layer of a run (often its first) rather than at 2i.")),
        Claim(claim="K10.cca_family_less_monotone",
              statement="other similarity indexes fail to show the correspondence (App. F.5)",
              paper="App. F.5 (absent from our copy)",
              ours=f"mean Spearman over pairs, mean-pooled: linear CKA {pooled_cka:.2f}; "
                   + ", ".join(f"{k} {v:.2f}" for k, v in family.items()),
              holds="yes" if len(lower) == len(CCA_FAMILY) else "partly" if lower else "no",
              note="criterion: every CCA-family index has a less monotone map than linear CKA (yes), some "
                   "(partly); a constant map counts as 0. Mean-pooled for all, so CCA is informative."
                   + ("" if len(lower) == len(CCA_FAMILY) else " Likely reason: mean-pooled layers of 32 "
                      "channels are low-dimensional, where CCA is far better behaved than on All-CNN-C layers.")),
    ]
    figure = Figure(figsize=(4.2 * len(pairs), 4))
    for k, (shallow, deep) in enumerate(pairs):
        ax = figure.add_subplot(1, len(pairs), k + 1)
        for name, marker in (("linear_cka", "o-"), *((n, ".--") for n in CCA_FAMILY)):
            conv = "flatten" if name == "linear_cka" else "mean_pool"
            c = maps[shallow, deep, conv, name]
            ax.plot(np.arange(1, len(c.layers_a) + 1), c.argmax_index + 1, marker, label=f"{name} ({conv})")
        ax.set_xlabel(f"layer of the {shallow}x net")
        ax.set_ylabel(f"most similar layer of the {deep}x net")
        ax.set_title(f"{shallow}x vs {deep}x", fontsize=9)
        ax.legend(fontsize=7)
    figure.suptitle("K10: argmax maps to a deeper sibling")
    figure.tight_layout()
    return Outcome(claims=tuple(claims),
                   figures=(("argmax", "argmax layer of the deeper net per layer of the shallower", figure),),
                   tables=(("correspondence", "argmax map and its monotonicity per pair, measure and conv mode",
                            table),),
                   settings={"seeds": [SETTINGS["seed"]], **settings, "depths": list(depths), **SETTINGS,
                             "monotone": MONOTONE, "relative_depth": RELATIVE_DEPTH,
                             "cca_family": list(CCA_FAMILY), "probe": "digits test split (599)"})
