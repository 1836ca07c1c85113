"""S05: why SVD comes before CCA (Raghu et al. 2017, App. B.0.1).

A thought experiment: A has 50 dimensions; B has 200, 50 aligned with A and 150 of noise;
C has 200, 50 aligned with A and 150 "useful, but different directions". CCA gives both
pairs the same coefficients, "1 for 50 values and 0 for everything else"; an SVD keeping 99 %
of the variance tells them apart. Our miniature (claims.md S05, fixed before the first
run): :func:`~replens.analyses.synthetic_shared_pair` with the same seed (so the same
signal and the same A), n = 5000 (quick 2000), orthogonal mixing, noise variance 0.001 in
B (150 x 0.001 is below 1 % of the signal's variance 50, which the 99 % rule needs to drop
it) and 1.0 in C.

Criteria: the CCA spectra of (A, B) and (A, C) match (max difference < 1e-3); SVCCA keeps
about 50 dimensions of B (45-55) and about 200 of C (>= 190); and, from claims.md, SVCCA,
PWCCA and linear CKA score (A, B) and (A, C) differently (by > 0.05 each).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import synthetic_shared_pair
from ..measures.cca import cca, pwcca, svcca
from ..measures.cka import cka
from .claims import Claim, Outcome, verdict

__all__ = ["run"]

FULL = {"n": 5000, "d_signal": 50, "d_other": 150, "noise_var_b": 0.001, "var_c": 1.0, "threshold": 0.99, "seed": 0}
QUICK = {**FULL, "n": 2000}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Build A, B, C; score S05's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    s = dict(QUICK if quick else FULL)
    a, b = synthetic_shared_pair(s["n"], s["d_signal"], s["d_other"], noise_var=s["noise_var_b"], d_noise_x=0,
                                 seed=s["seed"])
    a_again, c = synthetic_shared_pair(s["n"], s["d_signal"], s["d_other"], noise_var=s["var_c"], d_noise_x=0,
                                       seed=s["seed"])
    same_a = bool(np.array_equal(a, a_again))
    rho_b, rho_c = cca(a, b).rho, cca(a, c).rho
    sv_b, sv_c = svcca(a, b, threshold=s["threshold"]), svcca(a, c, threshold=s["threshold"])
    scores = {"cca_mean_rho": (float(np.mean(rho_b)), float(np.mean(rho_c))),
              "svcca_mean_rho": (float(np.mean(sv_b.rho)), float(np.mean(sv_c.rho))),
              "pwcca(A, .)": (pwcca(a, b), pwcca(a, c)), "pwcca(., A)": (pwcca(b, a), pwcca(c, a)),
              "linear_cka": (cka(a, b), cka(a, c))}
    table = pd.DataFrame([{"measure": name, "A_B": ab, "A_C": ac, "difference": ab - ac}
                          for name, (ab, ac) in scores.items()])
    log(table.to_string(index=False))
    spectrum_gap = float(np.max(np.abs(rho_b - rho_c)))
    kept_b, kept_c = sv_b.kept[1], sv_c.kept[1]
    differs = {name: abs(ab - ac) > 0.05 for name, (ab, ac) in scores.items() if name != "cca_mean_rho"}
    claims = [
        Claim(claim="S05.cca_same", statement="CCA gives (A, B) and (A, C) the same coefficients: 1 for 50 values and "
                                              "0 for everything else", paper="App. B.0.1 (thought experiment)",
              ours=f"{rho_b.size} coefficients each (min of the widths); max |rho_AB - rho_AC| = {spectrum_gap:.1e}; "
                   f"smallest rho {rho_b.min():.4f} / {rho_c.min():.4f}",
              holds="yes" if spectrum_gap < 1e-3 and same_a else "no",
              note="criterion: spectra equal to 1e-3. CCA has min(50, 200) = 50 coefficients, all 1: the '0 for "
                   "everything else' are the other side's directions, which CCA does not report."),
        Claim(claim="S05.svd_separates", statement="SVD at 99 % of the variance tells the two cases apart",
              paper="App. B.0.1", ours=f"SVCCA keeps {kept_b} dimensions of B and {kept_c} of C",
              holds="yes" if 45 <= kept_b <= 55 and kept_c >= 190 else "no",
              note="criterion: 45-55 kept for B (noise variance 0.001) and >= 190 for C."),
        Claim(claim="S05.scores_differ", statement="SVCCA, PWCCA and CKA score (A, B) and (A, C) differently "
                                                   "(claims.md's criterion, not the paper's)",
              paper="App. B.0.1 argues through the kept dimensions, not a score",
              ours="; ".join(f"{name}: {ab:.3f} vs {ac:.3f}" for name, (ab, ac) in scores.items()),
              holds=verdict(sum(differs.values()), len(differs)),
              note="criterion: |score(A, B) - score(A, C)| > 0.05. "
                   f"Differ: {', '.join(n for n, d in differs.items() if d) or 'none'}; same: "
                   f"{', '.join(n for n, d in differs.items() if not d) or 'none'}. SVCCA's mean and PWCCA average "
                   "over the 50 coefficients of the 50-dimensional A, which are all 1 in both pairs; only CKA, which "
                   "weighs C's 150 extra unit-variance directions, tells them apart by its value."),
    ]
    figure = Figure(figsize=(9.0, 3.6))
    ax = figure.add_subplot(1, 2, 1)
    for name, side in (("B", b), ("C", c)):
        spectrum = np.linalg.svd(side - side.mean(0), compute_uv=False) ** 2
        ax.plot(np.cumsum(spectrum) / spectrum.sum(), label=f"{name}: cumulative variance")
    ax.axhline(s["threshold"], color="grey", ls="--", lw=0.8)
    ax.set_xlabel("singular direction")
    ax.legend(fontsize=8)
    ax2 = figure.add_subplot(1, 2, 2)
    ax2.barh(range(len(table)), table.A_B, height=0.4, label="(A, B)")
    ax2.barh(np.arange(len(table)) + 0.4, table.A_C, height=0.4, label="(A, C)")
    ax2.set_yticks(np.arange(len(table)) + 0.2, table.measure, fontsize=8)
    ax2.legend(fontsize=8)
    figure.tight_layout()
    s.update({"seeds": [s["seed"]], "mixing": "orthogonal", "same_A_in_both_pairs": same_a,
              "kept": {"B": int(kept_b), "C": int(kept_c)}})
    return Outcome(claims=tuple(claims), figures=(("abc", "cumulative variance of B and C; scores of both pairs",
                                                   figure),),
                   tables=(("abc", "scores of (A, B) and (A, C)", table),), settings=s)
