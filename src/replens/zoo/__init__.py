"""The zoo: offline data, small networks and deterministic, cached training with checkpoints.

Everything here runs on the CPU, offline:

* :mod:`.datasets`  -- ``load(name, seed=0)``: "digits", "mnist" (10,000 real digits shipped
  with replens), "mnist14", "text" (characters of the standard library's docstrings, :mod:`.text`)
* :mod:`.networks`  -- ``build(kind, *, width, depth, batchnorm, seed, **kw)``: "mlp", "cnn",
  "resnet", "lstm"
* :mod:`.trainer`   -- ``train(model, data, *, epochs, optimizer, lr, seed, record, freeze)``:
  SGD or Adam, one seed fixing the mini-batch order, the caller's RNG untouched; a
  ``TrainingRun`` with the per-epoch ``history`` and the ``checkpoints``
* :mod:`.recorder`  -- ``Recorder(layers, probe, steps="log", n_checkpoints=40)``: chosen
  layers on a fixed probe set at log-spaced (or linear, or given) steps
* :mod:`.labels`    -- ``random_labels(y, seed=...)``: one fixed random permutation of the
  training labels, for memorising networks (PWCCA sec. 3.1)
* :mod:`.subsets`   -- ``class_subset(data, classes)``: a split restricted to some classes,
  relabelled 0..k-1 (disjoint tasks, CKA sec. 6.3)
* :mod:`.cache`     -- trained runs stored by a hash of their whole configuration under
  ``$REPLENS_CACHE`` (default ``~/.cache/replens``), so a second run does not retrain

The CKA sanity-check demo's pieces live here too: :mod:`.digits` (``load_digits_split``,
standardised flat digits), :mod:`.models` (``build_mlp``, ``build_cnn``), :mod:`.training`
(``train_mlp``, ``train_cnn``, Adam), :mod:`.layers` (every ReLU's output) and
:mod:`.architectures` (``train_zoo``: one architecture, many seeds).

Importing this package imports neither torch nor scikit-learn; the functions do, when called
(``pip install 'replens[demo]'``).
"""

from .architectures import ARCHITECTURES, Zoo, ZooConfig, train_zoo
from .cache import CACHE_ENV, cache_folder
from .datasets import DATASETS, load
from .digits import DigitsSplit, load_digits_split
from .labels import random_labels
from .layers import hidden_activations, layer_activations
from .models import build_cnn, build_mlp
from .networks import KINDS, build
from .recorder import SCHEDULES, Recorder, plan_steps
from .subsets import class_subset
from .text import TEXT_MODULES, TEXT_VOCAB
from .trainer import OPTIMIZERS, TrainingHistory, TrainingRun, train
from .training import TrainedNet, accuracy, fit_classifier, train_cnn, train_mlp

__all__ = [
    "ARCHITECTURES",
    "CACHE_ENV",
    "DATASETS",
    "DigitsSplit",
    "KINDS",
    "OPTIMIZERS",
    "Recorder",
    "SCHEDULES",
    "TEXT_MODULES",
    "TEXT_VOCAB",
    "TrainedNet",
    "TrainingHistory",
    "TrainingRun",
    "Zoo",
    "ZooConfig",
    "accuracy",
    "build",
    "build_cnn",
    "build_mlp",
    "cache_folder",
    "class_subset",
    "fit_classifier",
    "hidden_activations",
    "layer_activations",
    "load",
    "load_digits_split",
    "plan_steps",
    "random_labels",
    "train",
    "train_cnn",
    "train_mlp",
    "train_zoo",
]
