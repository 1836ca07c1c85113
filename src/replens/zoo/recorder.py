"""Recorder: a network's chosen layers on a fixed probe set, at planned steps of training.

Learning-dynamics analyses (SVCCA sec. 4.1, PWCCA sec. 2.2 and 4) compare each layer at
step t with itself at the end of training, on the same probe examples at every step. A
:class:`Recorder` handed to :func:`replens.zoo.train` does the recording: before the first
update (step 0) and after each planned update it runs the probe set through the network in
eval mode (:func:`replens.extract`, forward hooks, no autograd graph, every module's
train/eval flag restored after) and keeps the chosen modules' outputs, in memory or, with a
``folder``, in one :class:`~replens.activations.cache.ActivationCache` per checkpoint
(``folder/step_00000123``). The result, :attr:`Recorder.checkpoints`, is a list of
``(step, {layer: array (n_probe, ...)})`` in step order, the form the analyses take.

Step schedules, for a run of T updates (``steps=``):

* ``"log"``: step 0, then ``n_checkpoints - 1`` steps log-spaced from 1 to T
  (``numpy.geomspace`` rounded; where rounding makes two equal, later ones move up by one,
  and the last ones move down to fit below T), so early training, where most change
  happens, is sampled densely; the last checkpoint is step T;
* ``"linear"``: ``n_checkpoints`` steps evenly spaced from 0 to T, rounded the same way;
* a sequence of ints: exactly those steps (each in 0..T).

Either schedule gives exactly ``min(n_checkpoints, T + 1)`` distinct steps.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_option, check_positive_int
from ..activations import ActivationCache, extract, hash_inputs
from ..errors import ReplensError, ShapeError, UnknownOptionError

__all__ = ["SCHEDULES", "Recorder", "plan_steps"]

SCHEDULES = ("log", "linear")
"""The named step schedules; an explicit sequence of steps is also accepted."""

_DTYPES = ("float32", "float64", "float16")


def plan_steps(steps: str | Sequence[int], n_checkpoints: int, total_steps: int) -> tuple[int, ...]:
    """The training steps at which to record, for a run of `total_steps` updates.

    Parameters
    ----------
    steps : {"log", "linear"} or sequence of int
        The schedule (module docstring).
    n_checkpoints : int
        How many steps a named schedule picks (at most ``total_steps + 1``).
    total_steps : int
        Updates in the run; step 0 is before the first, step ``total_steps`` after the last.

    Returns
    -------
    tuple of int
        Strictly increasing steps in ``0..total_steps``.

    Examples
    --------
    >>> plan_steps("log", 6, 1000)
    (0, 1, 6, 32, 178, 1000)
    >>> plan_steps("linear", 5, 8)
    (0, 2, 4, 6, 8)
    """
    total = int(total_steps)
    if not isinstance(steps, str):
        chosen = _explicit_steps(steps)
        late = [s for s in chosen if s > total]
        if late:
            raise UnknownOptionError(
                f"steps {late} lie beyond the run's last step {total} ({total} updates). Pick steps in "
                f"0..{total}, or train for more epochs.")
        return chosen
    check_option("steps", steps, SCHEDULES)
    count = min(check_positive_int("n_checkpoints", n_checkpoints), total + 1)
    if count == 1:
        return (total,)
    if steps == "linear":
        ideal = np.linspace(0.0, total, count)
    elif count == 2:
        ideal = np.array([0.0, total])
    else:
        ideal = np.concatenate([[0.0], np.geomspace(1.0, total, count - 1)])
    planned = [int(v) for v in np.rint(ideal)]
    for i in range(1, count):
        planned[i] = max(planned[i], planned[i - 1] + 1)
    for i in range(count - 1, -1, -1):
        planned[i] = min(planned[i], total - (count - 1 - i))
    return tuple(planned)


def _explicit_steps(steps: Any) -> tuple[int, ...]:
    if not isinstance(steps, Sequence) or isinstance(steps, (bytes, str)) or not steps:
        raise UnknownOptionError(f"steps must be 'log', 'linear' or a non-empty sequence of steps (ints >= 0); "
                                 f"got {steps!r}.")
    bad = [s for s in steps if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if bad:
        raise UnknownOptionError(f"steps must be integers >= 0; got {bad[:5]!r} in steps.")
    chosen = sorted(int(s) for s in steps)
    if len(set(chosen)) != len(chosen):
        repeated = sorted({s for s in chosen if chosen.count(s) > 1})
        raise UnknownOptionError(f"steps lists {repeated} more than once; give each step once.")
    return tuple(chosen)


class Recorder:
    """Record `layers` of a network on a fixed `probe` set at planned steps of training.

    Parameters
    ----------
    layers : str or sequence of str
        Module names of the network (``model.named_modules()``), e.g. ``["relu1", "relu2"]``
        or ``["stage1.block1", "stage1.block1.relu1"]``; checked when training starts.
    probe : array-like of shape (n_probe, ...)
        The network's inputs to record, the same at every checkpoint (copied; e.g. the first
        500 test images, or (n, seq_len) character indices for an LSTM).
    steps : {"log", "linear"} or sequence of int, default "log"
        When to record (module docstring).
    n_checkpoints : int, default 40
        Checkpoints of a named schedule (ignored with explicit steps).
    folder : path, optional
        Write each checkpoint to an ActivationCache ``folder/step_<8 digits>`` (the folder
        must not exist yet or be empty); default: keep the arrays in memory.
    dtype : {"float32", "float64", "float16"}, default "float32"
        The recorded arrays' dtype.
    batch_size : int, default 500
        Probe examples per forward pass.

    Attributes
    ----------
    checkpoints : list of (int, dict of str to numpy.ndarray)
        ``(step, {layer: (n_probe, ...) array})`` in step order, filled by training; with a
        `folder` the arrays are read-only memory maps of the caches.
    caches : list of (int, ActivationCache)
        With a `folder`: the cache of each checkpoint; empty otherwise.
    steps : tuple of int or None
        The planned steps, once training has started.

    Cost: one forward pass over the probe set per checkpoint, and memory (or disk) for
    ``n_checkpoints * n_probe`` rows of every recorded layer.

    Examples
    --------
    >>> import replens as rl  # doctest: +SKIP
    >>> data = rl.zoo.load("mnist14")  # doctest: +SKIP
    >>> rec = rl.zoo.Recorder(["relu1", "relu6"], data[2][:500], n_checkpoints=20)  # doctest: +SKIP
    >>> run = rl.zoo.train(rl.zoo.build("cnn"), data, epochs=2, lr=0.05, seed=0, record=rec)  # doctest: +SKIP
    >>> [step for step, _ in rec.checkpoints][:4]  # doctest: +SKIP
    [0, 1, 2, 3]
    """

    def __init__(self, layers: str | Sequence[str], probe: Any, *, steps: str | Sequence[int] = "log",
                 n_checkpoints: int = 40, folder: str | os.PathLike[str] | None = None,
                 dtype: str = "float32", batch_size: int = 500) -> None:
        names = (layers,) if isinstance(layers, str) else layers
        if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) and n for n in names):
            raise UnknownOptionError(f"layers must be a module name or a non-empty sequence of module names "
                                     f"(strings); got {layers!r}.")
        if len(set(names)) != len(names):
            raise UnknownOptionError(f"layers names a module twice: {list(names)!r}; name each layer once.")
        self.layers: tuple[str, ...] = tuple(names)
        self.probe = _probe_array(probe)
        if isinstance(steps, str):
            check_option("steps", steps, SCHEDULES)
        else:
            _explicit_steps(steps)
        self.schedule = steps if isinstance(steps, str) else tuple(int(s) for s in steps)
        self.n_checkpoints = check_positive_int("n_checkpoints", n_checkpoints)
        self.folder = None if folder is None else Path(folder)
        check_option("dtype", dtype, _DTYPES)
        self.dtype = dtype
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.probe_hash = hash_inputs(self.probe)
        self.steps: tuple[int, ...] | None = None
        self.checkpoints: list[tuple[int, dict[str, np.ndarray]]] = []
        self.caches: list[tuple[int, ActivationCache]] = []

    def __repr__(self) -> str:
        where = "memory" if self.folder is None else str(self.folder)
        return (f"Recorder(layers={list(self.layers)!r}, probe={self.probe.shape}, steps={self.schedule!r}, "
                f"n_checkpoints={self.n_checkpoints}, in {where}, {len(self.checkpoints)} recorded)")

    def settings(self) -> dict[str, Any]:
        """What decides the recording, for a run's cache key: layers, probe fingerprint,
        schedule, number of checkpoints, dtype, batch size (not the folder)."""
        schedule = self.schedule if isinstance(self.schedule, str) else list(self.schedule)
        return {"layers": list(self.layers), "probe": self.probe_hash, "probe_shape": list(self.probe.shape),
                "steps": schedule, "n_checkpoints": self.n_checkpoints, "dtype": self.dtype,
                "batch_size": self.batch_size}

    # -----------------------------------------------------------------------------------
    # Called by replens.zoo.train

    def start(self, model: Any, total_steps: int) -> tuple[int, ...]:
        """Check the layers against `model` and the folder, plan the steps of a run of
        `total_steps` updates, and return them."""
        if self.steps is not None:
            raise ReplensError(f"this Recorder already served a training run ({len(self.checkpoints)} "
                               f"checkpoints recorded). Make a new Recorder for each run.")
        names = {name for name, _ in model.named_modules()}
        missing = [layer for layer in self.layers if layer not in names]
        if missing:
            known = [name for name, _ in model.named_modules() if name]
            raise UnknownOptionError(
                f"layers {missing} are not modules of the network; its modules are "
                f"{', '.join(known[:40])}{', ...' if len(known) > 40 else ''}.")
        if self.folder is not None and self.folder.exists() and (
                not self.folder.is_dir() or any(self.folder.iterdir())):
            raise ReplensError(f"Recorder folder {str(self.folder)!r} already exists and is not empty. Pass "
                               f"a new folder (each run records into its own), or delete this one.")
        planned = plan_steps(self.schedule, self.n_checkpoints, total_steps)
        if isinstance(self.schedule, str) and len(planned) < self.n_checkpoints:
            warnings.warn(f"the run has only {total_steps} updates, so the Recorder records "
                          f"{len(planned)} checkpoints (every step), not n_checkpoints={self.n_checkpoints}.",
                          UserWarning, stacklevel=3)
        self.steps = planned
        self._due = set(planned)
        return planned

    def wants(self, step: int) -> bool:
        """Whether `step` is a planned checkpoint."""
        return step in self._due

    def capture(self, model: Any, step: int) -> None:
        """Record the layers of `model` on the probe set as checkpoint `step`."""
        # a writable copy: torch warns on tensors made from read-only arrays
        acts = extract(model, np.array(self.probe), layers=list(self.layers), progress=False,
                       dtype=self.dtype, batch_size=self.batch_size)
        self.add(step, {layer: acts[layer] for layer in self.layers})

    def add(self, step: int, acts: dict[str, np.ndarray]) -> None:
        """Keep `acts` as checkpoint `step`: in memory, or in a new cache under the folder."""
        if self.folder is None:
            self.checkpoints.append((step, acts))
            return
        cache = write_cache(self.folder / checkpoint_name(step), acts, self.probe_hash)
        self.caches.append((step, cache))
        self.checkpoints.append((step, cache.as_dict()))

    def restore(self, steps: Sequence[int], folder: Path) -> None:
        """Fill this recorder from a cached run's checkpoints under `folder`, as if it had
        recorded them: copies into :attr:`folder` when it has one, else into memory."""
        self.steps = tuple(steps)
        self._due = set(steps)
        for step in steps:
            source = folder / checkpoint_name(step)
            if self.folder is None:
                cache = ActivationCache.open(source)
                self.checkpoints.append((step, {layer: np.array(cache[layer]) for layer in self.layers}))
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                shutil.copytree(source, self.folder / checkpoint_name(step))
                cache = ActivationCache.open(self.folder / checkpoint_name(step))
                self.caches.append((step, cache))
                self.checkpoints.append((step, cache.as_dict()))


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint at `step`: ``step_00000123``."""
    return f"step_{step:08d}"


def write_cache(path: Path, acts: dict[str, np.ndarray], inputs_hash: str) -> ActivationCache:
    """One ActivationCache at `path` holding `acts` (every layer's rows at once)."""
    n = next(iter(acts.values())).shape[0]
    cache = ActivationCache.create(path, {name: (a.shape[1:], a.dtype) for name, a in acts.items()},
                                   n_examples=n, inputs_hash=inputs_hash)
    cache.write(acts, 0)
    return ActivationCache.open(path)


def _probe_array(probe: Any) -> np.ndarray:
    try:
        if hasattr(probe, "detach"):
            probe = probe.detach().cpu().numpy()
        array = np.array(probe)
    except Exception as exc:
        raise ShapeError(f"probe must be an array of the network's inputs (n_probe, ...); could not "
                         f"convert {type(probe).__name__}: {exc}") from exc
    if array.ndim < 1 or array.shape[0] < 2 or array.dtype.kind not in "biuf":
        raise ShapeError(f"probe must be a numeric array of at least 2 inputs, shape (n_probe, ...); got "
                         f"shape {array.shape} and dtype {array.dtype}. Pass e.g. x_test[:500].")
    array.setflags(write=False)
    return array
