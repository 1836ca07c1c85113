"""The plain CNNs of the CKA paper's depth experiments (sec. 6.2, Fig. 3 and Fig. 5), shared
by K08 (depth pathology) and K10 (across architectures): the zoo's CNN with 3 stages of
3x3 convs (32 channels, no batch norm), each conv repeated 1, 2, 4 or 8 times, trained on
digits with Adam (claims.md K08's pilot settings, except 3 stages instead of the pilot's 2: the
zoo's CNN has 3 stages, the first two followed by 2x2 max-pooling). Training is cached by the zoo, so the
second experiment reuses the first's networks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..zoo import build, layer_activations, load, train

__all__ = ["SETTINGS", "trained_depths"]

SETTINGS = {"channels": [32, 32, 32], "convs_per_stage": 1, "batchnorm": False, "optimizer": "adam", "lr": 1e-3,
            "batch_size": 64, "seed": 0}


def trained_depths(depths: Sequence[int], epochs: int, log: Callable[[str], None]
                   ) -> tuple[dict[int, dict[str, Any]], tuple[np.ndarray, ...]]:
    """For each depth multiplier: test accuracy and the ReLU layers on the train and test splits."""
    data = load("digits", seed=0)
    nets = {}
    for depth in depths:
        model = build("cnn", depth=depth, batchnorm=SETTINGS["batchnorm"], input_shape=(1, 8, 8),
                      channels=tuple(SETTINGS["channels"]), convs_per_stage=SETTINGS["convs_per_stage"],
                      seed=SETTINGS["seed"])
        run = train(model, data, epochs=epochs, optimizer=SETTINGS["optimizer"], lr=SETTINGS["lr"],
                    batch_size=SETTINGS["batch_size"], seed=SETTINGS["seed"])
        run.model.eval()
        accuracy = float(run.history.test_accuracy[-1])
        log(f"{depth}x: {3 * depth} conv layers, {epochs} epochs, test accuracy {accuracy:.3f}")
        nets[depth] = {"accuracy": accuracy, "train": layer_activations(run.model, data[0]),
                       "test": layer_activations(run.model, data[2])}
    return nets, data
