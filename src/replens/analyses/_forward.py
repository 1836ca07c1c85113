"""Forward passes of the direction analyses: one layer's output, the logits, the accuracy.

Eval mode for the pass (every module's own flag restored after), no gradients, batches of
500, the model's device; inputs in the model's floating dtype, outputs back as float64 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import ShapeError, UnknownOptionError
from .replace import named_layer

BATCH = 500


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Eval mode and no gradients for the block; each module's train flag restored after."""
    import torch

    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def device_of(model: Any) -> Any:
    """The device of the model's first parameter or buffer (the CPU if it has none)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return "cpu"


def inputs(model: Any, x: np.ndarray) -> Any:
    """`x` as a tensor on the model's device, in its floating dtype (float32 if it has none)."""
    import torch

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device_of(model))


def logits(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs for inputs `x`, float64 (n, ...)."""
    out = []
    with eval_mode(model):
        for start in range(0, x.shape[0], BATCH):
            out.append(model(inputs(model, x[start:start + BATCH])).detach().double().cpu().numpy())
    return np.concatenate(out, axis=0)


def layer_output(model: Any, layer: str, x: np.ndarray) -> np.ndarray:
    """`layer`'s output for inputs `x`, float64, in the module's own shape (n, ...)."""
    module = named_layer(model, layer)
    captured: list[np.ndarray] = []
    handle = module.register_forward_hook(
        lambda _m, _i, output: captured.append(output.detach().double().cpu().numpy()))
    try:
        with eval_mode(model):
            for start in range(0, x.shape[0], BATCH):
                model(inputs(model, x[start:start + BATCH]))
    finally:
        handle.remove()
    return np.concatenate(captured, axis=0)


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples whose arg-max output is the label."""
    return float(np.mean(logits(model, x).argmax(axis=-1) == y))


def labelled(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` from `data`, a pair of inputs and integer labels, or the test split of
    ``(x_train, y_train, x_test, y_test)`` (as :func:`replens.zoo.load` returns it)."""
    if isinstance(data, (tuple, list)) and len(data) == 4:
        data = tuple(data[2:])
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = f"a {type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
        raise UnknownOptionError(
            f"data must be a pair (x, y) of inputs and integer class labels, because {what} needs labels; "
            f"got {got}. Pass data=(x_test, y_test) (e.g. the last two arrays of replens.zoo.load).")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise UnknownOptionError(f"data's labels must be a 1-D integer array (n,); got dtype {y.dtype} shape "
                                 f"{y.shape}. Pass class indices, not one-hot vectors or logits.")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"data's inputs and labels must have the same number of examples; got x {x.shape} and "
                         f"y {y.shape}.")
    return x, y
