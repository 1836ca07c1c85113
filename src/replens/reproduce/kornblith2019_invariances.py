"""K03: the invariance table (Kornblith et al. 2019, Table 1; sec. 2.2-2.3) as measured deviations.

Each index of Table 1 is computed on a pair and again after each transform, applied to both
representations with independent draws (:func:`~replens.analyses.invariance_check`). Our
miniature (claims.md K03, fixed before the first run): X standard normal (n = 500, 20
features; quick n = 200), Y a noisy nonlinear function of X (15 features), 3 seeds (quick:
1), the largest deviation over the seeds. Linear regression's "Y only" entry is checked by
transforming only the regressor. Only synthetic layers are used (the plan's trained layers
are not run).

Criterion: every check mark gives |change| < 1e-8, every cross > 1e-3. SVCCA's "if same
subspace kept" is scored as a cross for invertible maps (a general invertible map changes
the spectrum, hence the subspace kept).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import invariance_check
from .claims import Claim, Outcome

__all__ = ["run"]

FULL = {"n": 500, "p_x": 20, "p_y": 15, "seeds": [0, 1, 2]}
QUICK = {"n": 200, "p_x": 20, "p_y": 15, "seeds": [0]}
COLUMNS = ("invertible", "orthogonal", "isotropic")
TABLE_1 = {  # Table 1: invertible linear, orthogonal, isotropic scaling (True = invariant)
    "linear_regression_r2": (False, True, True),
    "cca_r2": (True, True, True),
    "cca_mean_rho": (True, True, True),
    "svcca_r2": (False, True, True),
    "pwcca": (False, False, True),
    "linear_hsic": (False, True, False),
    "linear_cka": (False, True, True),
    "rbf_cka": (False, True, True),
}
TRANSFORMS = ("invertible", "orthogonal", "isotropic", "anisotropic", "permutation", "translation")


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Measure every index's change under every transform; score K03's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    worst: dict[str, dict[str, float]] = {name: dict.fromkeys(TRANSFORMS, 0.0) for name in TABLE_1}
    regressor_only = 0.0
    for seed in settings["seeds"]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((settings["n"], settings["p_x"]))
        y = np.tanh(x @ rng.standard_normal((settings["p_x"], settings["p_y"]))) + 0.3 * rng.standard_normal(
            (settings["n"], settings["p_y"]))
        for name in TABLE_1:
            check = invariance_check(name, x, y, transforms=TRANSFORMS, seed=seed)
            for transform, change in check.deviations.items():
                worst[name][transform] = max(worst[name][transform], change)
        lr = invariance_check("linear_regression_r2", x, y, transforms=["invertible"], side="y", seed=seed)
        regressor_only = max(regressor_only, lr.deviations["invertible"])
    table = pd.DataFrame([{"measure": name, **worst[name]} for name in TABLE_1])
    log(table.to_string(index=False))
    claims = []
    for name, expected in TABLE_1.items():
        results = []
        for column, invariant in zip(COLUMNS, expected):
            change = worst[name][column]
            results.append(change < 1e-8 if invariant else change > 1e-3)
        row = ", ".join(f"{c} {'yes' if e else 'no'} |d| = {worst[name][c]:.1e}" for c, e in zip(COLUMNS, expected))
        passed = sum(results)
        claims.append(Claim(
            claim=f"K03.{name}", statement=f"Table 1 row for {name}: invariant to invertible linear / orthogonal / "
                                           "isotropic scaling as marked",
            paper=" / ".join("yes" if e else "no" for e in expected) + (" (SVCCA: 'if same subspace kept')"
                                                                       if name == "svcca_r2" else ""),
            ours=row, holds="yes" if passed == 3 else "no" if passed == 0 else "partly",
            note="criterion (claims.md K03): |change| < 1e-8 where Table 1 marks invariance, > 1e-3 where not; the "
                 f"largest change over seeds {settings['seeds']}, both sides transformed."))
    claims.append(Claim(
        claim="K03.regression_y_only", statement="linear regression R2 is invariant to invertible linear maps of "
                                                 "Y only", paper="Table 1: 'Y only'",
        ours=f"invertible map of the regressor only: |change| = {regressor_only:.1e}; of both: "
             f"{worst['linear_regression_r2']['invertible']:.1e}",
        holds="yes" if regressor_only < 1e-8 and worst["linear_regression_r2"]["invertible"] > 1e-3 else "no",
        note="criterion: < 1e-8 with the regressor transformed, > 1e-3 with both."))
    implied = [name for name in TABLE_1 if worst[name]["orthogonal"] < 1e-8 and worst[name]["anisotropic"] < 1e-8]
    claims.append(Claim(
        claim="K03.orthogonal_and_scaling_imply_invertible",
        statement="invariance to orthogonal transformations and non-isotropic scaling implies invariance to any "
                  "invertible linear transformation", paper="sec. 2.3",
        ours=f"indices invariant to both: {', '.join(implied) or 'none'}; their largest change under invertible maps "
             f"{max((worst[n]['invertible'] for n in implied), default=float('nan')):.1e}",
        holds="yes" if implied and all(worst[n]["invertible"] < 1e-8 for n in implied) else "no",
        note="criterion: every index with |change| < 1e-8 under both has |change| < 1e-8 under invertible maps."))
    figure = Figure(figsize=(8.0, 3.8))
    ax = figure.add_subplot(1, 1, 1)
    image = ax.imshow(np.log10(np.maximum(table[list(TRANSFORMS)].to_numpy(), 1e-17)), cmap="viridis",
                      vmin=-17, vmax=0, aspect="auto")
    ax.set_xticks(range(len(TRANSFORMS)), TRANSFORMS, fontsize=8, rotation=20)
    ax.set_yticks(range(len(TABLE_1)), list(TABLE_1), fontsize=8)
    figure.colorbar(image, ax=ax, label="log10 |change|")
    ax.set_title("Table 1 measured: log10 of the largest change over seeds", fontsize=9)
    figure.tight_layout()
    settings.update({"data": "X standard normal; Y = tanh(X W) + 0.3 noise", "transforms": list(TRANSFORMS),
                     "svcca_threshold": 0.99, "rbf_bandwidth": "1.0 x median distance (replens default)"})
    return Outcome(claims=tuple(claims), figures=(("invariances", "largest measured change per index and transform",
                                                   figure),),
                   tables=(("invariances", "largest |change| over seeds per index and transform", table),),
                   settings=settings)
