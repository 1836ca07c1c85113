"""Checkpoints of one network over training, read and checked once for every analysis.

A checkpoint is ``(step, layers)`` with `layers` a mapping name -> array (n, ...), an
:class:`~replens.activations.cache.ActivationCache` or the path of a cache folder; a bare
cache or path takes its position in the sequence as its step. Every check runs before any
numerical work, and every message names the checkpoint at fault.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array, is_integer_scalar, is_real_scalar, namespace_of
from .._validate import check_values
from ..activations.cache import ActivationCache
from ..engine.layouts import LAYOUTS, as_matrix, check_modes
from ..errors import ReplensError, ShapeError, UninformativeWarning, UnknownOptionError


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: its step, its layers (arrays or memory maps), and how to name it."""

    step: float
    layers: Mapping[str, Array]
    label: str
    inputs_hash: str | None = None

    def layer_label(self, layer: str) -> str:
        return f"{self.label}[{layer!r}]"


@dataclass(frozen=True)
class Modes:
    """How 3-D and 4-D layers become (examples, features): see :mod:`replens.engine.layouts`."""

    conv: str = "flatten"
    layout: str = "NCHW"
    sequence: str = "flatten"

    def matrix(self, checkpoint: Checkpoint, layer: str) -> tuple[Any, Array]:
        """``(xp, matrix)``: the layer as a validated float64 (examples, features) matrix."""
        xp, (array,) = namespace_of(checkpoint.layers[layer])
        label = checkpoint.layer_label(layer)
        array = check_values(xp, label, array, xp.float64)
        return xp, as_matrix(xp, label, array, conv=self.conv, layout=self.layout, sequence=self.sequence)

    def width(self, shape: tuple[int, ...], label: str) -> int:
        """Features (columns) of the matrix a layer of `shape` becomes."""
        self.rows(shape, label)
        if len(shape) == 2:
            return shape[1]
        if len(shape) == 4:
            channels = shape[1] if self.layout == "NCHW" else shape[3]
            return math.prod(shape[1:]) if self.conv == "flatten" else channels
        return shape[1] * shape[2] if self.sequence == "flatten" else shape[2]

    def rows(self, shape: tuple[int, ...], label: str) -> int:
        """Rows of the matrix a layer of `shape` becomes (examples, times positions or steps)."""
        if len(shape) == 2:
            return shape[0]
        if len(shape) == 4:
            h, w = (shape[2], shape[3]) if self.layout == "NCHW" else (shape[1], shape[2])
            return shape[0] * h * w if self.conv == "spatial_as_examples" else shape[0]
        if len(shape) == 3:
            return shape[0] * shape[1] if self.sequence == "time_as_examples" else shape[0]
        raise ShapeError(
            f"layer {label} has {len(shape)}-D shape {shape}; expected 2-D (examples, features), "
            f"3-D (examples, time, features) or 4-D conv activations ({'/'.join(LAYOUTS)}).")


def checked_modes(conv: str, layout: str, sequence: str) -> Modes:
    """The layout modes, refusing unknown ones and ``conv="dft"`` (it needs pairs, not a basis)."""
    check_modes(conv, layout, sequence)
    if conv == "dft":
        raise UnknownOptionError(
            "conv='dft' (Fourier CCA) is not available in the training analyses, which compare "
            "prepared layers; use conv='flatten', 'spatial_as_examples' or 'mean_pool'.")
    return Modes(conv, layout, sequence)


def checked_checkpoints(checkpoints: Any, *, layers: Sequence[str] | None = None,
                        minimum: int = 1) -> tuple[list[Checkpoint], tuple[str, ...]]:
    """The checkpoints in order, and the layer names of the first; refuses bad input.

    Checks: a non-empty sequence (at least `minimum` checkpoints) of well-formed items;
    steps real and strictly increasing; every checkpoint with the same layers (and the
    named `layers` present), each layer with the same per-example shape as in the first
    checkpoint, and the same number of examples everywhere; caches that record an inputs
    hash all recording the same one.
    """
    if isinstance(checkpoints, (str, bytes, os.PathLike, Mapping)) or not isinstance(checkpoints, Sequence):
        raise ShapeError(
            f"checkpoints must be a sequence (list or tuple) of (step, layers) pairs or of "
            f"activation caches; got {type(checkpoints).__name__}. Wrap a single checkpoint in a list.")
    if len(checkpoints) < minimum:
        raise ShapeError(f"checkpoints must hold at least {minimum} checkpoints; got {len(checkpoints)}.")
    parsed = [_parsed(index, item) for index, item in enumerate(checkpoints)]
    _check_steps(parsed)
    first = parsed[0]
    names = tuple(first.layers)
    if not names:
        raise ShapeError(f"{first.label} holds no layers; pass a mapping name -> array (n, ...).")
    for name in layers or ():
        if name not in first.layers:
            raise UnknownOptionError(f"layer {name!r} is not in the checkpoints; they hold the layers "
                                     f"{list(names)}.")
    shapes = {name: _shape(first, name) for name in names}
    n = next(iter(shapes.values()))[0]
    for checkpoint in parsed:
        _check_same_layers(checkpoint, first, names)
        for name in names:
            shape = _shape(checkpoint, name)
            if shape[0] != n:
                raise ShapeError(
                    f"{checkpoint.layer_label(name)} has {shape[0]} examples, but {first.layer_label(names[0])} "
                    f"has {n}; every checkpoint must hold the activations of the same probe examples, "
                    f"in the same order.")
            if shape[1:] != shapes[name][1:]:
                raise ShapeError(
                    f"{checkpoint.layer_label(name)} has shape {shape}, but the same layer in {first.label} "
                    f"has shape {shapes[name]}; a layer must keep its shape over training. Check that "
                    f"every checkpoint comes from the same network.")
    _check_hashes(parsed)
    return parsed, names


def checked_index(name: str, value: Any, count: int) -> int:
    """A checkpoint index in ``[-count, count)`` (negative counts from the end), as a position."""
    if not is_integer_scalar(value) or not -count <= value < count:
        raise UnknownOptionError(
            f"{name} must be the index of a checkpoint, an integer from {-count} to {count - 1} (-1 is the "
            f"last); got {value!r}.")
    return int(value) % count


def _parsed(index: int, item: Any) -> Checkpoint:
    if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], (str, os.PathLike)):
        step, layers = item
        if not is_real_scalar(step) or not math.isfinite(float(step)):
            raise ShapeError(f"checkpoints[{index}] has step {step!r}; a step must be a finite number "
                             f"(the training step or epoch of the checkpoint).")
        step = int(step) if is_integer_scalar(step) else float(step)
    else:
        step, layers = index, item
    label = f"checkpoints[{index}] (step {step})"
    if isinstance(layers, (str, os.PathLike)):
        layers = ActivationCache.open(layers)
    if isinstance(layers, ActivationCache):
        return Checkpoint(step, layers.as_dict(), label, layers.inputs_hash)
    if isinstance(layers, Mapping):
        for name in layers:
            if not isinstance(name, str):
                raise ShapeError(f"{label} has a layer named {name!r}; layer names must be strings.")
        return Checkpoint(step, dict(layers), label)
    raise ShapeError(
        f"checkpoints[{index}] must be (step, layers) with layers a mapping name -> array, an "
        f"ActivationCache or a cache folder, or a bare cache or folder; got {type(item).__name__} "
        f"{item!r:.80}.")


def _check_steps(parsed: list[Checkpoint]) -> None:
    for before, after in zip(parsed, parsed[1:]):
        if not after.step > before.step:
            raise ShapeError(
                f"checkpoint steps must increase strictly; {after.label} follows {before.label}. Pass "
                f"the checkpoints in training order, each with its own step.")


def _check_same_layers(checkpoint: Checkpoint, first: Checkpoint, names: tuple[str, ...]) -> None:
    missing = [name for name in names if name not in checkpoint.layers]
    extra = [name for name in checkpoint.layers if name not in first.layers]
    if missing or extra:
        raise ShapeError(
            f"{checkpoint.label} does not hold the layers of {first.label} (missing {missing}, extra "
            f"{extra}); every checkpoint must record the same layers.")


def _shape(checkpoint: Checkpoint, name: str) -> tuple[int, ...]:
    array = checkpoint.layers[name]
    shape = getattr(array, "shape", None)
    if shape is None:
        shape = np.shape(array)
    shape = tuple(int(size) for size in shape)
    if not shape:
        raise ShapeError(f"{checkpoint.layer_label(name)} is a scalar; a layer is an array (examples, ...).")
    return shape


def _check_hashes(parsed: list[Checkpoint]) -> None:
    hashed = [c for c in parsed if c.inputs_hash is not None]
    for checkpoint in hashed[1:]:
        if checkpoint.inputs_hash != hashed[0].inputs_hash:
            raise ReplensError(
                f"{checkpoint.label} was recorded on other inputs than {hashed[0].label} (their caches' "
                f"inputs hashes differ); every checkpoint must hold the same probe examples.")


def warn_forced(labels: list[str], layer: str, stacklevel: int = 3) -> None:
    """Warn that CCA of `layer` at these checkpoints has correlations forced to 1 (CKA Theorem 1)."""
    warnings.warn(
        f"{len(labels)} checkpoints (e.g. {labels[0]}) give {layer!r} more features than the examples can "
        f"separate (rank_a + rank_b > n - 1): some canonical correlations are 1 whatever the data "
        f"(Kornblith et al. 2019, Theorem 1). Use more probe examples or an SVD truncation (threshold= "
        f"or keep=).", UninformativeWarning, stacklevel=stacklevel)
