"""Two MLPs of one architecture, trained on the digits from different seeds, compared layer by layer.

:func:`train_pair` trains network A from ``seed`` and network B from ``seed + 1``
(:mod:`replens.zoo`); :func:`compare_pair` reads their hidden layers on the held-out digits
and computes linear CKA between every pair of hidden layers plus every measure between the
last hidden layers (:func:`~replens.demo.compare.pair_measures`); :func:`format_pair_report`
is the text of ``replens demo pair``. Nothing here prints: progress goes to an optional
``log`` callable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..engine import compare
from ..results import SimilarityMatrix
from ..zoo import DigitsSplit, TrainedNet, hidden_activations, load_digits_split, train_mlp
from ._requirements import TRAINING_PACKAGES, check_packages
from .compare import Measure, format_matrix, format_measures, pair_measures

__all__ = ["PairNets", "PairResult", "compare_pair", "format_pair_report", "save_pair_heatmap",
           "train_pair"]

Log = Callable[[str], None]


@dataclass
class PairNets:
    """Networks A and B (``nets["A"]``, ``nets["B"]``), the split they saw and how they were trained."""

    split: DigitsSplit
    nets: dict[str, TrainedNet]
    hidden_widths: tuple[int, ...]
    epochs: int
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class PairResult:
    """What :func:`compare_pair` computed.

    Attributes
    ----------
    pair : PairNets
    layers : dict str -> list of (str, ndarray)
        Per network, its hidden layers on the held-out digits, float64 (n, width).
    matrix : SimilarityMatrix
        Linear CKA, rows ``A.h1 ...``, columns ``B.h1 ...``.
    measures : list of Measure
        Every measure between the last hidden layers, with its bounds.
    seconds : float
        Wall time of reading the layers and comparing.
    """

    pair: PairNets
    layers: dict[str, list[tuple[str, np.ndarray]]]
    matrix: SimilarityMatrix
    measures: list[Measure]
    seconds: float

    def out_of_bounds(self) -> list[Measure]:
        """The measures whose value lies outside their bounds (a bug if any)."""
        return [m for m in self.measures if not m.in_bounds()]


def train_pair(*, seed: int = 0, epochs: int = 20, hidden_widths: Sequence[int] = (64, 64, 48, 32),
               lr: float = 1e-3, batch_size: int = 32, test_fraction: float = 1 / 3, split_seed: int = 0,
               threads: int | None = 1, log: Log | None = None) -> PairNets:
    """Train net A (``seed``) and net B (``seed + 1``) on sklearn's digits, deterministically.

    ``torch.set_num_threads(threads)`` holds while training (1 makes runs reproducible; None
    leaves it); the previous setting is restored. About a second per network on one core.

    Raises
    ------
    ImportError
        torch or scikit-learn is missing; the message names the pip extra.
    """
    check_packages(TRAINING_PACKAGES, extra="demo", needed_by="the MLP-pair demo")
    import torch

    say = log or (lambda message: None)
    widths = tuple(int(w) for w in hidden_widths)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        split = load_digits_split(test_fraction=test_fraction, split_seed=split_seed)
        say(f"digits: {split.x_train.shape[0]} training, {split.x_test.shape[0]} held-out examples")
        nets, seconds = {}, {}
        for tag, net_seed in (("A", seed), ("B", seed + 1)):
            started = time.perf_counter()
            nets[tag] = train_mlp(split, seed=net_seed, hidden_widths=widths, epochs=epochs, lr=lr,
                                  batch_size=batch_size)
            seconds[tag] = time.perf_counter() - started
            say(f"trained net {tag} (seed {net_seed}) in {seconds[tag]:.2f} s")
    finally:
        torch.set_num_threads(previous_threads)
    return PairNets(split=split, nets=nets, hidden_widths=widths, epochs=epochs, seconds=seconds)


def compare_pair(pair: PairNets, *, rbf_bandwidth: float = 0.5, svcca_threshold: float = 0.99,
                 log: Log | None = None) -> PairResult:
    """Linear CKA between every hidden layer of A and of B on the held-out digits, and every
    measure between the last hidden layers.

    Raises
    ------
    ReplensError
        A layer cannot be compared, e.g. every unit died (constant activations).
    """
    say = log or (lambda message: None)
    started = time.perf_counter()
    layers = {tag: hidden_activations(net.model, pair.split.x_test) for tag, net in pair.nets.items()}
    matrix = compare([(f"A.{name}", a) for name, a in layers["A"]],
                        [(f"B.{name}", b) for name, b in layers["B"]], "linear_cka", progress=False)
    measures = pair_measures(layers["A"][-1][1], layers["B"][-1][1], name_x="A", name_y="B",
                             rbf_bandwidth=rbf_bandwidth, svcca_threshold=svcca_threshold)
    seconds = time.perf_counter() - started
    say(f"computed similarities in {seconds:.2f} s")
    return PairResult(pair=pair, layers=layers, matrix=matrix, measures=measures, seconds=seconds)


def format_pair_report(result: PairResult) -> str:
    """The text of ``replens demo pair``: accuracies, the CKA table, every measure."""
    pair = result.pair
    split = pair.split
    arch = " -> ".join(str(w) for w in (split.n_features, *pair.hidden_widths, split.n_classes))
    epochs = f"{pair.epochs} epoch{'' if pair.epochs == 1 else 's'}"
    lines = [f"Two ReLU MLPs {arch}, {epochs} of Adam on sklearn digits; compared on "
             f"{split.x_test.shape[0]} held-out digits.", "", "Held-out accuracy"]
    lines += [f"  net {tag} (seed {net.seed}): {net.accuracy:.4f}" for tag, net in pair.nets.items()]
    lines += ["", "Linear CKA between hidden layers (rows: net A, columns: net B)"]
    widths = {tag: [a.shape[1] for _, a in layers] for tag, layers in result.layers.items()}
    rows = [f"{name} ({width})" for name, width in zip(result.matrix.layers_a, widths["A"])]
    cols = [f"{name} ({width})" for name, width in zip(result.matrix.layers_b, widths["B"])]
    lines += [format_matrix(result.matrix["linear_cka"], rows, cols), ""]
    last_a, last_b = result.matrix.layers_a[-1], result.matrix.layers_b[-1]
    lines += [f"Every measure between the last hidden layers, A = {last_a}, B = {last_b}",
              format_measures(result.measures)]
    return "\n".join(lines)


def save_pair_heatmap(result: PairResult, path: str | Path, *, dpi: int = 120) -> Path:
    """Write the linear CKA heatmap (:meth:`SimilarityMatrix.plot`) to the PNG file `path`.

    Drawn on a bare ``matplotlib.figure.Figure``: pyplot's state and backend are left alone.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    side = 1.5 + 0.35 * max(len(result.matrix.layers_a), len(result.matrix.layers_b))
    figure = Figure(figsize=(min(side + 1.2, 16), min(side, 14)))
    result.matrix.plot("linear_cka", ax=figure.add_subplot())
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    return path
