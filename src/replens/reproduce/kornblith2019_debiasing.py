"""K14: the bias of linear CKA at small n (Kornblith et al. 2019, sec. 3).

The text says only that "Song et al. (2007) provide an unbiased estimator" of HSIC; the
debiased CKA is in the authors' code. Our miniature (claims.md K14, fixed before the first
run): independent standard-normal X and Y with p = 64 features each, n from 50 to 2000,
20 repetitions per n (quick: n up to 500, 8 repetitions), biased and debiased linear CKA
(plain repetition; the mean and its standard error over repetitions).

Criterion: biased CKA is well above 0 where p/n is large (> 0.3 at the smallest n) and
decays as n grows (falling at every step), while the debiased mean is within 2 SE of 0 at
every n.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..measures.cka import cka
from .claims import Claim, Outcome

__all__ = ["run"]

FULL = {"p": 64, "ns": [50, 100, 200, 500, 1000, 2000], "reps": 20, "seed": 0}
QUICK = {"p": 64, "ns": [50, 100, 200, 500], "reps": 8, "seed": 0}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Biased and debiased CKA of independent data across n; score K14's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    rng = np.random.default_rng(settings["seed"])
    rows = []
    for n in settings["ns"]:
        biased, debiased = [], []
        for _ in range(settings["reps"]):
            x, y = rng.standard_normal((n, settings["p"])), rng.standard_normal((n, settings["p"]))
            biased.append(cka(x, y))
            debiased.append(cka(x, y, debiased=True))
        se = np.std(debiased, ddof=1) / np.sqrt(len(debiased))
        rows.append({"n": n, "p_over_n": settings["p"] / n, "biased_mean": float(np.mean(biased)),
                     "biased_se": float(np.std(biased, ddof=1) / np.sqrt(len(biased))),
                     "debiased_mean": float(np.mean(debiased)), "debiased_se": float(se)})
    table = pd.DataFrame(rows)
    log(table.to_string(index=False))
    decays = bool(np.all(np.diff(table.biased_mean) < 0))
    large = float(table.biased_mean.iloc[0])
    z = (table.debiased_mean / table.debiased_se).abs()
    claims = [
        Claim(claim="K14.biased_inflated", statement="the biased HSIC estimator converges at a rate of 1/sqrt(n); "
                                                     "at small n linear CKA of independent data is far from 0",
              paper="sec. 3 (no numbers)",
              ours=f"p = {settings['p']}: biased CKA {large:.3f} at n = {settings['ns'][0]} ... "
                   f"{table.biased_mean.iloc[-1]:.3f} at n = {settings['ns'][-1]}",
              holds="yes" if large > 0.3 and decays else "partly" if decays else "no",
              note="criterion (claims.md K14): biased CKA > 0.3 at the smallest n (p/n large) and falling at every "
                   "larger n."),
        Claim(claim="K14.debiased_unbiased", statement="the unbiased estimator of HSIC (Song et al.) removes the "
                                                       "bias", paper="sec. 3 (debiased CKA: authors' code)",
              ours="debiased mean (SE): " + ", ".join(f"n={int(r.n)}: {r.debiased_mean:+.4f} ({r.debiased_se:.4f})"
                                                       for r in table.itertuples()),
              holds="yes" if bool(np.all(z <= 2)) else "partly" if bool(np.mean(z <= 2) >= 0.5) else "no",
              note=f"criterion: |debiased mean| <= 2 SE at every n ({settings['reps']} repetitions each); "
                   "debiased CKA of independent data can be slightly negative."),
    ]
    figure = Figure(figsize=(6.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    ax.errorbar(table.n, table.biased_mean, yerr=2 * table.biased_se, marker=".", label="biased linear CKA")
    ax.errorbar(table.n, table.debiased_mean, yerr=2 * table.debiased_se, marker=".", label="debiased linear CKA")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("examples n")
    ax.set_ylabel(f"CKA of independent data (p = {settings['p']}), mean +- 2 SE")
    ax.legend(fontsize=8)
    figure.tight_layout()
    settings.update({"seeds": [settings["seed"]], "data": "independent standard normal X, Y"})
    return Outcome(claims=tuple(claims), figures=(("bias", "biased and debiased CKA of independent data against n",
                                                   figure),),
                   tables=(("bias", "mean and standard error over repetitions", table),), settings=settings)
