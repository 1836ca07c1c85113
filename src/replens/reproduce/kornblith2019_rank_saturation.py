"""K01: Theorem 1, every index invariant to invertible linear maps is constant once rank = n
(Kornblith et al. 2019, sec. 2.1; the proof, App. A, is missing from our copy).

If rank(X) = rank(Y) = n (after centring, n - 1), CCA sees two bases of the same space and
scores any pair 1. Our miniature (claims.md K01, settings fixed before the first run):
unrelated standard-normal X and Y with n = 200 examples (quick: 100) and widths from 10 to
2n, the CCA-family indices (mean rho, R^2_CCA) against linear CKA, and related pairs
(:func:`~replens.analyses.synthetic_shared_pair`, 10 shared directions, unit-variance
noise) to show that CKA still separates related from unrelated data at those widths. The
digits conv1 layer of the plan is not run (the synthetic widths already pass n).

Criterion: for p >= n - 1, mean rho = R^2_CCA = 1 to 1e-8 on unrelated data, while linear
CKA stays below 1 there and is higher for the related pair than for the unrelated one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..analyses import synthetic_shared_pair
from ..errors import UninformativeWarning
from ..measures.cca import cca
from ..measures.cka import cka
from .claims import Claim, Outcome

__all__ = ["run"]

FULL = {"n": 200, "widths": [10, 25, 50, 100, 150, 190, 199, 250, 400], "seed": 0, "d_shared": 10}
QUICK = {"n": 100, "widths": [10, 50, 90, 99, 150], "seed": 0, "d_shared": 10}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Sweep the width past n; score K01's claim."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    n = settings["n"]
    rng = np.random.default_rng(settings["seed"])
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UninformativeWarning)  # the point of the experiment
        for p in settings["widths"]:
            x, y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
            rho = cca(x, y).rho
            rx, ry = synthetic_shared_pair(n, settings["d_shared"], max(p - settings["d_shared"], 0), noise_var=1.0,
                                           seed=settings["seed"] + p)
            rows.append({"p": p, "mean_rho": float(np.mean(rho)), "r2_cca": float(np.mean(rho**2)),
                         "linear_cka": cka(x, y), "linear_cka_related": cka(rx, ry),
                         "mean_rho_related": float(np.mean(cca(rx, ry).rho))})
    table = pd.DataFrame(rows)
    log(table.to_string(index=False))
    wide = table[table.p >= n - 1]
    cca_error = float(np.max(np.abs(wide[["mean_rho", "r2_cca"]].to_numpy() - 1.0)))
    cka_max = float(wide.linear_cka.max())
    separates = bool(np.all(wide.linear_cka_related > wide.linear_cka))
    narrow = table[table.p < n - 1]
    claims = [
        Claim(claim="K01.cca_saturates",
              statement="if rank(X) = rank(Y) = n, any index invariant to invertible linear transformation "
                        "gives s(X, Z) = s(Y, Z)",
              paper="Theorem 1 (proof in App. A, absent)",
              ours=f"unrelated Gaussian data, n = {n}: at p >= n - 1 max |1 - CCA rho-bar, R2_CCA| = {cca_error:.1e}; "
                   f"below (p = {int(narrow.p.iloc[0])} ... {int(narrow.p.iloc[-1])}) rho-bar "
                   f"{narrow.mean_rho.iloc[0]:.2f} ... {narrow.mean_rho.iloc[-1]:.2f}",
              holds="yes" if cca_error < 1e-8 else "no",
              note="criterion (claims.md K01): rho-bar = R2_CCA = 1 to 1e-8 on unrelated data once p >= n - 1."),
        Claim(claim="K01.cka_does_not",
              statement="CKA is not invariant to invertible linear maps, so it is not subject to Theorem 1",
              paper="sec. 2.1, 3",
              ours=f"linear CKA at p >= n - 1: unrelated <= {cka_max:.3f}, related "
                   f"{wide.linear_cka_related.min():.3f} ... {wide.linear_cka_related.max():.3f}",
              holds="yes" if cka_max < 1 - 1e-3 and separates else "no",
              note="criterion: linear CKA stays below 1 on unrelated data at p >= n - 1 and is higher for the related "
                   f"pair ({settings['d_shared']} shared directions, unit-variance noise) at every such width."),
    ]
    figure = Figure(figsize=(6.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    for column, label in (("mean_rho", "CCA rho-bar, unrelated"), ("r2_cca", "R2_CCA, unrelated"),
                          ("linear_cka", "linear CKA, unrelated"), ("linear_cka_related", "linear CKA, related"),
                          ("mean_rho_related", "CCA rho-bar, related")):
        ax.plot(table.p, table[column], marker=".", label=label)
    ax.axvline(n - 1, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("width p (both layers)")
    ax.set_ylabel("similarity")
    ax.set_title(f"Theorem 1: n = {n} examples (dashed: p = n - 1)", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    settings.update({"seeds": [settings["seed"]], "data": "standard normal; related: synthetic_shared_pair, "
                     "orthogonal mixing, noise_var 1.0"})
    caption = "similarity of unrelated and related data as the width passes the number of examples"
    return Outcome(claims=tuple(claims), figures=(("saturation", caption, figure),),
                   tables=(("saturation", "indices against the width", table),), settings=settings)
