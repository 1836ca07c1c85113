"""S07: the speed of CCA in the Fourier domain against CCA of flattened conv layers
(Raghu et al. 2017, App. C.5).

The paper gives the DFT route's cost as "kn log n + n^2 k^2.5" against "(kn^2)^2.5" for the
naive method on an n x n x k layer. Miniature (claims.md S07): random layers with c = 8
channels at h = w in {4, 8, 12, 16}, n = 4000 examples, timed on one core by
:func:`replens.analyses.time_dft_vs_full`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import time_dft_vs_full
from .claims import Claim, Outcome

__all__ = ["RATIO_AT_16", "run"]

RATIO_AT_16 = 10.0
"""claims.md S07: the full/DFT time ratio must reach this at 16 x 16."""


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Time both routes at growing h x w and set the ratio beside the paper's cost formulas.

    Full: h in (4, 8, 12, 16), n = 4000, best of 2 repeats (~20 s). Quick: h in (4, 8, 12),
    n = 2000, best of 2 (~4 s); the 10x criterion is only checked at 16 x 16.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    sizes, n, repeats = ((4, 8, 12), 2000, 2) if quick else ((4, 8, 12, 16), 4000, 2)
    timing = time_dft_vs_full(sizes, channels=8, n_examples=n, repeats=repeats, seed=0)
    ratio = timing.ratio
    table = pd.DataFrame({"h": sizes, "w": sizes, "units_flattened": [h * h * 8 for h in sizes],
                          "full_cca_seconds": timing.full_seconds, "dft_cca_seconds": timing.dft_seconds,
                          "ratio": ratio})
    log("ratios " + ", ".join(f"{h}x{h}: {r:.1f}" for h, r in zip(sizes, ratio)))
    grows = bool(np.all(np.diff(ratio) > 0))
    claims = [Claim(
        claim="S07.speedup_grows",
        statement="the DFT route costs 'kn log n + n^2 k^2.5' against '(kn^2)^2.5': its advantage grows "
                  "with the spatial size",
        paper="cost formulas only (no timings)",
        ours="full/DFT time ratio " + ", ".join(f"{h}x{h}: {r:.1f}x" for h, r in zip(sizes, ratio)),
        holds="yes" if grows else "partly" if ratio[-1] > ratio[0] else "no",
        note="criterion: the ratio increases at every step (yes), or only from the smallest to the largest "
             "size (partly). CPU time on one core; at 4x4 the DFT route's per-frequency overhead dominates.")]
    if not quick:
        claims.append(Claim(
            claim="S07.speedup_at_16",
            statement="at 16 x 16 the DFT route is an order of magnitude faster",
            paper="cost formulas only (no timings)",
            ours=f"{ratio[-1]:.1f}x at 16x16 (n = {n}, c = 8)",
            holds="yes" if ratio[-1] >= RATIO_AT_16 else "partly" if ratio[-1] > 1 else "no",
            note=f"criterion: ratio >= {RATIO_AT_16:g} at 16x16 (claims.md); partly if only faster. "
                 "The ratio depends on this machine's BLAS and on n."))
    figure = Figure(figsize=(5, 3.5))
    ax = figure.subplots()
    ax.plot([h * h for h in sizes], timing.full_seconds, "o-", label="CCA of flattened layers")
    ax.plot([h * h for h in sizes], timing.dft_seconds, "s-", label="CCA per frequency (DFT)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("h x w")
    ax.set_ylabel("CPU seconds (one core)")
    ax.set_title(f"S07: c = 8, n = {n}")
    ax.legend(fontsize=8)
    figure.tight_layout()
    settings = {"seeds": [0], "sizes": list(sizes), "channels": 8, "n_examples": n, "repeats": repeats,
                "ratio_at_16": RATIO_AT_16, "data": "independent standard-normal layers"}
    return Outcome(claims=tuple(claims), figures=(("timing", "CPU time of both routes against h x w", figure),),
                   tables=(("timing", "CPU seconds and ratio per spatial size", table),), settings=settings)
