"""Populations of networks for the group experiments (P05-P07, K11, K12): one sweep each.

The experiments of the PWCCA paper's section 3 and the CKA paper's section 6.2-6.3 are the
sweep's real workload: N networks' layers on one probe set, a measure between every pair of
networks at the same layer. :func:`sweep_population` runs that through :func:`replens.sweep`
in a store inside a temporary folder (the zoo's run cache keeps the trained networks, so a
second run of an experiment retrains nothing; the sweep itself takes seconds) and returns
the per-layer distance matrices.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..sweeps import SweepResult, sweep

__all__ = ["Population", "sweep_population"]


@dataclass(frozen=True)
class Population:
    """A finished sweep over a population: its result and the distances per measure and layer.

    Attributes
    ----------
    result : SweepResult
        Every (measure, network, network, layer, layer) entry the sweep computed.
    layers : tuple of str
        The layers compared (each with itself across networks).
    """

    result: SweepResult
    layers: tuple[str, ...]

    def distances(self, measure: str, *, symmetrize: str = "mean") -> dict[str, np.ndarray]:
        """Layer -> (N, N) distance matrix ``1 - similarity`` for `measure` (a sweep label)."""
        return {layer: np.asarray(self.result.distances(measure, layer=layer, symmetrize=symmetrize))
                for layer in self.layers}

    def similarities(self, measure: str, *, symmetrize: str = "mean") -> dict[str, np.ndarray]:
        """Layer -> (N, N) similarity matrix for `measure` (1 minus :meth:`distances`)."""
        return {layer: 1.0 - d for layer, d in self.distances(measure, symmetrize=symmetrize).items()}


def sweep_population(activations: Mapping[str, Mapping[str, np.ndarray]], measures: Sequence[Any], *,
                     layers: Sequence[str], conv: str = "flatten", pairs: str = "upper",
                     log: Callable[[str], None] | None = None) -> Population:
    """Sweep `measures` between every pair of networks at each of `layers` (same layer name).

    Parameters
    ----------
    activations : mapping network name -> {layer: array (n, ...)}
        Every network on the same probe examples, in the same order.
    measures : sequence of names or Measures
        As for :func:`replens.sweep`.
    layers : sequence of str
        The layers to compare, each only with the same layer of the other networks.
    conv : str, default "flatten"
        How 4-D layers become matrices (``"mean_pool"``: the spatial mean, as the PWCCA paper
        does for conv layers).
    pairs : {"upper", "all"}, default "upper"
        ``"upper"`` scores each unordered pair once (the distances are then mirrored);
        ``"all"`` both orders (PWCCA is not symmetric; ``symmetrize="mean"`` averages them).
    log : callable, optional
        Receives one line with the sweep's size and the tiles it computed.
    """
    layers = tuple(layers)
    models = {name: {layer: acts[layer] for layer in layers} for name, acts in activations.items()}
    pair_list = [(layer, layer) for layer in layers]
    with tempfile.TemporaryDirectory(prefix="replens-population-") as folder:
        result = sweep(models, measures=tuple(measures), layers=pair_list, pairs=pairs,
                       store=Path(folder) / "sweep", conv=conv, progress=False).run()
    if log is not None:
        log(f"swept {len(models)} networks x {len(layers)} layers x {len(result.measures)} measure(s): "
            f"{result.computed_tiles} tile(s)")
    return Population(result, layers)
