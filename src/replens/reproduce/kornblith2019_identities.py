"""K04: the algebraic identities of Kornblith et al. 2019 (eqs. 1, 3, 5-7, 10-14) as measured errors.

Each identity is evaluated both ways (:func:`~replens.analyses.check_identities`) on pairs
of several shapes and seeds: X (n, p_1) and Y (n, p_2) with p_1 <= p_2, Y partly a linear
function of X plus noise. Eq. 12 is printed with a factor sqrt(p_1); the algebra gives
sqrt(p_2) (claims.md sec. 0); both are measured.

Criterion (claims.md K04, fixed before the first run): every error < 1e-8; the printed eq. 12
is expected to fail whenever p_1 != p_2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import IDENTITIES, check_identities
from .claims import Claim, Outcome

__all__ = ["run"]

FULL = {"shapes": [[100, 5, 5], [500, 10, 30], [1000, 40, 60], [300, 3, 100]], "seeds": [0, 1, 2]}
QUICK = {"shapes": [[100, 5, 5], [300, 10, 30]], "seeds": [0]}


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Measure every identity's error on every pair; score K04's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    rows = []
    for n, p1, p2 in settings["shapes"]:
        for seed in settings["seeds"]:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((n, p1))
            y = np.c_[x @ rng.standard_normal((p1, min(p1, p2))), rng.standard_normal((n, p2 - min(p1, p2)))]
            y = y + 0.5 * rng.standard_normal((n, p2))
            rows.append({"n": n, "p_1": p1, "p_2": p2, "seed": seed, **check_identities(x, y)})
    table = pd.DataFrame(rows)
    log(table.to_string(index=False))
    exact = [name for name in IDENTITIES if name != "eq12_printed"]
    worst = {name: float(table[name].max()) for name in IDENTITIES}
    unequal = table[table.p_1 != table.p_2]
    claims = [Claim(
        claim=f"K04.{name}", statement=IDENTITIES[name], paper=f"CKA paper {name.replace('eq', 'eq. ')}",
        ours=f"largest error over {len(table)} pairs: {worst[name]:.1e}",
        holds="yes" if worst[name] < 1e-8 else "no",
        note="criterion (claims.md K04): error < 1e-8" + (" (relative to ||Y^T X||_F^2)" if name in ("eq1", "eq13")
                                                         else "") + (
            "; with the corrected factor sqrt(p_2), p_2 the regressor's width (claims.md sec. 0)" if name == "eq12"
            else "") + ".")
        for name in exact]
    printed_fails = bool(len(unequal)) and float(unequal["eq12_printed"].min()) > 1e-3
    claims.append(Claim(
        claim="K04.eq12_printed_factor", statement="eq. 12 as printed, with sqrt(p_1)",
        paper="R2_LR = CKA(X X^T, Q_Y Q_Y^T) sqrt(p_1) ||X^T X||_F / ||X||_F^2 (printed)",
        ours=f"error where p_1 = p_2: {float(table[table.p_1 == table.p_2]['eq12_printed'].max()):.1e}; where "
             f"p_1 != p_2: {float(unequal['eq12_printed'].min()):.2g} ... {float(unequal['eq12_printed'].max()):.2g}",
        holds="no" if printed_fails else "yes",
        note="the printed factor holds only when p_1 = p_2 (error > 1e-3 on every pair with p_1 != p_2 counts as "
             "'no'); the algebra gives sqrt(p_2), see K04.eq12. Likely a typo in the paper."))
    figure = Figure(figsize=(7.0, 3.6))
    ax = figure.add_subplot(1, 1, 1)
    names = list(IDENTITIES)
    ax.bar(range(len(names)), [np.log10(max(worst[name], 1e-18)) for name in names],
           color=["tab:red" if name == "eq12_printed" else "tab:blue" for name in names])
    ax.axhline(-8, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(len(names)), names, fontsize=8, rotation=30)
    ax.set_ylabel("log10 largest error")
    ax.set_title("CKA paper identities: measured errors (dashed: 1e-8)", fontsize=9)
    figure.tight_layout()
    settings.update({"data": "X standard normal; Y = [X A, noise] + 0.5 noise"})
    return Outcome(claims=tuple(claims), figures=(("identities", "largest error of each identity", figure),),
                   tables=(("identities", "error of each identity on each pair", table),), settings=settings)
