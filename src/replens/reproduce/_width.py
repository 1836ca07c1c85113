"""The population of CNNs of several widths shared by P06 and K11 (PWCCA sec. 3.2, CKA sec. 6.2).

Morcos et al. (2018, Fig. 4) train "groups of 5 networks" at each number of filters and
compare the members of each group with PWCCA; Kornblith et al. (2019, Fig. 6) compare
networks of each width with the widest network and with each other by CKA. One population
serves both (claims.md P06 / K11, "Mini: shared"): the zoo's CNN (3 stages, one 3x3 conv
per stage, no batch norm, 2x2 max-pooling after stages 1 and 2) with ``channels * w``
filters, ``w`` the width multiplier, trained with Adam on the first 2000 training images
of the 14x14 MNIST subset, every width with the same seeds. :func:`width_population`
trains each network through :func:`replens.zoo.train` (cached under ``$REPLENS_CACHE``:
the second experiment, or a rerun, trains nothing) and returns the ReLU layers of every
network on a probe split, optionally reduced to a fixed random subset of the narrowest
width's channels (:func:`replens.analyses.populations.subsample_units`; PWCCA footnote 8).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..analyses import subsample_units
from ..zoo import build, layer_activations, load, train

__all__ = ["LAYERS", "SETTINGS", "WidthNet", "WidthPopulation", "width_population"]

LAYERS = ("relu1", "relu2", "relu3")
"""The three conv layers (after their ReLU) that both experiments compare."""

SETTINGS = {"dataset": "mnist14", "data_seed": 0, "channels": [4, 8, 16], "convs_per_stage": 1,
            "batchnorm": False, "optimizer": "adam", "lr": 1e-3, "batch_size": 64}
"""What every network of the population shares (the widths, seeds, epochs and number of
training images are the experiment's settings)."""


@dataclass(frozen=True)
class WidthNet:
    """One trained network of the population.

    Attributes
    ----------
    name : str
        ``"w<width>-s<seed>"``.
    width : float
        The width multiplier (channels ``SETTINGS["channels"] * width``).
    seed : int
        Initialisation and mini-batch-order seed.
    channels : tuple of int
        Channels of the three conv layers.
    test_accuracy, train_accuracy : float
        After the last epoch.
    """

    name: str
    width: float
    seed: int
    channels: tuple[int, ...]
    test_accuracy: float
    train_accuracy: float


@dataclass(frozen=True)
class WidthPopulation:
    """The trained networks and their layers on one probe split.

    Attributes
    ----------
    nets : tuple of WidthNet
        Ordered by width, then seed.
    activations : dict
        Network name -> {layer: array (n, c, h, w)}, every network on the same examples.
    probe : str
        ``"train"`` or ``"test"``: the split the probe examples come from.
    n_probe : int
    units : dict or None
        Layer -> channels kept per network (the narrowest width's), or None for whole layers.
    """

    nets: tuple[WidthNet, ...]
    activations: dict[str, dict[str, np.ndarray]]
    probe: str
    n_probe: int
    units: dict[str, int] | None

    @property
    def names(self) -> list[str]:
        return [net.name for net in self.nets]

    @property
    def widths(self) -> list[float]:
        """The distinct widths, ascending."""
        return sorted({net.width for net in self.nets})

    def groups(self) -> dict[str, float]:
        """Network name -> width (the groups of :func:`replens.analyses.group_distances`)."""
        return {net.name: net.width for net in self.nets}

    def test_accuracy(self) -> np.ndarray:
        return np.array([net.test_accuracy for net in self.nets])


def width_population(*, widths: Sequence[float], seeds: Sequence[int], epochs: int, n_train: int,
                     probe: str, n_probe: int, subsample: bool, layers: Sequence[str] = LAYERS,
                     log: Callable[[str], None]) -> WidthPopulation:
    """Train (or load from the zoo's cache) the CNN at every width and seed; read its layers.

    Parameters
    ----------
    widths : sequence of float
        Width multipliers of ``SETTINGS["channels"]``.
    seeds : sequence of int
        The same seeds at every width.
    epochs, n_train : int
        Training epochs and the number of training images (the first of the stratified,
        shuffled split: class-balanced).
    probe : {"train", "test"}
        The split the probe examples come from (PWCCA sec. 3.2 computes the distances "using
        the train data"; the CKA paper uses test sets).
    n_probe : int
        The first `n_probe` images of that split (of the `n_train` used, for "train").
    subsample : bool
        Keep a fixed random subset of the narrowest width's number of channels of every
        layer of every network (seeded by the network's position in the population).
    layers : sequence of str, default LAYERS
        The layers kept (a subset of :data:`LAYERS`).
    log : callable
    """
    x_train, y_train, x_test, y_test = load(SETTINGS["dataset"], seed=SETTINGS["data_seed"])
    data = (x_train[:n_train], y_train[:n_train], x_test, y_test)
    x_probe = (data[0] if probe == "train" else x_test)[:n_probe]
    narrowest = min(widths)
    keep = tuple(layers)
    units = None
    if subsample:
        units = {layer: m for layer, m in zip(LAYERS, _conv_channels(_build(narrowest, 0, x_train.shape[1:])))
                 if layer in keep}
    nets, activations = [], {}
    for w in sorted(widths):
        accuracies = []
        for seed in seeds:
            model = _build(w, seed, x_train.shape[1:])
            run = train(model, data, epochs=epochs, optimizer=SETTINGS["optimizer"], lr=SETTINGS["lr"],
                        batch_size=SETTINGS["batch_size"], seed=seed)
            run.model.eval()
            name = f"w{w:g}-s{seed}"
            every = dict(layer_activations(run.model, x_probe))
            acts = {layer: every[layer] for layer in keep}
            if units is not None:
                position = len(nets)
                acts = {layer: subsample_units(a, units[layer], seed=1000 * position + LAYERS.index(layer))
                        for layer, a in acts.items()}
            nets.append(WidthNet(name, float(w), int(seed), _conv_channels(run.model),
                                 float(run.history.test_accuracy[-1]),
                                 float(run.history.train_accuracy[-1])))
            activations[name] = acts
            accuracies.append(nets[-1].test_accuracy)
        log(f"width x{w:g} (channels {nets[-1].channels}): {len(seeds)} seeds, {epochs} epochs, test accuracy "
            f"{np.mean(accuracies):.3f} +- {np.std(accuracies):.3f}")
    return WidthPopulation(tuple(nets), activations, probe, int(x_probe.shape[0]), units)


def _build(width: float, seed: int, input_shape: Sequence[int]) -> Any:
    return build("cnn", width=width, batchnorm=SETTINGS["batchnorm"], input_shape=tuple(input_shape),
                 channels=tuple(SETTINGS["channels"]), convs_per_stage=SETTINGS["convs_per_stage"], seed=seed)


def _conv_channels(model: Any) -> tuple[int, ...]:
    """Output channels of the conv layers feeding `LAYERS` (conv<k> feeds relu<k>)."""
    return tuple(int(model.get_submodule(layer.replace("relu", "conv")).out_channels) for layer in LAYERS)
