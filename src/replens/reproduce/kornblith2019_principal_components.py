"""K02: networks from different initialisations share their large principal components, and
an index invariant to invertible linear maps cannot see it (Kornblith et al. 2019, sec. 2.1,
Fig. 1).

Our miniature (claims.md K02, fixed before the first run): the two digits CNNs of K13 (seeds
0 and 1), every ReLU layer (flattened) on the 599 test images,
:func:`~replens.analyses.pc_alignment` with k = 3 (subspaces, not PCs index by index, as
claims.md advises); and synthetic partners (:func:`~replens.analyses.synthetic_pc_partners`,
n = 2000, p = 20, sharing only the 5 largest or only the 5 smallest of X's components,
standard deviations decaying by 0.8) scored by mean CCA and linear CKA.

Criteria (claims.md K02): the cosine of the first principal angle between the top-3
subspaces is >= 0.9 in every layer; on the synthetic data mean CCA scores the two partners
equally (within 0.02) while CKA(large-only) exceeds CKA(small-only) by more than 0.3.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import pc_alignment, synthetic_pc_partners
from ..measures.cca import cca
from ..measures.cka import cka
from ..zoo.layers import hidden_activations
from .claims import Claim, Outcome
from .kornblith2019_shared_subspace import FULL as K13_FULL
from .kornblith2019_shared_subspace import QUICK as K13_QUICK
from .kornblith2019_shared_subspace import trained_cnns

__all__ = ["run"]

SYNTHETIC = {"n": 2000, "p": 20, "k": 5, "decay": 0.8, "seed": 0}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Align the two CNNs' top PCs, score large-only vs small-only partners; score K02's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = {key: value for key, value in (K13_QUICK if quick else K13_FULL).items() if key != "cos_tol"}
    nets, data = trained_cnns(settings, log)
    layers = [dict(hidden_activations(net, data[2])) for net in nets]
    rows = []
    for name in layers[0]:
        a = pc_alignment(layers[0][name], layers[1][name], k=3)
        rows.append({"layer": name, "cos_1": float(a.cosines[0]), "cos_2": float(a.cosines[1]),
                     "cos_3": float(a.cosines[2]), "abs_corr_pc1": float(a.correlation[0, 0]),
                     "abs_corr_pc2": float(a.correlation[1, 1])})
    table = pd.DataFrame(rows)
    log(table.to_string(index=False))
    x, large, small = synthetic_pc_partners(SYNTHETIC["n"], SYNTHETIC["p"], SYNTHETIC["k"], decay=SYNTHETIC["decay"],
                                            seed=SYNTHETIC["seed"])
    scores = {"cca_mean_rho": (float(np.mean(cca(x, large).rho)), float(np.mean(cca(x, small).rho))),
              "linear_cka": (cka(x, large), cka(x, small))}
    aligned = bool((table.cos_1 >= 0.9).all())
    cca_equal = abs(scores["cca_mean_rho"][0] - scores["cca_mean_rho"][1]) <= 0.02
    cka_apart = scores["linear_cka"][0] - scores["linear_cka"][1] > 0.3
    claims = [
        Claim(claim="K02.large_pcs_shared", statement="networks develop similar large principal components",
              paper="figure only (Fig. 1, CIFAR-10)",
              ours="cos of the first principal angle between top-3 PC subspaces: " + ", ".join(
                  f"{r.layer} {r.cos_1:.2f}" for r in table.itertuples()) + "; |corr(PC2_A, PC2_B)| " + ", ".join(
                  f"{v:.2f}" for v in table.abs_corr_pc2),
              holds="yes" if aligned else "partly" if (table.cos_1 >= 0.9).mean() >= 0.5 else "no",
              note="criterion (claims.md K02): >= 0.9 in every ReLU layer."),
        Claim(claim="K02.invertible_invariance_blind", statement="an index invariant to invertible linear maps assigns "
                                                                 "the same score to networks that match only in large "
                                                                 "principal components or only in small ones",
              paper="sec. 2.1", ours=f"mean CCA large-only {scores['cca_mean_rho'][0]:.3f} vs small-only "
                                     f"{scores['cca_mean_rho'][1]:.3f}; linear CKA {scores['linear_cka'][0]:.3f} vs "
                                     f"{scores['linear_cka'][1]:.3f}",
              holds="yes" if cca_equal and cka_apart else "partly" if cca_equal or cka_apart else "no",
              note="criterion: mean CCA within 0.02 for the two partners and CKA(large-only) - CKA(small-only) > 0.3 "
                   f"(synthetic: {SYNTHETIC})."),
    ]
    figure = Figure(figsize=(6.0, 3.8))
    ax = figure.add_subplot(1, 1, 1)
    for column in ("cos_1", "cos_2", "cos_3", "abs_corr_pc2"):
        ax.plot(table.layer, table[column], marker=".", label=column)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("cosine / |correlation|")
    ax.set_title("top-3 PC subspaces of two CNNs: principal angle cosines", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    settings.update({"dataset": "digits", "probe": "the 599 test images", "synthetic": SYNTHETIC,
                     "synthetic_scores": scores})
    return Outcome(claims=tuple(claims), figures=(("pc_alignment", "principal angles per layer", figure),),
                   tables=(("pc_alignment", "principal angle cosines per layer", table),), settings=settings)
