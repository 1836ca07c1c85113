"""Offline data, small models and deterministic training, for demos and tests.

Everything here runs on the CPU in seconds, with no download:

* :mod:`.data`          -- ``load_digits_split``: scikit-learn's digits, split and standardised
* :mod:`.models`        -- ``build_mlp``, ``build_cnn``
* :mod:`.training`      -- ``train_mlp``, ``train_cnn``, ``fit_classifier``, ``accuracy``: Adam,
  one seed fixing initialisation and mini-batch order, the caller's RNG untouched
* :mod:`.layers`        -- ``layer_activations``, ``hidden_activations``: every ReLU's output
* :mod:`.architectures` -- ``ZooConfig``, ``ARCHITECTURES``, ``train_zoo``: one architecture,
  many seeds

Importing this package imports neither torch nor scikit-learn; the functions do, when called
(``pip install 'replens[demo]'``).
"""

from .architectures import ARCHITECTURES, Zoo, ZooConfig, train_zoo
from .digits import DigitsSplit, load_digits_split
from .layers import hidden_activations, layer_activations
from .models import build_cnn, build_mlp
from .training import TrainedNet, accuracy, fit_classifier, train_cnn, train_mlp

__all__ = [
    "ARCHITECTURES",
    "DigitsSplit",
    "TrainedNet",
    "Zoo",
    "ZooConfig",
    "accuracy",
    "build_cnn",
    "build_mlp",
    "fit_classifier",
    "hidden_activations",
    "layer_activations",
    "load_digits_split",
    "train_cnn",
    "train_mlp",
    "train_zoo",
]
