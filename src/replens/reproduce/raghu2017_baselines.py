"""S13: random (permutation) baselines for the scores of the SVCCA and CKA families.

The SVCCA paper's only explicit baselines are random and max-activation neurons (S02) and
the noise argument (S05). claims.md proposes a permutation null for any score: shuffle the
examples of one network, so that the pairing, and with it any real similarity, is broken.
Our miniature (claims.md S13, fixed before the first run): relu2 of the two digits MLPs of
S02 (width 256; quick 128) on the training images subsampled to n = 300, 600 and all 1198,
:func:`replens.stats.permutation_test` with 100 permutations (quick: 30) for mean CCA,
linear CKA and debiased linear CKA.

Criterion (claims.md S13): the null mean CCA rho-bar is large where p/n is large (> 0.5 at
n = 300) and falls as n grows, while the debiased CKA null mean is about 0 (|mean| < 0.01)
at every n; and every observed score is above its whole null.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..stats.permutation import permutation_test
from ..zoo.layers import hidden_activations
from .claims import Claim, Outcome, verdict
from .raghu2017_intrinsic_dimension import FULL as S02_FULL
from .raghu2017_intrinsic_dimension import LAYER, trained_pair
from .raghu2017_intrinsic_dimension import QUICK as S02_QUICK

__all__ = ["run"]

NS = [300, 600, 1198]
MEASURES = ["cca_mean_rho", "linear_cka", "debiased_linear_cka"]


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Permutation nulls of three measures at three sample sizes; score S13's claims."""
    import warnings

    import pandas as pd
    from matplotlib.figure import Figure

    from ..errors import UninformativeWarning

    settings = dict(S02_QUICK if quick else S02_FULL)
    settings["n_permutations"] = 30 if quick else 100
    (net, peer), data = trained_pair(settings, log)
    acts = [dict(hidden_activations(model, data[0]))[LAYER] for model in (net, peer)]
    order = np.random.default_rng(0).permutation(acts[0].shape[0])
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UninformativeWarning)
        for n in NS:
            rows_n = order[:n]
            for name in MEASURES:
                result = permutation_test(acts[0][rows_n], acts[1][rows_n], measure=name,
                                          n_permutations=settings["n_permutations"], seed=0)
                rows.append({"n": n, "p_over_n": settings["units"] / n, "measure": name,
                             "statistic": result.statistic, "null_mean": float(np.mean(result.null)),
                             "null_max": float(np.max(result.null)), "pvalue": result.pvalue})
    table = pd.DataFrame(rows)
    log(table.to_string(index=False))
    cca_null = table[table.measure == "cca_mean_rho"].set_index("n").null_mean
    debiased_null = table[table.measure == "debiased_linear_cka"].set_index("n").null_mean
    above = bool((table.statistic > table.null_max).all())
    cca_ok = cca_null[NS[0]] > 0.5 and bool(np.all(np.diff(cca_null.to_numpy()) < 0))
    debiased_ok = bool((debiased_null.abs() < 0.01).all())
    claims = [
        Claim(claim="S13.cca_null_large", statement="the null mean CCA rho-bar is large when p/n is large (K01)",
              paper="no number (claims.md S13)",
              ours="null rho-bar: " + ", ".join(f"n={n} (p/n {settings['units'] / n:.2f}): {v:.3f}"
                                                 for n, v in cca_null.items()),
              holds="yes" if cca_ok else "no", note="criterion: > 0.5 at n = 300 and falling with n."),
        Claim(claim="S13.debiased_null_zero", statement="the debiased CKA null is about 0; biased CKA's is not",
              paper="no number (claims.md S13)",
              ours="null mean debiased CKA: " + ", ".join(f"n={n}: {v:+.4f}" for n, v in debiased_null.items())
                   + "; biased: " + ", ".join(f"{v:.3f}" for v in
                                               table[table.measure == "linear_cka"].null_mean),
              holds="yes" if debiased_ok else "no", note="criterion: |null mean| < 0.01 at every n."),
        Claim(claim="S13.observed_above_null", statement="trained networks from different seeds score above chance",
              paper="no number", ours=f"{int((table.statistic > table.null_max).sum())} of {len(table)} observed "
                                      "scores above their whole null (p = 1/(N+1))",
              holds=verdict(int((table.statistic > table.null_max).sum()), len(table)),
              note=f"criterion: every observed score above the largest of {settings['n_permutations']} permuted ones."
                   + ("" if above else " Mean CCA at large p/n: its null is near the observed value (K01).")),
    ]
    figure = Figure(figsize=(6.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    for name in MEASURES:
        part = table[table.measure == name]
        line = ax.plot(part.n, part.statistic, marker="o", label=f"{name} observed")[0]
        ax.plot(part.n, part.null_mean, marker=".", ls="--", color=line.get_color(), label=f"{name} null mean")
    ax.set_xscale("log")
    ax.set_xlabel("examples n")
    ax.legend(fontsize=6)
    figure.tight_layout()
    settings.update({"dataset": "digits", "layer": LAYER, "ns": NS, "measures": MEASURES})
    return Outcome(claims=tuple(claims), figures=(("baselines", "observed scores and permutation-null means", figure),),
                   tables=(("baselines", "observed, null mean and max, p-value", table),), settings=settings)
