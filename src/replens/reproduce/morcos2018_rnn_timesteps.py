"""P09: similarity across the timesteps of an LSTM's hidden state (Morcos et al. 2018, sec. 4,
Figs. A2-A4).

The paper says CCA finds similarity across timesteps "missed by traditional metrics", yet
"even CCA often fails to find similarity in the hidden state across sequence timesteps":
the representations "vary nonlinearly". Its protocol is in the missing appendix. Our
miniature (claims.md P09): the seed-0 LSTM of P08 (:mod:`replens.reproduce._lstm`; loaded
from the run cache when P08 ran first), the hidden states of its first and last layers at
t = 1..50 on 1000 test sequences (:func:`replens.extract`; the cell state is not a module
output, so it is not recorded), :func:`~replens.analyses.timestep_similarity` with PWCCA
and mean CCA, and the mean per-unit correlation (defined below: the "traditional metric").

Criteria, fixed before the first run (claims.md): on the last layer, PWCCA averaged over
pairs of timesteps 10 apart < 0.7, and PWCCA above the per-unit correlation at every lag.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..activations import extract
from ..analyses import timestep_similarity
from . import _lstm
from .claims import Claim, Outcome

__all__ = ["LAG", "neuron_correlation", "run"]

LAG = 10
PROBE = {False: 1000, True: 300}


def neuron_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over units i of Pearson's correlation of ``x[:, i]`` and ``y[:, i]``.

    The per-neuron baseline: the same unit at two timesteps, no change of basis allowed.
    Units constant at either timestep are left out (their correlation is undefined); NaN
    when every unit is. Cost O(n p).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    scale = np.sqrt(np.sum(xc * xc, axis=0) * np.sum(yc * yc, axis=0))
    alive = scale > 0
    if not alive.any():
        return float("nan")
    return float(np.mean(np.sum(xc * yc, axis=0)[alive] / scale[alive]))


def lag_profile(values: np.ndarray) -> np.ndarray:
    """Mean of ``values[i, j]`` over the pairs with ``|i - j| = lag``, for lag 0 .. T-1."""
    size = values.shape[0]
    return np.array([np.mean(np.concatenate([np.diagonal(values, lag), np.diagonal(values, -lag)]))
                     for lag in range(size)])


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Similarity of the hidden states across timesteps; score P09's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    config = _lstm.settings(quick)
    trained, _ = _lstm.train_lstm(config, 0, log)
    layers = _lstm.layer_names(config)
    chosen = [layers[0], layers[-1]]
    x_test = _lstm.data(config)[2][: PROBE[quick]]
    hidden = extract(trained.model, x_test, layers=chosen, progress=False)
    measures = {"pwcca": "pwcca", "cca_mean_rho": "cca_mean_rho", "neuron_correlation": neuron_correlation}
    matrices = {(layer, name): timestep_similarity(np.asarray(hidden[layer], dtype=np.float64), measure)
                for layer in chosen for name, measure in measures.items()}
    profiles = {key: lag_profile(values) for key, values in matrices.items()}
    top = layers[-1]
    pw, cca, neurons = profiles[top, "pwcca"], profiles[top, "cca_mean_rho"], profiles[top, "neuron_correlation"]
    lags = np.arange(1, len(pw))
    margin = pw[1:] - neurons[1:]
    claims = [
        Claim(claim="P09.nonlinear",
              statement="even CCA often fails to find similarity in the hidden state across timesteps: the "
                        "representations vary nonlinearly",
              paper="figures only (Figs. A2-A4; protocol in the missing appendix)",
              ours=f"{top}: PWCCA at lag {LAG} {pw[LAG]:.3f} (mean CCA {cca[LAG]:.3f}); at lag 1 {pw[1]:.3f}, "
                   f"at lag {len(pw) - 1} {pw[-1]:.3f}",
              holds="yes" if pw[LAG] < 0.7 else "no",
              note=f"criterion (claims.md): PWCCA averaged over timestep pairs {LAG} apart < 0.7."),
        Claim(claim="P09.cca_above_neurons",
              statement="CCA finds similarity across timesteps 'missed by traditional metrics'",
              paper="figures only (Figs. A2, A4)",
              ours=f"{top}: PWCCA - mean per-unit correlation, min over lags 1-{lags[-1]}: {np.min(margin):+.3f} "
                   f"(at lag {LAG}: PWCCA {pw[LAG]:.3f} vs {neurons[LAG]:.3f})",
              holds="yes" if np.min(margin) > 0 else "partly" if np.mean(margin > 0) >= 0.5 else "no",
              note="criterion (claims.md): PWCCA above the per-unit correlation at every lag (partly: at most)."),
    ]
    figure = Figure(figsize=(14.0, 8.0))
    for row, layer in enumerate(chosen):
        for column, name in enumerate(measures):
            ax = figure.add_subplot(2, 4, 4 * row + column + 1)
            image = ax.imshow(matrices[layer, name], origin="lower", cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"{layer}: {name}", fontsize=9)
            ax.set_xlabel("timestep")
            ax.set_ylabel("timestep")
            figure.colorbar(image, ax=ax, fraction=0.046)
        ax = figure.add_subplot(2, 4, 4 * row + 4)
        for name in measures:
            ax.plot(np.arange(len(pw)), profiles[layer, name], label=name)
        ax.set_xlabel("lag |t - t'|")
        ax.set_title(f"{layer}: mean over pairs at each lag", fontsize=9)
        ax.legend(fontsize=7)
    figure.tight_layout()
    table = pd.DataFrame({"lag": np.arange(len(pw)),
                          **{f"{layer}_{name}": profiles[layer, name] for layer in chosen for name in measures}})
    config.update({"dataset": "text", "data_seed": 0, "network_seed": 0, "seeds": [0],
                   "probe_sequences": PROBE[quick], "layers_compared": chosen, "lag": LAG,
                   "from_cache": trained.from_cache, "measures": list(measures)})
    return Outcome(claims=tuple(claims),
                   figures=(("timesteps", "similarity of the hidden state between every pair of timesteps, and "
                             "its mean at each lag", figure),),
                   tables=(("lags", "mean similarity at each lag", table),), settings=config)
