"""``train(model, data, *, epochs, optimizer, lr, seed, ...)``: deterministic training, cached.

One loop for every network of the zoo (and any torch module with the same interface):
mini-batch SGD (optionally with momentum) or Adam on the cross-entropy of the classes, or,
for sequence targets ``y (n, T)``, of the next character at every position. ``seed`` fixes
the mini-batch order (a private ``torch.Generator``) and any randomness inside the model
(``torch.manual_seed`` inside :func:`torch.random.fork_rng`, so the caller's random state is
untouched); with ``torch.set_num_threads(1)`` two runs of one configuration give the same
weights, bit for bit (every op used has a deterministic CPU kernel).

Steps count updates: step 0 is the network before training, step t the network after t
updates; a run has ``epochs * ceil(n_train / batch_size)`` of them. Each step, before its
update, ``freeze.step(t)`` is called (t = 0, 1, ..., the updates already done), so a freeze
schedule can switch layers off from update t on; a :class:`~replens.zoo.recorder.Recorder`
records after the updates it planned (and at step 0). After every epoch the training loss
(mean over the epoch's mini-batches), and the training and test accuracy (eval mode, every
module's train/eval flag restored after) go into the history.

With ``loss="mse"`` (float targets ``y (n, d)``, e.g. the ``"toy_regression"`` dataset) the
loss is the mean squared error over every output, and the history records, per epoch, the
training loss, the training and test R^2 and the test MSE instead of accuracies (the
classification path is unchanged; ``loss`` enters the cache key only when it is not the
default).

Runs are cached (:mod:`replens.zoo.cache`): a second call with the same network, data and
options loads the trained weights, history and recordings instead of training.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_option, check_positive_int, check_positive_number
from ..errors import ReplensError, ShapeError, UnknownOptionError
from . import cache as run_cache
from .recorder import Recorder, checkpoint_name, write_cache

__all__ = ["LOSSES", "OPTIMIZERS", "TrainingHistory", "TrainingRun", "r2_score", "train"]

OPTIMIZERS = ("sgd", "adam")
"""The optimisers :func:`train` offers."""

LOSSES = ("cross_entropy", "mse")
"""The losses :func:`train` offers (``"cross_entropy"`` for labels, ``"mse"`` for float targets)."""

_EVAL_BATCH = 500


@dataclass(frozen=True)
class TrainingHistory:
    """Per-epoch figures of a run, one entry per epoch.

    Attributes
    ----------
    steps : tuple of int
        The step (updates done) at the end of each epoch.
    train_loss : tuple of float
        Mean cross-entropy of the epoch's mini-batches (in training mode, while learning).
    train_accuracy, test_accuracy : tuple of float
        Accuracy on the whole training and test sets after the epoch (eval mode): the
        fraction of examples (or, for sequences, of characters) whose arg-max logit is the
        target. Empty for ``loss="mse"`` runs.
    train_r2, test_r2, test_mse : tuple of float
        ``loss="mse"`` runs only (empty otherwise): R^2 of the outputs on the training and
        test sets (:func:`r2_score`) and the test mean squared error, after each epoch (eval
        mode).
    """

    steps: tuple[int, ...]
    train_loss: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    test_accuracy: tuple[float, ...]
    train_r2: tuple[float, ...] = ()
    test_r2: tuple[float, ...] = ()
    test_mse: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, list[float] | list[int]]:
        out = {"steps": list(self.steps), "train_loss": list(self.train_loss),
               "train_accuracy": list(self.train_accuracy), "test_accuracy": list(self.test_accuracy)}
        if self.test_r2:
            out.update({"train_r2": list(self.train_r2), "test_r2": list(self.test_r2),
                        "test_mse": list(self.test_mse)})
        return out


@dataclass(frozen=True)
class TrainingRun:
    """A trained network and what its training recorded.

    Attributes
    ----------
    model : torch.nn.Module
        The trained network (the object passed to :func:`train`, updated in place), in eval
        mode.
    history : TrainingHistory
        Loss and accuracies per epoch.
    checkpoints : list
        With a Recorder: its ``checkpoints``, ``(step, {layer: array})``. Without: ``(step,
        state_dict)`` pairs, copies of the network's state at step 0 and at every epoch's end.
    total_steps : int
        Updates in the run.
    settings : dict
        Everything that decided the run (the cache key's document; :mod:`replens.zoo.cache`).
    key : str or None
        The cache key, or None when the run was not cached.
    from_cache : bool
        True when the run was loaded from the cache instead of trained.
    seconds : float
        Time the training took (the original training's, for a cached run).
    """

    model: Any
    history: TrainingHistory
    checkpoints: list[tuple[int, Any]]
    total_steps: int
    settings: dict[str, Any] = field(repr=False)
    key: str | None
    from_cache: bool
    seconds: float

    @property
    def test_accuracy(self) -> float:
        """Test accuracy after the last epoch."""
        if not self.history.test_accuracy and self.history.test_r2:
            raise ReplensError("this run was trained with loss='mse' and has no accuracy; read its test_r2 "
                               "(or history.test_mse) instead.")
        return self.history.test_accuracy[-1]

    @property
    def test_r2(self) -> float:
        """Test R^2 after the last epoch (``loss="mse"`` runs)."""
        if not self.history.test_r2:
            raise ReplensError("this run was trained with loss='cross_entropy' and has no R^2; read its "
                               "test_accuracy instead.")
        return self.history.test_r2[-1]


def train(model: Any, data: Any, *, epochs: int, optimizer: str = "sgd", lr: float, seed: int,
          batch_size: int = 64, momentum: float = 0.0, weight_decay: float = 0.0,
          clip_grad_norm: float | None = None, record: Recorder | None = None, freeze: Any = None,
          cache: bool = True, loss: str = "cross_entropy") -> TrainingRun:
    """Train `model` on `data` deterministically, recording what `record` asks; cached.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. from :func:`replens.zoo.build`. Trained in place, on the device of its first
        parameter (bit-for-bit determinism holds on the CPU, one thread).
    data : (x_train, y_train, x_test, y_test)
        As :func:`replens.zoo.load` returns them (or an object with those four attributes).
        ``y`` int (n,) class labels for logits (n, n_classes), or int (n, T) targets for
        logits (n, T, vocab) (the text dataset and the zoo's LSTM).
    epochs : int
        Passes over the training set, each in a fresh seeded order.
    optimizer : {"sgd", "adam"}, default "sgd"
    lr : float
        Learning rate (constant).
    seed : int
        Fixes the mini-batch order and any randomness inside the model.
    batch_size : int, default 64
        Examples per update (the last batch of an epoch may be smaller).
    momentum : float, default 0
        SGD's momentum (SGD only).
    weight_decay : float, default 0
        L2 penalty of either optimiser.
    clip_grad_norm : float, optional
        Clip the gradient's global norm to this before each update (useful for LSTMs).
    record : Recorder, optional
        Records layers on a probe set at planned steps (:class:`~replens.zoo.recorder.Recorder`).
    freeze : object with a ``step(t)`` method, optional
        Called before each update with the number of updates done (e.g.
        ``replens.analyses.FreezeSchedule``). A run with `freeze` is cached only when the
        object has a ``cache_key()`` method returning a string of its settings; on a cache
        hit ``freeze.step`` is never called.
    cache : bool, default True
        Look the run up in the cache and store it there (:mod:`replens.zoo.cache`).
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        ``"mse"``: regression of float targets ``y (n, d)`` by outputs (n, d), mean squared
        error ``mean((out - y)**2)`` over examples and outputs; the history then holds R^2
        and test MSE instead of accuracy.

    Returns
    -------
    TrainingRun

    Raises
    ------
    UnknownOptionError
        An option is invalid (an unknown optimizer lists the valid ones; momentum without
        SGD; a Recorder's layer that is not a module of the network).
    ShapeError
        The data arrays disagree in their numbers of examples, or the network's output does
        not fit the targets (its message says which shapes met).
    ReplensError
        `model` is not a torch module, or `record` already served a run.

    Cost: ``epochs`` passes of forward and backward over the training set, one forward pass
    over both sets per epoch, one over the probe set per checkpoint. On a cache hit: hashing
    the network's state and the data, one forward pass on two examples (the shape check), and
    reading the entry.

    Examples
    --------
    >>> import torch, replens as rl  # doctest: +SKIP
    >>> torch.set_num_threads(1)  # doctest: +SKIP
    >>> run = rl.zoo.train(rl.zoo.build("mlp"), rl.zoo.load("mnist14"), epochs=3, lr=0.1,
    ...                    seed=0)  # doctest: +SKIP
    >>> run.history.test_accuracy  # doctest: +SKIP
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ReplensError(f"model must be a torch.nn.Module (e.g. replens.zoo.build('cnn')); got "
                           f"{type(model).__name__}.")
    check_option("loss", loss, LOSSES)
    regression = loss == "mse"
    arrays = _check_regression_data(data) if regression else _check_data(data)
    options = _check_options(epochs=epochs, optimizer=optimizer, lr=lr, seed=seed, batch_size=batch_size,
                             momentum=momentum, weight_decay=weight_decay, clip_grad_norm=clip_grad_norm)
    if record is not None and not isinstance(record, Recorder):
        raise UnknownOptionError(f"record must be a replens.zoo.Recorder or None; got {type(record).__name__}.")
    if freeze is not None and not callable(getattr(freeze, "step", None)):
        raise UnknownOptionError(f"freeze must have a step(t) method (e.g. replens.analyses.FreezeSchedule); "
                                 f"got {type(freeze).__name__} without one.")
    if not isinstance(cache, bool):
        raise UnknownOptionError(f"cache must be True or False; got {cache!r}.")
    if regression:
        options["loss"] = "mse"  # only a non-default loss enters the cache key
        sequence = False
        _check_regression_output(torch, model, arrays)
    else:
        sequence = arrays[1].ndim == 2
        _check_output(torch, model, arrays, sequence)
    n_train = arrays[0].shape[0]
    total_steps = options["epochs"] * -(-n_train // options["batch_size"])
    if record is not None:
        record.start(model, total_steps)

    freeze_key = _freeze_key(freeze)
    cacheable = cache and (freeze is None or freeze_key is not None)
    settings = run_cache.run_settings(model, arrays, options, record, freeze_key)
    key = run_cache.run_key(settings) if cacheable else None
    if key is not None:
        stored = run_cache.find_entry(key)
        if stored is not None:
            return _load_run(torch, model, key, stored, settings, record)

    started = time.perf_counter()
    history, states = _fit(torch, model, arrays, options, sequence, record, freeze, total_steps)
    seconds = time.perf_counter() - started
    model.eval()
    checkpoints = list(record.checkpoints) if record is not None else states
    if key is not None:
        _store_run(torch, model, key, settings, history, seconds, total_steps, record, states)
    return TrainingRun(model=model, history=history, checkpoints=checkpoints, total_steps=total_steps,
                       settings=settings, key=key, from_cache=False, seconds=seconds)


# ---------------------------------------------------------------------------------------
# Checks


def _four_arrays(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`data` (a 4-sequence, or an object with x_train ... y_test) as four numeric numpy arrays."""
    names = ("x_train", "y_train", "x_test", "y_test")
    if all(hasattr(data, name) for name in names):
        data = tuple(getattr(data, name) for name in names)
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)) or len(data) != 4:
        raise ShapeError(f"data must be (x_train, y_train, x_test, y_test), as replens.zoo.load returns; "
                         f"got {type(data).__name__}"
                         + (f" of {len(data)} items" if isinstance(data, Sequence) else "") + ".")
    arrays = []
    for name, value in zip(names, data):
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ShapeError(f"{name} must be a numeric array; got dtype {array.dtype}.")
        arrays.append(array)
    x_train, y_train, x_test, y_test = arrays
    return x_train, y_train, x_test, y_test


def _check_data(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_train, y_train, x_test, y_test = _four_arrays(data)
    for x, y, side in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim < 2 or x.shape[0] < 1:
            raise ShapeError(f"x_{side} must have shape (n, ...) with n >= 1; got {x.shape}.")
        if y.shape[:1] != x.shape[:1]:
            raise ShapeError(f"x_{side} has {x.shape[0]} examples but y_{side} has "
                             f"{y.shape[0] if y.ndim else 'no'} (shape {y.shape}); give one target row per example.")
        if y.dtype.kind not in "iu" or y.ndim not in (1, 2):
            raise ShapeError(f"y_{side} must hold integer class labels (n,) or integer targets (n, T); got "
                             f"dtype {y.dtype} and shape {y.shape}.")
        if y.size and y.min() < 0:
            raise ShapeError(f"y_{side} holds negative labels (minimum {y.min()}); labels are 0, 1, 2, ...")
    if y_train.ndim != y_test.ndim or x_train.shape[1:] != x_test.shape[1:]:
        raise ShapeError(f"train and test examples differ in shape: x {x_train.shape[1:]} vs {x_test.shape[1:]}, "
                         f"y {y_train.shape[1:]} vs {y_test.shape[1:]}.")
    return x_train, y_train, x_test, y_test


def _check_regression_data(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`data` for ``loss="mse"``: four numeric arrays, float targets (n, d), matching shapes."""
    x_train, y_train, x_test, y_test = _four_arrays(data)
    for x, y, side in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim < 2 or x.shape[0] < 1:
            raise ShapeError(f"x_{side} must have shape (n, ...) with n >= 1; got {x.shape}.")
        if y.dtype.kind != "f" or y.ndim != 2 or y.shape[0] != x.shape[0]:
            raise ShapeError(f"loss='mse' needs float targets y_{side} of shape (n, d) with n = {x.shape[0]} "
                             f"(x_{side}'s examples); got dtype {y.dtype} and shape {y.shape}. Use "
                             f"loss='cross_entropy' for integer labels.")
        if not np.isfinite(y).all():
            raise ShapeError(f"y_{side} holds NaN or infinite targets; loss='mse' needs finite ones.")
    if x_train.shape[1:] != x_test.shape[1:] or y_train.shape[1:] != y_test.shape[1:]:
        raise ShapeError(f"train and test examples differ in shape: x {x_train.shape[1:]} vs {x_test.shape[1:]}, "
                         f"y {y_train.shape[1:]} vs {y_test.shape[1:]}.")
    return x_train, y_train, x_test, y_test


def _check_regression_output(torch: Any, model: Any, arrays: tuple[np.ndarray, ...]) -> None:
    """The network's output for two training examples must have the targets' shape (2, d)."""
    x_train, y_train = arrays[0], arrays[1]
    sample = _as_tensor(torch, x_train[:2], _device(model))
    try:
        with _eval_modes(model), torch.inference_mode():
            out = model(sample)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ShapeError(f"the network cannot take x_train's examples of shape {x_train.shape[1:]}: {exc}. "
                         f"Build it for this data, e.g. build('mlp', input_shape={x_train.shape[1:]}).") from exc
    want = (sample.shape[0], y_train.shape[1])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"loss='mse' needs outputs of the targets' shape: {want} for 2 examples; the network "
                         f"gives {got}. Build it with n_classes={y_train.shape[1]} outputs.")


def _check_options(*, epochs: Any, optimizer: Any, lr: Any, seed: Any, batch_size: Any, momentum: Any,
                   weight_decay: Any, clip_grad_norm: Any) -> dict[str, Any]:
    check_option("optimizer", optimizer, OPTIMIZERS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise UnknownOptionError(f"{name} must be a number >= 0; got {value!r}.")
    if momentum and optimizer != "sgd":
        raise UnknownOptionError(f"momentum applies to optimizer='sgd' only; got momentum={momentum!r} with "
                                 f"optimizer={optimizer!r}. Leave momentum at 0 for Adam.")
    return {
        "epochs": check_positive_int("epochs", epochs),
        "optimizer": optimizer,
        "lr": check_positive_number("lr", lr),
        "seed": int(seed),
        "batch_size": check_positive_int("batch_size", batch_size),
        "momentum": float(momentum),
        "weight_decay": float(weight_decay),
        "clip_grad_norm": None if clip_grad_norm is None else check_positive_number("clip_grad_norm",
                                                                                     clip_grad_norm),
    }


def _freeze_key(freeze: Any) -> str | None:
    if freeze is None or not callable(getattr(freeze, "cache_key", None)):
        return None
    key = freeze.cache_key()
    if not isinstance(key, str):
        raise UnknownOptionError(f"freeze.cache_key() must return a string; got {type(key).__name__}.")
    return key


@contextmanager
def _eval_modes(model: Any) -> Iterator[None]:
    """Eval mode for the block; afterwards every module gets back its own train/eval flag (so
    batch-norm layers a freeze schedule fixed stay fixed)."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training


def _as_tensor(torch: Any, array: np.ndarray, device: Any) -> Any:
    dtype = torch.float32 if array.dtype.kind == "f" else torch.int64
    return torch.as_tensor(array, dtype=dtype, device=device)


def _device(model: Any) -> Any:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return "cpu"


def _check_output(torch: Any, model: Any, arrays: tuple[np.ndarray, ...], sequence: bool) -> None:
    """One forward pass on two training examples (eval mode, no state change) to check that
    the network's output fits the targets, before any work."""
    x_train, y_train = arrays[0], arrays[1]
    sample = _as_tensor(torch, x_train[:2], _device(model))
    try:
        with _eval_modes(model), torch.inference_mode():
            out = model(sample)
    except (RuntimeError, ValueError, IndexError) as exc:
        hint = getattr(model, "zoo_build", {}).get("input_shape")
        built = f" (the network was built for input_shape={tuple(hint)})" if hint else ""
        raise ShapeError(f"the network cannot take x_train's examples of shape {x_train.shape[1:]}{built}: "
                         f"{exc}. Build it for this data, e.g. build(kind, input_shape={x_train.shape[1:]}).") from exc
    labels = int(max(y_train.max(), arrays[3].max())) + 1
    want = f"(n, T={y_train.shape[1]}, vocab)" if sequence else "(n, n_classes)"
    if not isinstance(out, torch.Tensor) or (out.ndim != (3 if sequence else 2)) or (
            sequence and out.shape[1] != y_train.shape[1]):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"the network's output for 2 examples is {got}, but targets of shape "
                         f"{y_train.shape[1:] or '(n,)'} need logits {want}.")
    if out.shape[-1] < labels:
        raise ShapeError(f"the network has {out.shape[-1]} outputs but the labels go up to {labels - 1}; build "
                         f"it with n_classes={labels} (or vocab_size={labels}).")


# ---------------------------------------------------------------------------------------
# The loop


def _make_optimizer(torch: Any, model: Any, options: dict[str, Any]) -> Any:
    params = model.parameters()
    if options["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=options["lr"], weight_decay=options["weight_decay"])
    return torch.optim.SGD(params, lr=options["lr"], momentum=options["momentum"],
                           weight_decay=options["weight_decay"])


def _fit(torch: Any, model: Any, arrays: tuple[np.ndarray, ...], options: dict[str, Any], sequence: bool,
         record: Recorder | None, freeze: Any, total_steps: int) -> tuple[TrainingHistory, list[Any]]:
    device = _device(model)
    x, y = _as_tensor(torch, arrays[0], device), _as_tensor(torch, arrays[1], device)
    n, batch = x.shape[0], options["batch_size"]
    regression = options.get("loss") == "mse"
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    states: list[tuple[int, dict[str, Any]]] = []
    steps, losses, train_acc, test_acc = [], [], [], []
    train_r2, test_r2, test_mse = [], [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        order = torch.Generator().manual_seed(options["seed"])
        optimiser = _make_optimizer(torch, model, options)
        model.train()
        step = 0
        if record is not None and record.wants(0):
            record.capture(model, 0)
        if record is None:
            states.append((0, _state_copy(model)))
        for _ in range(options["epochs"]):
            perm = torch.randperm(n, generator=order).to(device)
            total_loss = 0.0
            for start in range(0, n, batch):
                if freeze is not None:
                    freeze.step(step)
                idx = perm[start:start + batch]
                optimiser.zero_grad(set_to_none=True)
                logits = model(x[idx])
                target = y[idx]
                if sequence:
                    logits, target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
                loss = loss_fn(logits, target)
                loss.backward()
                if options["clip_grad_norm"] is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), options["clip_grad_norm"])
                optimiser.step()
                total_loss += float(loss.detach()) * idx.shape[0]
                step += 1
                if record is not None and record.wants(step):
                    record.capture(model, step)
            steps.append(step)
            losses.append(total_loss / n)
            if regression:
                train_r2.append(r2_score(outputs_of(torch, model, arrays[0]), arrays[1]))
                test_out = outputs_of(torch, model, arrays[2])
                test_r2.append(r2_score(test_out, arrays[3]))
                test_mse.append(float(np.mean((test_out - arrays[3].astype(np.float64)) ** 2)))
            else:
                train_acc.append(accuracy_of(torch, model, arrays[0], arrays[1]))
                test_acc.append(accuracy_of(torch, model, arrays[2], arrays[3]))
            if record is None:
                states.append((step, _state_copy(model)))
    history = TrainingHistory(steps=tuple(steps), train_loss=tuple(losses), train_accuracy=tuple(train_acc),
                              test_accuracy=tuple(test_acc), train_r2=tuple(train_r2), test_r2=tuple(test_r2),
                              test_mse=tuple(test_mse))
    return history, states


def _state_copy(model: Any) -> dict[str, Any]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def accuracy_of(torch: Any, model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples (of characters, for (n, T) targets) whose arg-max logit is the
    target; eval mode, every module's flag restored after; batches of 500."""
    device = _device(model)
    correct = 0
    with _eval_modes(model), torch.inference_mode():
        for start in range(0, x.shape[0], _EVAL_BATCH):
            logits = model(_as_tensor(torch, x[start:start + _EVAL_BATCH], device))
            target = _as_tensor(torch, y[start:start + _EVAL_BATCH], device)
            correct += int((logits.argmax(dim=-1) == target).sum())
    return correct / y.size


def outputs_of(torch: Any, model: Any, x: np.ndarray) -> np.ndarray:
    """The network's outputs for `x`, float64 numpy (n, d); eval mode, batches of 500."""
    device = _device(model)
    out = []
    with _eval_modes(model), torch.inference_mode():
        for start in range(0, x.shape[0], _EVAL_BATCH):
            out.append(model(_as_tensor(torch, x[start:start + _EVAL_BATCH], device)).double().cpu().numpy())
    return np.concatenate(out, axis=0)


def r2_score(predicted: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination over all outputs, pooled.

    ``R^2 = 1 - sum_ij (p_ij - t_ij)^2 / sum_ij (t_ij - mean_i t_ij)^2``: 1 for a perfect fit,
    0 for predicting each output's mean (columns centred separately). Float64; O(n d).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    total = float(np.sum((target - target.mean(axis=0)) ** 2))
    return 1.0 - float(np.sum((predicted - target) ** 2)) / total


# ---------------------------------------------------------------------------------------
# The cache


def _store_run(torch: Any, model: Any, key: str, settings: dict[str, Any], history: TrainingHistory,
               seconds: float, total_steps: int, record: Recorder | None, states: list[Any]) -> None:
    def write_files(folder: Any) -> None:
        torch.save(model.state_dict(), folder / run_cache.FINAL_FILE)
        if record is None:
            torch.save(states, folder / run_cache.CHECKPOINTS_FILE)
            return
        for step, acts in record.checkpoints:
            write_cache(folder / run_cache.RECORDED / checkpoint_name(step), acts, record.probe_hash)

    run = {"key": key, "settings": settings, "history": history.as_dict(), "seconds": seconds,
           "total_steps": total_steps, "recorded_steps": None if record is None else list(record.steps or ()),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    run_cache.store_entry(key, run, write_files)


def _load_run(torch: Any, model: Any, key: str, stored: dict[str, Any], settings: dict[str, Any],
              record: Recorder | None) -> TrainingRun:
    folder = run_cache.entry_folder(key)
    try:
        model.load_state_dict(torch.load(folder / run_cache.FINAL_FILE, weights_only=True))
        if record is None:
            states = torch.load(folder / run_cache.CHECKPOINTS_FILE, weights_only=True)
            checkpoints = [(int(step), state) for step, state in states]
        else:
            record.restore(stored["recorded_steps"], folder / run_cache.RECORDED)
            checkpoints = list(record.checkpoints)
    except (OSError, RuntimeError, KeyError, ReplensError) as exc:
        raise ReplensError(f"the cached run {str(folder)!r} could not be read ({exc}). Delete that folder "
                           f"and the run is trained again.") from exc
    model.eval()
    h = stored["history"]
    history = TrainingHistory(steps=tuple(h["steps"]), train_loss=tuple(h["train_loss"]),
                              train_accuracy=tuple(h["train_accuracy"]), test_accuracy=tuple(h["test_accuracy"]),
                              train_r2=tuple(h.get("train_r2", ())), test_r2=tuple(h.get("test_r2", ())),
                              test_mse=tuple(h.get("test_mse", ())))
    return TrainingRun(model=model, history=history, checkpoints=checkpoints, total_steps=int(stored["total_steps"]),
                       settings=settings, key=key, from_cache=True, seconds=float(stored["seconds"]))
