"""The CKA paper's sanity check (Kornblith et al. 2019, sec. 6.1, Table 2) on sklearn's digits.

Given architecturally identical networks trained from different random initialisations,
for each layer of one network the most similar layer of another should be the
architecturally corresponding one. For every measure of :func:`replens.measures` this
module reports the fraction of (layer, network pair) cases where it is, for a zoo of deep
MLPs and a zoo of small CNNs (:mod:`replens.zoo`), beside the paper's Table 2. Nothing here
prints: :func:`run_sanity_check` sends progress lines to an optional ``log`` callable,
:func:`format_sanity_table` returns the text, :func:`write_sanity_outputs` writes the files.

How the check is computed
-------------------------
* For each unordered pair of networks {i, j}, ``rl.compare(layers_i, layers_j,
  measures=ALL)`` is called once; the asymmetric measures (pwcca, linear_regression_r2)
  also need the other direction, so ``rl.compare(layers_j, layers_i, <those two>)`` is
  called too. That gives S_ij[a, b] = s(layer a of i, layer b of j) for every ordered
  pair (i, j).
* Asymmetric measures are symmetrised as the paper did (Table 2: "S + S^T"):
  sym(a, b) = s(a of i, b of j) + s(b of j, a of i), i.e. ``S_ij + S_ji^T``.
* For each ordered pair (i, j) and each layer a of i, the case is correct when
  argmax_b sym(a, b) == a. When several layers tie for the maximum (within 1e-12 of it,
  relative), the case counts 1/k if the right layer is among the k tied ones: the
  expected accuracy of a random tie-break. Accuracy = correct cases / all cases, so
  chance is 1 / n_layers. Only hidden layers enter (post-ReLU outputs); the logits are
  excluded, as in the paper.
* Conv layers are compared flattened, (n, c*h*w) (``conv="flatten"``). The paper's main
  text treats every layer as an (examples x neurons) matrix and stresses that conv layers
  can have more neurons than examples (sec. 2.2); the appendix with its details is not in
  our copy, so flattening is our reading of what it did. Our CNN's flattened layers have
  256 down to 64 units against 599 held-out examples, so rank_a + rank_b < n - 1 and no
  canonical correlation is forced to 1 (Theorem 1; ``SanityResult.uninformative_pairs``
  counts such pairs): CCA fails here without that degeneracy. ``conv="mean_pool"`` (c
  features per layer, discarding spatial structure) is available as an option.
* RBF CKA uses sigma = 0.8 x median distance (``rbf_bandwidth=0.8``), one of the paper's
  three bandwidths; SVCCA keeps 99 % of the variance, as the paper did.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, package_versions
from ..engine import compare
from ..errors import UninformativeWarning
from ..measures.registry import measures as registered_measures
from ..report import write_outputs, write_report
from ..results import SimilarityMatrix
from ..zoo import ARCHITECTURES, ZooConfig, load_digits_split, train_zoo
from ._requirements import DEMO_PACKAGES, check_packages

__all__ = [
    "PAPER_TABLE2",
    "SanityResult",
    "format_sanity_table",
    "identification_accuracy",
    "run_sanity_check",
    "symmetrise",
    "write_sanity_csv",
    "write_sanity_outputs",
    "zoo_accuracy",
]

CSV_NAME = "sanity_check.csv"
CSV_COLUMNS = ("measure", "accuracy", "paper_accuracy", "architecture")
TIE_TOLERANCE = 1e-12

PAPER_TABLE2: dict[str, tuple[str, float] | None] = {
    "linear_cka": ("CKA (Linear)", 0.993),
    "debiased_linear_cka": None,
    "rbf_cka": ("CKA (RBF 0.8)", 0.993),
    "linear_hsic": ("Linear HSIC", 0.222),
    "cca_mean_rho": ("CCA (rho-bar)", 0.014),
    "cca_r2": ("CCA (R^2_CCA)", 0.106),
    "svcca_mean_rho": ("SVCCA (rho-bar)", 0.099),
    "svcca_r2": ("SVCCA (R^2_CCA)", 0.151),
    "pwcca": ("PWCCA", 0.111),
    "linear_regression_r2": ("Linear Reg.", 0.454),
}
"""Kornblith et al. 2019, Table 2 (10 CNNs of 10 layers on CIFAR-10), as fractions, keyed by
our measure names; None where the paper has no row (it did not report debiased CKA).
``rbf_cka`` is matched to the row of the bandwidth in use (:data:`PAPER_RBF`)."""

PAPER_RBF: dict[float, float] = {0.2: 0.806, 0.4: 0.991, 0.8: 0.993}
"""Table 2's RBF CKA rows: bandwidth (fraction of the median distance) -> accuracy."""


@dataclass
class SanityResult:
    """What :func:`run_sanity_check` measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (architecture, measure): columns ``architecture, measure, accuracy``
        (fraction of correct cases, in [0, 1]), ``paper_accuracy`` (Table 2 as a fraction,
        None where the paper has no row), ``paper_row`` (the Table 2 row it is set beside),
        ``near_accuracy`` (argmax within one layer of the right one), ``n_cases``,
        ``n_layers`` and ``chance`` (1 / n_layers).
    per_layer : pandas.DataFrame
        ``architecture, measure, layer, accuracy``: the accuracy for each layer of network i.
    mean_matrices : dict str -> SimilarityMatrix
        Per architecture, every measure averaged over all ordered network pairs (i, j),
        rows = layers of i, columns = layers of j; asymmetric measures unsymmetrised (row
        layer as first argument), as in the paper's Figure 2.
    adjacent_cka : dict str -> float
        Per architecture, mean linear CKA between consecutive layers of the same network
        (network 0): how distinct neighbouring layers are.
    networks : pandas.DataFrame
        ``architecture, seed, test_accuracy, epochs, description``: every trained network.
    layer_stats : pandas.DataFrame
        ``architecture, seed, layer, units, rank, dims_99, dead_units``: every layer as
        compared (after ``conv``), with its numerical rank, the number of principal
        directions holding 99 % of its variance and its units constant on held-out data.
    notes : str
        What the numbers show for each architecture and why.
    uninformative_pairs : dict str -> int
        Per architecture, cross-network layer pairs with rank_a + rank_b > n - 1, where
        CCA-family values are forced towards 1 whatever the data (Theorem 1).
    settings : dict
        Seeds, epochs, conv mode, bandwidth, held-out examples.
    seconds : dict str -> float
        Wall time of training and of comparing, per architecture, and in total.
    """

    table: Any
    per_layer: Any
    mean_matrices: dict[str, SimilarityMatrix]
    adjacent_cka: dict[str, float]
    networks: Any
    layer_stats: Any
    notes: str
    uninformative_pairs: dict[str, int]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def accuracy(self, architecture: str, measure: str) -> float:
        """Our accuracy for one architecture and measure."""
        rows = self.table[(self.table.architecture == architecture) & (self.table.measure == measure)]
        if len(rows) != 1:
            raise KeyError(f"no row for architecture={architecture!r}, measure={measure!r}; "
                           f"architectures are {sorted(set(self.table.architecture))}.")
        return float(rows.accuracy.iloc[0])


# --------------------------------------------------------------------------- the accuracy


def symmetrise(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """``forward + backward.T``: the paper's S + S^T for an asymmetric measure.

    Parameters
    ----------
    forward : array of shape (L_i, L_j)
        ``forward[a, b] = s(layer a of network i, layer b of network j)``.
    backward : array of shape (L_j, L_i)
        ``backward[b, a] = s(layer b of network j, layer a of network i)``.

    Returns
    -------
    ndarray of shape (L_i, L_j)
        ``s(a, b) + s(b, a)``, symmetric in the roles of the two layers.
    """
    forward, backward = np.asarray(forward, dtype=np.float64), np.asarray(backward, dtype=np.float64)
    if forward.ndim != 2 or backward.shape != forward.shape[::-1]:
        raise ValueError(f"backward must have the transposed shape of forward; got forward "
                         f"{forward.shape} and backward {backward.shape}.")
    return forward + backward.T


def _row_scores(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row a: credit for argmax == a (1/k among k ties) and whether argmax is within 1."""
    size = similarity.shape[0]
    finite = np.where(np.isnan(similarity), -np.inf, similarity)
    best = finite.max(axis=1, keepdims=True)
    tied = finite >= best - TIE_TOLERANCE * np.maximum(1.0, np.abs(best))
    diagonal = np.arange(size)
    credit = tied[diagonal, diagonal] / tied.sum(axis=1)
    near = np.abs(np.arange(size)[None, :] - diagonal[:, None]) <= 1
    near_credit = (tied & near).sum(axis=1) / tied.sum(axis=1)
    return credit, near_credit


def identification_accuracy(similarities: Sequence[np.ndarray] | np.ndarray) -> float:
    """Fraction of layers whose most similar layer in the other network is the corresponding one.

    Kornblith et al. 2019, sec. 6.1. Each matrix S is one ordered network pair (i, j),
    already symmetrised for asymmetric measures (:func:`symmetrise`): ``S[a, b]`` is the
    similarity of layer a of i and layer b of j. Row a is correct when its maximum is at
    column a; k tied maxima (within 1e-12 relative) give 1/k credit if a is among them.
    NaN entries never win (a warning says how many there were). Cost O(pairs x L^2).

    Parameters
    ----------
    similarities : sequence of arrays of shape (L, L), or one such array

    Returns
    -------
    float in [0, 1]; 1 / L for a measure that picks layers at random.

    Examples
    --------
    >>> import numpy as np
    >>> identification_accuracy([np.eye(3), np.array([[0, 1.0], [0, 1.0]])])
    0.8
    """
    matrices = [similarities] if isinstance(similarities, np.ndarray) and similarities.ndim == 2 \
        else list(similarities)
    if not matrices:
        raise ValueError("similarities is empty; pass one or more square (L, L) matrices.")
    credits = []
    n_nan = 0
    for k, matrix in enumerate(matrices):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise ValueError(f"similarities[{k}] must be a non-empty square (L, L) matrix (layer a "
                             f"of one network against layer b of another); got shape {matrix.shape}.")
        n_nan += int(np.isnan(matrix).sum())
        credits.append(_row_scores(matrix)[0])
    if n_nan:
        warnings.warn(f"{n_nan} similarity values are NaN; they were never taken as the most "
                      f"similar layer.", RuntimeWarning, stacklevel=2)
    return float(np.mean(np.concatenate(credits)))


# --------------------------------------------------------------------------- the experiment


def _rbf_paper_row(bandwidth: float) -> tuple[str, float]:
    nearest = min(PAPER_RBF, key=lambda b: abs(math.log(b / bandwidth)))
    return f"CKA (RBF {nearest})", PAPER_RBF[nearest]


def _paper_row(measure: str, bandwidth: float) -> tuple[str, float] | None:
    return _rbf_paper_row(bandwidth) if measure == "rbf_cka" else PAPER_TABLE2.get(measure)


def _as_matrix(array: np.ndarray, conv: str) -> np.ndarray:
    """The (examples, features) matrix compare() makes of a layer under `conv`, in float64."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 4 and conv == "mean_pool":
        return array.mean(axis=(2, 3))
    return array.reshape(array.shape[0], -1)


def _layer_stats(zoo: Any, conv: str) -> list[dict[str, Any]]:
    """Per network and layer: units, numerical rank, dimensions holding 99 % of the variance,
    dead units (constant on the held-out data)."""
    stats = []
    for net, layers in zip(zoo.nets, zoo.layers):
        for name, array in layers:
            matrix = _as_matrix(array, conv)
            centred = matrix - matrix.mean(axis=0)
            singular = np.linalg.svd(centred, compute_uv=False)
            tolerance = singular[0] * max(centred.shape) * np.finfo(np.float64).eps if singular.size else 0
            variance = np.cumsum(singular**2) / max(float(np.sum(singular**2)), np.finfo(float).tiny)
            stats.append({"architecture": zoo.architecture, "seed": net.seed, "layer": name,
                          "units": int(matrix.shape[1]), "rank": int(np.sum(singular > tolerance)),
                          "dims_99": int(np.searchsorted(variance, 0.99) + 1),
                          "dead_units": int(np.sum(np.ptp(matrix, axis=0) == 0))})
    return stats


def _count_uninformative(stats: Sequence[Mapping[str, Any]], n_examples: int) -> int:
    """Cross-network layer pairs with rank_a + rank_b > n - 1 (Kornblith et al. Theorem 1)."""
    ranks: dict[int, list[int]] = {}
    for row in stats:
        ranks.setdefault(row["seed"], []).append(row["rank"])
    count = 0
    for seed_a, ranks_a in ranks.items():
        for seed_b, ranks_b in ranks.items():
            if seed_a != seed_b:
                count += sum(a + b > n_examples - 1 for a in ranks_a for b in ranks_b)
    return count


def _symmetric(name: str) -> bool:
    return {info.name: info.symmetric for info in registered_measures()}[name]


def _compare_networks(networks: Sequence[Sequence[tuple[str, Any]]], names: tuple[str, ...], *,
                      conv: str, rbf_bandwidth: float, log: Callable[[str], None], label: str = ""
                      ) -> dict[tuple[int, int], np.ndarray]:
    """Raw S_ij, shape (n_measures, L, L), for every ordered pair (i, j), i != j.

    One compare() per unordered pair with every measure, plus one in the other direction
    with the asymmetric measures only (the symmetric ones are the transpose).
    """
    asymmetric = tuple(name for name in names if not _symmetric(name))
    rows = {name: k for k, name in enumerate(names)}
    raw: dict[tuple[int, int], np.ndarray] = {}
    options = {"conv": conv, "rbf_bandwidth": rbf_bandwidth, "svcca_threshold": 0.99, "progress": False}
    for i in range(len(networks)):
        for j in range(i + 1, len(networks)):
            started = time.perf_counter()
            with warnings.catch_warnings():
                # counted and reported per architecture instead (SanityResult.uninformative_pairs)
                warnings.filterwarnings("ignore", category=UninformativeWarning)
                forward = compare(list(networks[i]), list(networks[j]), names, **options).values
                backward = np.array(forward.transpose(0, 2, 1))
                if asymmetric:
                    reverse = compare(list(networks[j]), list(networks[i]), asymmetric, **options)
                    for name in asymmetric:
                        backward[rows[name]] = reverse[name]
            raw[i, j], raw[j, i] = forward, backward
            log(f"  {label}compared networks {i} and {j} in {time.perf_counter() - started:.2f} s")
    return raw


def _check_networks(networks: Sequence[Sequence[tuple[str, Any]]]) -> None:
    if len(networks) < 2:
        raise ValueError(f"need at least 2 networks to compare; got {len(networks)}.")
    counts = {len(layers) for layers in networks}
    if len(counts) != 1:
        raise ValueError(f"every network must have the same number of layers (architecturally "
                         f"identical); got {sorted(len(layers) for layers in networks)}.")


def zoo_accuracy(
    networks: Sequence[Sequence[tuple[str, Any]]],
    measures: str | Sequence[str] | None = None,
    *,
    conv: str = "flatten",
    rbf_bandwidth: float = 0.8,
) -> dict[str, float]:
    """The sanity-check accuracy of each measure for a zoo of architecturally identical networks.

    Parameters
    ----------
    networks : sequence of sequences of (name, array)
        Each network's layers in architectural order, arrays (n, ...) on the same n
        examples (4-D conv layers NCHW); at least 2 networks with equal layer counts.
    measures : str or sequence of str, optional
        Names from :func:`replens.measures`; default all of them.
    conv, rbf_bandwidth
        As in :func:`run_sanity_check`.

    Returns
    -------
    dict measure -> accuracy in [0, 1] over every ordered pair (i, j) and layer of i,
    asymmetric measures symmetrised as S_ij + S_ji^T (module docstring).
    """
    _check_networks(networks)
    names = tuple(info.name for info in registered_measures() if info.builtin) if measures is None else (
        (measures,) if isinstance(measures, str) else tuple(measures))
    raw = _compare_networks(networks, names, conv=conv, rbf_bandwidth=rbf_bandwidth,
                            log=lambda message: None)
    return {name: float(credits.mean()) for name, (credits, _) in _score_zoo(raw, names).items()}


def _score_zoo(raw: Mapping[tuple[int, int], np.ndarray], names: tuple[str, ...]
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per measure: credits and within-one-layer credits, shape (ordered pairs, L)."""
    scores = {}
    for k, name in enumerate(names):
        symmetric = _symmetric(name)
        credits, nears = [], []
        for (i, j), values in raw.items():
            matrix = values[k] if symmetric else symmetrise(values[k], raw[j, i][k])
            credit, near = _row_scores(matrix)
            credits.append(credit)
            nears.append(near)
        scores[name] = (np.array(credits), np.array(nears))
    return scores


def _adjacent_cka(layers: list[tuple[str, np.ndarray]], conv: str) -> float:
    """Mean linear CKA between consecutive layers of one network."""
    matrix = compare(layers, None, "linear_cka", conv=conv, progress=False)["linear_cka"]
    return float(np.mean(np.diagonal(matrix, offset=1)))


def run_sanity_check(
    *,
    seeds: int = 5,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
    conv: str = "flatten",
    rbf_bandwidth: float = 0.8,
    architectures: Sequence[str] = ("mlp", "cnn"),
) -> SanityResult:
    """Train the zoos, compare every pair of networks with every measure, score Table 2.

    Parameters
    ----------
    seeds : int, default 5
        Networks per architecture (seeds 0 .. seeds-1); at least 2.
    quick : bool, default False
        At most 2 networks per architecture and a third of the training epochs: the same
        computation, for tests (a few seconds on one core).
    log : callable, optional
        Called with one progress line per step (e.g. print to stderr); None is silent.
    conv : {"flatten", "mean_pool"}, default "flatten"
        How conv layers become matrices (module docstring: the paper flattened them).
    rbf_bandwidth : float, default 0.8
        RBF CKA's sigma as a fraction of the median distance; its Table 2 row is the
        nearest of 0.2, 0.4, 0.8.
    architectures : sequence of {"mlp", "cnn"}, default both

    Returns
    -------
    SanityResult

    Notes
    -----
    Runs with one torch thread and one BLAS thread (restored afterwards) and is
    deterministic: two runs give equal results. About 30 s on one core for the default
    5 + 5 networks, training included.
    """
    check_packages(DEMO_PACKAGES, extra="demo", needed_by="the sanity check")
    import pandas as pd
    import torch
    from threadpoolctl import threadpool_limits

    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 2:
        raise ValueError(f"seeds must be an int >= 2 (networks per architecture); got {seeds!r}.")
    unknown = [a for a in architectures if a not in ARCHITECTURES]
    if unknown or not architectures or isinstance(architectures, str):
        raise ValueError(f"architectures must be a sequence of names from {sorted(ARCHITECTURES)}; "
                         f"got {architectures!r}.")
    if conv not in ("flatten", "mean_pool"):
        raise ValueError(f"conv must be 'flatten' or 'mean_pool' (spatial_as_examples needs equal "
                         f"map sizes, dft computes only CCA); got {conv!r}.")
    log = log or (lambda message: None)
    n_nets = min(int(seeds), 2) if quick else int(seeds)
    names = tuple(info.name for info in registered_measures() if info.builtin)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    rows, layer_rows, network_rows, stat_rows = [], [], [], []
    mean_matrices, adjacent, uninformative = {}, {}, {}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            split = load_digits_split()
            n_examples = int(split.x_test.shape[0])
            for architecture in architectures:
                base = ARCHITECTURES[architecture]
                epochs = max(1, base.epochs // 3) if quick else base.epochs
                config = ZooConfig(base.architecture, base.widths, epochs, base.lr, base.batch_size,
                                   base.strides)
                clock = time.perf_counter()
                zoo = train_zoo(split, config, list(range(n_nets)))
                seconds[f"{architecture}_train"] = time.perf_counter() - clock
                log(f"{architecture}: trained {n_nets} networks in "
                    f"{seconds[f'{architecture}_train']:.1f} s, held-out accuracy "
                    + ", ".join(f"{net.accuracy:.3f}" for net in zoo.nets))
                for net in zoo.nets:
                    network_rows.append({"architecture": architecture, "seed": net.seed,
                                         "test_accuracy": net.accuracy, "epochs": epochs,
                                         "description": config.describe()})
                clock = time.perf_counter()
                raw = _compare_networks(zoo.layers, names, conv=conv, rbf_bandwidth=rbf_bandwidth,
                                        log=log, label=f"{architecture}: ")
                seconds[f"{architecture}_compare"] = time.perf_counter() - clock
                layer_names = zoo.layer_names
                n_layers = len(layer_names)
                for name, (credits, nears) in _score_zoo(raw, names).items():
                    paper = _paper_row(name, rbf_bandwidth)
                    rows.append({"architecture": architecture, "measure": name,
                                 "accuracy": float(credits.mean()),
                                 "paper_accuracy": None if paper is None else paper[1],
                                 "paper_row": None if paper is None else paper[0],
                                 "near_accuracy": float(nears.mean()), "n_cases": int(credits.size),
                                 "n_layers": n_layers, "chance": 1.0 / n_layers})
                    for position, layer in enumerate(layer_names):
                        layer_rows.append({"architecture": architecture, "measure": name,
                                           "layer": layer,
                                           "accuracy": float(credits[:, position].mean())})
                mean_matrices[architecture] = SimilarityMatrix(
                    np.mean([raw[pair] for pair in sorted(raw)], axis=0), layer_names, layer_names,
                    names, {"conv": conv, "n_examples": n_examples, "rbf_bandwidth": rbf_bandwidth,
                            "svcca_threshold": 0.99, "n_pairs": len(raw),
                            "architecture": architecture, "name_a": "layers of network i",
                            "name_b": "layers of network j"})
                adjacent[architecture] = _adjacent_cka(zoo.layers[0], conv)
                stats = _layer_stats(zoo, conv)
                stat_rows.extend(stats)
                uninformative[architecture] = _count_uninformative(stats, n_examples)
    finally:
        torch.set_num_threads(threads)
    seconds["total"] = time.perf_counter() - started
    table = pd.DataFrame(rows, columns=["architecture", "measure", "accuracy", "paper_accuracy",
                                        "paper_row", "near_accuracy", "n_cases", "n_layers", "chance"])
    networks = pd.DataFrame(network_rows, columns=["architecture", "seed", "test_accuracy", "epochs",
                                                   "description"])
    layer_stats = pd.DataFrame(stat_rows, columns=["architecture", "seed", "layer", "units", "rank",
                                                   "dims_99", "dead_units"])
    settings = {"networks_per_architecture": n_nets, "quick": bool(quick), "conv": conv,
                "rbf_bandwidth": rbf_bandwidth, "svcca_threshold": 0.99,
                "n_examples": n_examples, "measures": list(names)}
    notes = _notes(table, mean_matrices, adjacent, layer_stats, uninformative, n_examples, conv)
    log(f"sanity check done in {seconds['total']:.1f} s")
    return SanityResult(table=table, per_layer=pd.DataFrame(layer_rows), mean_matrices=mean_matrices,
                        adjacent_cka=adjacent, networks=networks, layer_stats=layer_stats,
                        notes=notes, uninformative_pairs=uninformative, settings=settings,
                        seconds=seconds)


def _notes(table: Any, mean_matrices: Mapping[str, SimilarityMatrix],
           adjacent: Mapping[str, float], layer_stats: Any, uninformative: Mapping[str, int],
           n_examples: int, conv: str) -> str:
    """What the measured numbers show, per architecture, and why."""

    def value(architecture: str, measure: str) -> float:
        rows = table[(table.architecture == architecture) & (table.measure == measure)]
        return float(rows.accuracy.iloc[0])

    lines = []
    for architecture in dict.fromkeys(table.architecture):
        rows = table[table.architecture == architecture]
        chance = float(rows.chance.iloc[0])
        best = rows.sort_values("accuracy", ascending=False, kind="stable").iloc[0]
        cka = mean_matrices[architecture]["linear_cka"]
        names = mean_matrices[architecture].layers_a
        stats = layer_stats[layer_stats.architecture == architecture]
        dims = stats.groupby("layer", sort=False).dims_99.mean()
        dead = stats.groupby("layer", sort=False).dead_units.mean()
        lines.append(
            f"{architecture}: accuracy linear CKA {value(architecture, 'linear_cka'):.2f}, RBF CKA "
            f"{value(architecture, 'rbf_cka'):.2f}, CCA rho-bar {value(architecture, 'cca_mean_rho'):.2f}, "
            f"CCA R^2 {value(architecture, 'cca_r2'):.2f}, SVCCA rho-bar "
            f"{value(architecture, 'svcca_mean_rho'):.2f}, PWCCA {value(architecture, 'pwcca'):.2f}, "
            f"linear regression {value(architecture, 'linear_regression_r2'):.2f} (chance {chance:.2f}; "
            f"best {best.measure} {best.accuracy:.2f}). Linear CKA between corresponding layers of "
            f"different networks falls from {cka[0, 0]:.2f} ({names[0]}) to {cka[-1, -1]:.2f} "
            f"({names[-1]}); between adjacent layers of one network it is {adjacent[architecture]:.2f} "
            f"on average. Rows of the mean matrices peak at: linear CKA "
            f"{_peaks(mean_matrices[architecture], 'linear_cka')}; CCA rho-bar "
            f"{_peaks(mean_matrices[architecture], 'cca_mean_rho')}; SVCCA rho-bar "
            f"{_peaks(mean_matrices[architecture], 'svcca_mean_rho')}. Dimensions holding 99 % of "
            f"the variance per layer: {', '.join(f'{d:.0f}' for d in dims)}; dead units: "
            f"{', '.join(f'{d:.0f}' for d in dead)}"
            + (f"; {uninformative[architecture]} cross-network layer pairs have rank_a + rank_b > "
               f"n - 1 = {n_examples - 1} (CCA there is 1 in part whatever the data, Theorem 1)"
               if uninformative.get(architecture) else "") + ".")
    architectures = set(table.architecture)
    if "cnn" in architectures:
        gap = value("cnn", "linear_cka") - value("cnn", "cca_mean_rho")
        if gap >= 0.2:
            clause = CCA_FLATTEN_CLAUSE if conv == "flatten" else CCA_POOLED_CLAUSE
            lines.append(CNN_EXPLANATION.format(cca_clause=clause.format(n_examples=n_examples)))
        else:
            lines.append(f"cnn: linear CKA leads mean CCA by only {gap:.2f} in this run, unlike the "
                         f"paper and the default 5-seed run; too few networks or epochs?")
    if "mlp" in architectures:
        cka, cca = value("mlp", "linear_cka"), value("mlp", "cca_mean_rho")
        best_cca = max(cca, value("mlp", "pwcca"))
        relation = ("do a little better than CKA here" if best_cca > cka
                    else "do no better than CKA here")
        lines.append(MLP_EXPLANATION.format(relation=relation))
    return "\n".join(lines)


CNN_EXPLANATION = (
    "Why CKA finds the corresponding CNN layer far more often than the CCA family (as in the "
    "paper): the CNN's layers differ in width and resolution, so their dominant principal "
    "components, which networks from different seeds share (paper Fig. 1), change from layer to "
    "layer, and CKA weights directions by their variance (paper eq. 14). The CCA family is "
    "invariant to any invertible linear map and averages min(rank_a, rank_b) canonical "
    "correlations with equal weight, {cca_clause} SVCCA (truncated to 99 % of the variance) and "
    "PWCCA reweight but keep that bias. Linear regression weights the predicted layer's "
    "directions by their variance, which is why it does far better than CCA (in Table 2 too).")

CCA_FLATTEN_CLAUSE = (
    "so low-variance directions count as much as shared ones: with hundreds of flattened units "
    "against {n_examples} examples, a wide layer fits the few directions of a narrow one almost "
    "perfectly by chance, so a wide early layer paired with a narrow late one scores highest and "
    "the rows peak far from the diagonal.")

CCA_POOLED_CLAUSE = (
    "so low-variance directions count as much as shared ones: mean-pooled layers (16 to 64 "
    "features against {n_examples} examples) keep CCA better posed and its rows near the "
    "diagonal, but those directions still decide between neighbouring layers.")

MLP_EXPLANATION = (
    "Why the deep MLP defeats every measure: all its hidden layers have 64 units and each is "
    "ReLU(W h + b) of the previous one, so adjacent layers are near-linear images of each other "
    "(adjacent-layer CKA above); beyond the first layers the variance collapses to a handful of "
    "directions (the class structure) and many units die. Similarity across seeds is highest "
    "for the first layers, which every layer inherits from the shared input, so CKA's argmax "
    "drifts to an early layer of the other network. SVCCA keeps tens of directions of the first "
    "layers but only a few of a deep one, and those few correlate almost perfectly with any "
    "richer layer, so its rows peak at the far end. Plain CCA and PWCCA, which ignore variance, "
    "land nearer the diagonal and {relation}; near_accuracy (argmax within one layer) shows how "
    "close the misses are. The paper met equal-width layers only in Transformers (sec. 6.1, "
    "Appendix F.1), where every index passed and none by far.")


def _peaks(matrix: SimilarityMatrix, measure: str) -> str:
    """Per row layer, the column layer of highest mean similarity, e.g. 'h1, h1, h2'."""
    return ", ".join(matrix.layers_b[k] for k in np.argmax(matrix[measure], axis=1))


# --------------------------------------------------------------------------- output


def write_sanity_csv(result: SanityResult, path: str | Path) -> Path:
    """Write ``measure, accuracy, paper_accuracy, architecture`` rows atomically.

    ``path`` is a directory (the file is ``path/sanity_check.csv``, the directory is
    created) or a file name ending in ``.csv``. Returns the file's path. paper_accuracy is
    empty where the paper has no row.
    """
    target = Path(path)
    if target.suffix.lower() != ".csv":
        target = target / CSV_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    frame = result.table.loc[:, list(CSV_COLUMNS)]
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False)
    return target


def format_sanity_table(result: SanityResult) -> str:
    """A text table per architecture: measure, our accuracy, the paper's Table 2 number."""
    blocks = []
    networks = result.networks
    for architecture in dict.fromkeys(result.table.architecture):
        rows = result.table[result.table.architecture == architecture]
        nets = networks[networks.architecture == architecture]
        accuracies = nets.test_accuracy
        n_nets = len(nets)
        header = (f"{architecture}: {nets.description.iloc[0]}\n"
                  f"  {n_nets} networks (held-out accuracy {accuracies.min():.3f}-"
                  f"{accuracies.max():.3f}), {n_nets * (n_nets - 1)} ordered pairs, "
                  f"{int(rows.n_layers.iloc[0])} hidden layers (chance "
                  f"{float(rows.chance.iloc[0]):.3f}), {int(rows.n_cases.iloc[0])} cases per measure")
        lines = [header,
                 f"  {'measure':<22}{'accuracy':>9}{'within 1':>10}{'paper':>8}  paper row (Table 2)"]
        for row in rows.itertuples():
            missing = row.paper_accuracy is None or _isnan(row.paper_accuracy)
            paper = "-" if missing else f"{row.paper_accuracy:.3f}"
            label = "(not in the paper)" if missing else row.paper_row
            lines.append(f"  {row.measure:<22}{row.accuracy:>9.3f}{row.near_accuracy:>10.3f}"
                         f"{paper:>8}  {label}")
        blocks.append("\n".join(lines))
    conv = {"flatten": "flattened", "mean_pool": "mean-pooled"}.get(result.settings.get("conv"), "")
    blocks.append("Paper: Kornblith et al. 2019, Table 2: 10 CNNs of 10 layers on CIFAR-10, logits "
                  f"excluded. Ours: sklearn digits, held-out split, conv layers {conv}; asymmetric "
                  "measures symmetrised as S + S^T; 'within 1': argmax at most one layer off.")
    return "\n\n".join(blocks)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def write_sanity_outputs(result: SanityResult, out_dir: str | Path) -> list[Path]:
    """Write the sanity check's files into `out_dir`; return their paths.

    ``sanity_check.csv`` (:func:`write_sanity_csv`), per architecture a folder of the mean
    similarity matrices (:func:`replens.report.write_outputs`: ``similarities.npz``/``.csv``,
    heatmaps, ``manifest.json``), and ``report.html`` with the accuracy tables beside the
    paper's and the linear CKA, CCA and PWCCA heatmaps. Every file is written atomically.
    """
    out_dir = Path(out_dir)
    manifest = {"demo": "CKA paper sanity check on sklearn digits", "settings": result.settings,
                "versions": package_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tables = [(f"Layer-correspondence accuracy, {arch}", frame.drop(columns="architecture"))
              for arch, frame in result.table.groupby("architecture", sort=False)]
    tables.append(("Held-out accuracy of the networks", result.networks))
    written = [write_sanity_csv(result, out_dir / CSV_NAME)]
    for arch, matrix in result.mean_matrices.items():
        written += write_outputs(matrix, out_dir / arch, manifest, report=False)
    written.append(write_report(
        out_dir / "report.html", title="replens demo: which layers correspond? (CKA paper Table 2)",
        summary_lines=[line for line in result.notes.splitlines() if line.strip()],
        matrices=[(f"{arch}: {measure}, mean over pairs of networks", matrix, measure)
                  for arch, matrix in result.mean_matrices.items()
                  for measure in ("linear_cka", "cca_mean_rho", "pwcca")],
        tables=tables, manifest=manifest))
    return written
