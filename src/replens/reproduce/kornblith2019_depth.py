"""K08: the depth pathology of plain CNNs (Kornblith et al. 2019, sec. 6.2, Fig. 3).

"Doubling depth improved accuracy, but greater multipliers hurt accuracy"; at 8x depth
"more than half of the network" is very similar to the last layer under linear CKA; linear
probes "progressively improve with depth" in shallower nets but "plateau less than
halfway" at 8x. Miniature (claims.md K08): the plain digits CNNs of :mod:`._plain_depth`
at 1x, 2x, 4x and 8x depth; linear CKA between all layers (flattened), the fraction of
layers with CKA >= 0.8 to the last (:func:`replens.analyses.fraction_similar_to_last`),
and a global-average-pooled l2 logistic probe per layer (:func:`replens.analyses.linear_probe`,
:func:`replens.analyses.probe_plateau`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import fraction_similar_to_last, linear_probe, probe_plateau
from ..engine.compare import compare
from ._plain_depth import SETTINGS, trained_depths
from .claims import Claim, Outcome

__all__ = ["FULL", "PEAK_FRACTION", "QUICK", "TAU", "run"]

FULL = {"depths": (1, 2, 4, 8), "epochs": 20}
QUICK = {"depths": (1, 2, 8), "epochs": 4}
TAU = 0.8
PEAK_FRACTION = 0.6
"""claims.md K08: the 8x probe must reach its plateau by this fraction of depth."""
PROBE_C = 1.0
PLATEAU_TOL = 0.01


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train the plain CNNs at every depth multiplier, then CKA to the last layer and probes.

    Full: 1x, 2x, 4x, 8x, 20 epochs (~3 min); quick: 1x, 2x, 8x, 4 epochs.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    nets, data = trained_depths(settings["depths"], settings["epochs"], log)
    rows, curves = [], {}
    for depth, net in nets.items():
        matrix = compare(net["test"], measures="linear_cka", conv="flatten", progress=False)
        probe = linear_probe(net["train"], data[1], net["test"], data[3], C=PROBE_C, pool="mean")
        to_last = matrix["linear_cka"][:, -1]
        curves[depth] = (to_last, np.array(list(probe.values())))
        plateau = probe_plateau(probe, tol=PLATEAU_TOL)
        rows.append({"depth_multiplier": depth, "layers": len(probe), "test_accuracy": net["accuracy"],
                     "fraction_similar_to_last": fraction_similar_to_last(matrix, tau=TAU),
                     "probe_plateau_layer": plateau + 1, "probe_plateau_fraction": (plateau + 1) / len(probe),
                     "probe_best": max(probe.values()),
                     "cka_to_last": " ".join(f"{v:.2f}" for v in to_last),
                     "probe_accuracy": " ".join(f"{v:.2f}" for v in probe.values())})
        log(f"{depth}x: CKA to last {rows[-1]['cka_to_last']}; probe {rows[-1]['probe_accuracy']}")
    table = pd.DataFrame(rows)
    by = {row["depth_multiplier"]: row for row in rows}
    acc = {d: by[d]["test_accuracy"] for d in by}
    deepest = max(by)
    order = acc[2] > acc[1] > acc[deepest]
    near = by[deepest]["fraction_similar_to_last"]
    plateau = by[deepest]["probe_plateau_fraction"]
    shallow_rise = all(curves[d][1][-1] > curves[d][1][0] for d in by if d <= 2)
    claims = [
        Claim(claim="K08.accuracy_depth",
              statement="'Doubling depth improved accuracy, but greater multipliers hurt accuracy'",
              paper="figure only (panel titles of Fig. 3)",
              ours="test accuracy " + ", ".join(f"{d}x {acc[d]:.3f}" for d in sorted(acc)),
              holds="yes" if order else "partly" if acc[1] > acc[deepest] or acc[2] > acc[1] else "no",
              note=f"criterion: acc(2x) > acc(1x) > acc({deepest}x) (claims.md); partly if one of the two holds."
                   + (" Quick: 4 epochs, far from converged." if quick else "")),
        Claim(claim="K08.near_copies_of_last",
              statement="at 8x depth 'more than half of the network' is very similar to the last layer",
              paper="figure only (Fig. 3)",
              ours=f"{deepest}x: fraction of layers with linear CKA to the last >= {TAU}: {near:.2f} "
                   f"(of {by[deepest]['layers']})",
              holds="yes" if near >= 0.5 else "no",
              note=f"criterion: at least half the layers with CKA >= {TAU} to the last (claims.md)."),
        Claim(claim="K08.probe_plateau",
              statement="probe accuracy 'plateaus less than halfway' through the 8x network and progressively "
                        "improves with depth in the shallower ones",
              paper="figure only (Fig. 3)",
              ours=f"{deepest}x plateau (first layer within {PLATEAU_TOL} of the best) at layer "
                   f"{by[deepest]['probe_plateau_layer']} of {by[deepest]['layers']} ({plateau:.2f} of depth); "
                   f"1x/2x last layer above first: {shallow_rise}",
              holds="yes" if plateau <= PEAK_FRACTION and shallow_rise else
                    "partly" if plateau <= PEAK_FRACTION or shallow_rise else "no",
              note=f"criterion: plateau at <= {PEAK_FRACTION} of depth at {deepest}x and, at 1x and 2x, a last layer "
                   "that beats the first (yes); one of the two (partly). Probes on global-average-pooled "
                   "features, C = 1."),
    ]
    figure = Figure(figsize=(10, 4))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for depth, (to_last, probe) in curves.items():
        depth_axis = np.arange(1, len(probe) + 1) / len(probe)
        left.plot(depth_axis, to_last, "o-", label=f"{depth}x ({acc[depth]:.2f})")
        right.plot(depth_axis, probe, "o-", label=f"{depth}x")
    left.axhline(TAU, color="grey", linestyle=":")
    left.set_xlabel("layer / depth")
    left.set_ylabel("linear CKA to the last layer")
    right.set_xlabel("layer / depth")
    right.set_ylabel("probe test accuracy (GAP)")
    left.legend(fontsize=8, title="depth (test acc.)")
    right.legend(fontsize=8)
    figure.suptitle("K08: plain digits CNNs made deeper")
    figure.tight_layout()
    return Outcome(claims=tuple(claims),
                   figures=(("depth", "CKA to the last layer and probe accuracy along depth", figure),),
                   tables=(("depth", "per depth multiplier: accuracy, near-copies of the last layer, probes",
                            table),),
                   settings={"seeds": [SETTINGS["seed"]], **settings, "depths": list(settings["depths"]),
                             **SETTINGS, "tau": TAU, "peak_fraction": PEAK_FRACTION, "probe_C": PROBE_C,
                             "probe_pool": "mean", "plateau_tol": PLATEAU_TOL, "cka_conv": "flatten",
                             "data": "digits (train 1198 for probes, test 599)"})
