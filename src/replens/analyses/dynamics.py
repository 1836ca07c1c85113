"""Learning dynamics: every layer over training against the same layer at a reference step.

SVCCA paper sec. 4.1 (Fig 4): networks converge "bottom up", lower layers reaching their
final representation earlier than higher ones; PWCCA paper sec. 4.1 (Fig 6) shows the same
for RNNs. :func:`learning_dynamics` computes the similarity curves, and
:class:`LearningDynamics` reads the convergence step of each layer and how well depth
orders them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _progress
from .._backend import is_real_scalar
from ..errors import ShapeError, TooFewExamplesError, UninformativeWarning, UnknownOptionError
from ..measures.registry import Measure, Prepared, as_measure
from ..results.matrix import SimilarityMatrix
from ._checkpoints import Checkpoint, Modes, checked_checkpoints, checked_index, checked_modes

__all__ = ["LearningDynamics", "learning_dynamics"]


@dataclass(frozen=True)
class LearningDynamics:
    """Similarity of each layer over training to a reference checkpoint (:func:`learning_dynamics`).

    Attributes
    ----------
    values : ndarray of shape (T, L), or (T, L, L) with all_pairs
        ``values[t, l] = m(layer l at step t, layer l at the reference step)``;
        with all_pairs ``values[t, i, j] = m(layer i at step t, layer j at the reference step)``.
    steps : ndarray of shape (T,)
        The checkpoints' steps, increasing.
    layers : tuple of str
        Layer names, in the order of the first checkpoint (read as depth order).
    measure : str
        The measure's label.
    reference : int
        Position of the reference checkpoint in `steps`.
    all_pairs : bool
        Whether `values` holds every layer against every reference layer.
    """

    values: np.ndarray
    steps: np.ndarray
    layers: tuple[str, ...]
    measure: str
    reference: int
    all_pairs: bool

    @property
    def same_layer(self) -> np.ndarray:
        """(T, L): each layer against itself at the reference step (the diagonal with all_pairs)."""
        if self.all_pairs:
            return np.diagonal(self.values, axis1=1, axis2=2).copy()
        return self.values

    def convergence_step(self, level: float = 0.95) -> dict[str, float | None]:
        """``{layer: first step from which the similarity to the reference stays >= level}``.

        A layer whose similarity is below `level` at the last checkpoint never converges by
        this definition and gets None (that happens when the reference is not the last
        checkpoint, or the measure never reaches `level`).
        """
        level = _checked_level(level)
        curves = self.same_layer
        steps: dict[str, float | None] = {}
        for column, layer in enumerate(self.layers):
            below = np.flatnonzero(curves[:, column] < level)
            if below.size == 0:
                steps[layer] = _as_step(self.steps[0])
            elif below[-1] == len(self.steps) - 1:
                steps[layer] = None
            else:
                steps[layer] = _as_step(self.steps[below[-1] + 1])
        return steps

    def bottom_up_score(self, level: float = 0.95, *, exclude: Sequence[str] = ()) -> float:
        """Spearman correlation of depth (layer order) with convergence step.

        1 when every layer converges no earlier than the layer below it (SVCCA paper sec.
        4.1's "bottom up"); layers that never converge (None in :meth:`convergence_step`)
        rank after every step. `exclude` leaves layers out (the paper excepts "the very top
        layers"). NaN with an UninformativeWarning when every layer converges at the same
        step, so that there is no order to correlate.
        """
        unknown = [name for name in exclude if name not in self.layers]
        if isinstance(exclude, str) or unknown:
            raise UnknownOptionError(f"exclude must list layer names from {list(self.layers)}; got "
                                     f"{exclude!r}.")
        converged = self.convergence_step(level)
        kept = [layer for layer in self.layers if layer not in exclude]
        if len(kept) < 2:
            raise UnknownOptionError(f"bottom_up_score needs at least 2 layers to order; {len(kept)} left "
                                     f"after exclude={list(exclude)!r}.")
        at = np.array([math.inf if converged[layer] is None else converged[layer] for layer in kept])
        if np.all(at == at[0]):
            warnings.warn(
                f"every layer converges at the same step ({converged[kept[0]]}) at level {level}, so depth "
                f"and convergence step cannot be correlated; bottom_up_score is NaN. Record more "
                f"checkpoints early in training, or change level.", UninformativeWarning, stacklevel=2)
            return math.nan
        from scipy.stats import spearmanr

        depth = np.arange(len(kept), dtype=np.float64)
        return float(spearmanr(depth, at).statistic)

    def pane(self, step: float) -> SimilarityMatrix:
        """All-pairs values at one `step` (layers at that step vs layers at the reference)."""
        if not self.all_pairs:
            raise UnknownOptionError("pane needs learning_dynamics(..., all_pairs=True).")
        matches = np.flatnonzero(self.steps == step)
        if matches.size == 0:
            raise UnknownOptionError(f"step must be one of the checkpoints' steps {self.steps.tolist()}; "
                                     f"got {step!r}.")
        reference = _as_step(self.steps[self.reference])
        return SimilarityMatrix(self.values[matches[0]][None], self.layers, self.layers, (self.measure,),
                                {"name_a": f"layers at step {_as_step(step)}",
                                 "name_b": f"layers at step {reference} (reference)"})

    def plot(self, ax: Any = None, *, step: float | None = None, log_steps: bool = False) -> tuple[Any, Any]:
        """Per-layer curves of similarity to the reference over the steps; returns ``(fig, ax)``.

        With `step` (and all_pairs) the all-pairs pane at that step as a heatmap instead.
        `log_steps` puts the steps on a logarithmic axis (zero steps at its left edge).
        """
        if step is not None:
            return self.pane(step).plot(self.measure, ax)
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.5, 4.0))
        else:
            fig = ax.figure
        curves = self.same_layer
        colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(self.layers)))
        for column, layer in enumerate(self.layers):
            ax.plot(self.steps, curves[:, column], marker=".", color=colours[column], label=layer)
        if log_steps:
            ax.set_xscale("symlog", linthresh=max(float(np.min(self.steps[self.steps > 0], initial=1.0)), 1e-12))
        reference = _as_step(self.steps[self.reference])
        ax.set_xlabel("step")
        ax.set_ylabel(f"{self.measure} vs step {reference}")
        ax.set_title(f"{self.measure}: each layer vs itself at step {reference}")
        ax.legend(fontsize=7, ncol=2 if len(self.layers) > 8 else 1)
        fig.tight_layout()
        return fig, ax


def learning_dynamics(
    checkpoints: Sequence[Any],
    reference: int = -1,
    measure: str | Measure | Any = "svcca_mean_rho",
    all_pairs: bool = False,
    *,
    conv: str = "flatten",
    layout: str = "NCHW",
    sequence: str = "flatten",
    progress: bool | None = None,
) -> LearningDynamics:
    """Each layer at every checkpoint against the layers at a reference checkpoint.

    SVCCA paper sec. 4.1 (Fig 4, App. Fig 3): ``values[t, l] = m(L_l(t), L_l(T_ref))``, and
    with `all_pairs` every layer at step t against every layer at the reference step (the
    paper's panes). The reference checkpoint's layers are prepared once (centring, bases,
    SVD truncation) and each checkpoint's layers once, so T checkpoints of L layers cost
    ``T L`` preparations and ``T L`` (or ``T L^2``) cheap scores.

    Parameters
    ----------
    checkpoints : sequence
        In training order: ``(step, layers)`` pairs, with `layers` a mapping name -> array
        (n, ...) (numpy or torch), an :class:`~replens.ActivationCache` or a cache folder;
        or bare caches or folders, whose step is then their position. Every checkpoint must
        hold the same layers for the same n probe examples.
    reference : int, default -1
        Index of the reference checkpoint (-1: the last, the converged network).
    measure : str, Measure or callable, default "svcca_mean_rho"
        A registered name, ``rl.measure(...)`` or ``f(X, Y) -> float``. Asymmetric measures
        (PWCCA) take the layer at step t as X.
    all_pairs : bool, default False
        Also compare different layers (values of shape (T, L, L)).
    conv, layout, sequence : str
        How 4-D and 3-D layers become (examples, features), as in :func:`replens.compare`
        (``conv="dft"`` is not available here).
    progress : bool or None, default None
        Progress bar over the checkpoints on stderr (None: when stderr is a terminal).

    Returns
    -------
    LearningDynamics
        ``values``, ``steps``, ``layers``, with :meth:`~LearningDynamics.convergence_step`,
        :meth:`~LearningDynamics.bottom_up_score` and :meth:`~LearningDynamics.plot`.

    Raises
    ------
    ReplensError
        Before any work: checkpoints with other layers, other example counts or other layer
        shapes than the first (naming the checkpoint), steps not increasing, an unknown
        measure or mode, a reference out of range.
    """
    m = as_measure(measure)
    if not isinstance(all_pairs, bool):
        raise UnknownOptionError(f"all_pairs must be True or False; got {all_pairs!r}.")
    modes = checked_modes(conv, layout, sequence)
    parsed, names = checked_checkpoints(checkpoints)
    reference = checked_index("reference", reference, len(parsed))
    if all_pairs:
        _check_pair_rows(parsed[reference], names, modes)
    n = modes.rows(tuple(parsed[0].layers[names[0]].shape), parsed[0].layer_label(names[0]))
    if n < m.info.min_examples:
        raise TooFewExamplesError(f"{m.label} needs at least {m.info.min_examples} examples (rows); the "
                                  f"checkpoints hold {n}. Record more probe examples.")

    reference_layers = _prepared_layers(m, parsed[reference], names, modes)
    shape = (len(parsed), len(names), len(names)) if all_pairs else (len(parsed), len(names))
    values = np.full(shape, np.nan)
    forced: list[str] = []
    with _progress.bar(progress, total=len(parsed), desc="replens learning_dynamics", unit="checkpoint") as bar:
        for t, checkpoint in enumerate(parsed):
            layers = reference_layers if t == reference else _prepared_layers(m, checkpoint, names, modes)
            for i, name in enumerate(names):
                for j in range(len(names)) if all_pairs else (i,):
                    a, b = layers[name], reference_layers[names[j]]
                    if _uninformative(m, a, b):
                        forced.append(f"{checkpoint.layer_label(name)} vs {names[j]!r}")
                    values[(t, i, j) if all_pairs else (t, i)] = m.score(
                        a, b, names=(checkpoint.layer_label(name), parsed[reference].layer_label(names[j])))
            bar.update(1)
    if forced:
        _warn_forced(forced)
    steps = np.array([c.step for c in parsed])
    return LearningDynamics(values, steps, names, m.label, reference, all_pairs)


def _prepared_layers(m: Measure, checkpoint: Checkpoint, names: tuple[str, ...], modes: Modes
                     ) -> dict[str, Prepared]:
    prepared = {}
    for name in names:
        prepared[name] = m.prepare(modes.matrix(checkpoint, name)[1], name=checkpoint.layer_label(name))
    return prepared


def _check_pair_rows(checkpoint: Checkpoint, names: tuple[str, ...], modes: Modes) -> None:
    rows = {name: modes.rows(tuple(checkpoint.layers[name].shape), checkpoint.layer_label(name))
            for name in names}
    if len(set(rows.values())) > 1:
        raise ShapeError(
            f"all_pairs compares different layers, so every layer must give the same number of rows "
            f"under conv={modes.conv!r}, sequence={modes.sequence!r}; got {rows}. Use conv='mean_pool' or "
            f"'flatten' (spatial_as_examples needs one spatial size).")


def _uninformative(m: Measure, a: Prepared, b: Prepared) -> bool:
    check = m.definition.uninformative
    return check is not None and bool(check(a.value, b.value, a.n))


def _warn_forced(pairs: list[str]) -> None:
    warnings.warn(
        f"{len(pairs)} comparisons (e.g. {pairs[0]}) have more features than examples can separate "
        f"(rank_a + rank_b > n - 1): some canonical correlations are 1 whatever the data (Kornblith "
        f"et al. 2019, Theorem 1), so those values are uninformative. Use more probe examples, an SVD "
        f"truncation (svcca) or CKA.", UninformativeWarning, stacklevel=3)


def _checked_level(level: Any) -> float:
    if not is_real_scalar(level) or not math.isfinite(float(level)):
        raise UnknownOptionError(f"level must be a finite number (a similarity, e.g. 0.95); got {level!r}.")
    return float(level)


def _as_step(step: Any) -> float:
    value = float(step)
    return int(value) if value.is_integer() else value

