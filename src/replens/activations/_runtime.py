"""The machinery that extract() and extract_hf() share, and that graph-node capture uses.

Below :mod:`.hooks`, :mod:`.hf` and :mod:`.graph`, so that none of them imports another one
for it:

- :class:`Rows`, which copies each captured value once into its final place on the host, in
  the hook (or inserted graph call) that sees it, and the :data:`Record` callback type that
  feeds it;
- :func:`restored_modes` (eval mode for the call, each module's own flag back afterwards);
- turning `data` into batches (:func:`iterate_batches`) and a batch into the model's
  arguments (:func:`model_inputs`), under a progress bar (:func:`progress_batches`);
- matching layer names and patterns (:func:`match_names`);
- the option checks and the lazy import of torch.

torch is imported only when a function here runs, never on import.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _progress
from .._io import optional_import
from .._validate import check_option
from ..errors import DtypeError, ExtractionError, ReplensError, ShapeError, TooFewExamplesError, UnknownOptionError

if TYPE_CHECKING:
    import torch

DEFAULT_BATCH_SIZE = 128
DTYPES = ("float16", "float32", "float64", None)
_GLOB_CHARACTERS = "*?["

Record = Callable[[str, str, Any], None]  # (label, module name, output)
Run = Callable[[tuple[Any, ...], dict[str, Any]], list[str]]  # run(args, kwargs) -> labels

__all__ = ["DEFAULT_BATCH_SIZE", "DTYPES", "Record", "Run", "Rows", "restored_modes",
           "iterate_batches", "model_inputs", "progress_batches", "match_names", "import_torch",
           "check_model", "check_dtype", "check_progress", "input_device"]


class Rows:
    """Each layer's rows, written batch by batch straight into one host tensor per layer.

    A captured value is copied once, from the module's output into its final place, in the
    hook itself, before any later in-place operation can change it (a value on another
    device is copied there and moved to the host when its batch ends). No batches are kept
    to be joined at the end: with np.concatenate, that join cost three times the forward pass
    of a small CNN. The buffers are sized from the number of examples when it is known, and
    doubled when it is not. They are torch tensors because filling fresh torch memory
    measured 2-5x faster than fresh numpy memory; the arrays returned share it.
    """

    def __init__(self, torch: Any, dtype: str | None, *, batches: int | None,
                 examples: int | None) -> None:
        self.torch, self.dtype = torch, dtype
        self.batches, self.examples = batches, examples
        self.order: list[str] | None = None
        self.buffers: dict[str, Any] = {}
        self.pending: dict[str, Any] = {}
        self.written = 0  # rows of every layer filled by the batches that ended
        self.index = 0
        self.batch_rows: int | None = None
        self.largest_batch = 0

    def begin(self, index: int, n_batch: int | None) -> None:
        """Start batch `index`, whose inputs hold `n_batch` examples (None: not known)."""
        self.index, self.batch_rows = index, n_batch
        self.pending = {}

    def put(self, label: str, tensor: torch.Tensor, fresh: bool = False) -> None:
        """Copy one layer's output for the current batch into place, checking its shape."""
        torch = self.torch
        target = _torch_dtype(torch, self.dtype, tensor.dtype)
        if tensor.is_complex() and not target.is_complex:
            raise DtypeError(
                f"layer {label!r} is complex ({tensor.dtype}); casting it to {self.dtype} would "
                f"drop its imaginary part. Pass dtype=None to keep it complex, or select= a "
                f"real part.")
        count = int(tensor.shape[0]) if tensor.ndim else None
        if self.batch_rows is None:
            self.batch_rows = count
        if count is None or count != self.batch_rows:
            raise ShapeError(
                f"in batch {self.index} the inputs hold {self.batch_rows} examples, but layer "
                f"{label!r} gives shape {tuple(tensor.shape)}, without them on its first axis. "
                f"Only batch-first outputs can be joined into (n_examples, ...) arrays; pass "
                f"select= to pick or permute a batch-first tensor, or leave this module out of "
                f"layers.")
        start = self.written
        buffer = self._buffer(label, tuple(tensor.shape[1:]), target, start + count)
        if tensor.device.type == "cpu":
            stored = buffer[start:start + count]
            stored.copy_(tensor)
        else:
            stored = self.pending[label] = tensor.to(dtype=buffer.dtype, copy=not fresh)
        if stored.dtype == torch.float16 and tensor.dtype in (torch.float32, torch.float64):
            self._check_overflow(label, tensor, stored)

    def _check_overflow(self, label: str, source: Any, stored: Any) -> None:
        """Refuse a float16 copy that turned finite values into infinities (one pass)."""
        torch = self.torch
        if bool((torch.isinf(stored) & torch.isfinite(source)).any()):
            finite = source[torch.isfinite(source)]
            largest = float(finite.abs().max())
            raise ExtractionError(
                f"layer {label!r} overflows float16 in batch {self.index}: it holds values up to "
                f"{largest:.6g} in magnitude, beyond float16's largest 65504, which would be stored "
                f"as infinities. Pass dtype='float32' (replens extract --dtype float32), or leave "
                f"this layer out.")

    def end(self, labels: list[str]) -> None:
        """Finish the batch whose layers, in call order, were `labels`."""
        if self.order is None:
            self.order = list(labels)
        elif set(labels) != set(self.order):
            self._different_layers(labels)
        for label, tensor in self.pending.items():
            self.buffers[label][self.written:self.written + tensor.shape[0]].copy_(tensor)
        self.pending = {}
        if self.order:
            self.largest_batch = max(self.largest_batch, self.batch_rows or 0)
            self.written += self.batch_rows or 0

    def result(self) -> dict[str, np.ndarray]:
        """The filled rows of every layer as numpy arrays, in the order of the first batch."""
        if self.order is None:
            raise TooFewExamplesError("data yielded no batch; pass at least one batch of inputs.")
        arrays = {}
        for label in self.order:
            buffer = self.buffers.pop(label)
            if buffer.shape[0] - self.written > self.largest_batch:
                buffer = buffer[:self.written].clone()  # do not keep a half-empty buffer alive
            arrays[label] = buffer[:self.written].numpy()
        return arrays

    def _buffer(self, label: str, shape: tuple[int, ...], dtype: Any, needed: int) -> Any:
        buffer = self.buffers.get(label)
        if buffer is None:
            if self.order is not None:
                self._different_layers([*self.order, label])
            capacity = self.examples or (self.batches or 8) * (self.batch_rows or 1)
            buffer = self.torch.empty((max(capacity, needed), *shape), dtype=dtype, device="cpu")
            self.buffers[label] = buffer
        elif tuple(buffer.shape[1:]) != shape:
            raise ShapeError(
                f"layer {label!r} has per-example shape {shape} in batch {self.index} but "
                f"{tuple(buffer.shape[1:])} in batch 0, so its batches cannot be joined. Pool "
                f"it (pool='mean' for conv maps, a pooled extract_hf for tokens) or give every "
                f"batch the same input size (pad sequences to one length).")
        if needed > buffer.shape[0]:
            grown = self.torch.empty((max(needed, 2 * buffer.shape[0]), *shape), dtype=buffer.dtype,
                                     device="cpu")
            grown[:self.written].copy_(buffer[:self.written])
            self.buffers[label] = buffer = grown
        return buffer

    def _different_layers(self, labels: list[str]) -> None:
        missing = [label for label in self.order or [] if label not in labels]
        extra = [label for label in labels if label not in (self.order or [])]
        raise ReplensError(
            f"batch {self.index} ran other modules than batch 0 (missing: {missing[:5]}, new: "
            f"{extra[:5]}), so the layers cannot be joined across batches. The model's control "
            f"flow depends on the data; choose layers that run for every batch.")


@contextmanager
def restored_modes(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode for the block; afterwards every module gets back its own train/eval flag."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training


def iterate_batches(torch: Any, data: Any, batch_size: int
                    ) -> tuple[Iterable[Any], int | None, int | None]:
    """The batches of `data`, their number and the number of examples, where known.

    Tensors, arrays and mappings are split into `batch_size` rows; anything else iterable is
    taken as it comes.
    """
    if isinstance(data, np.ndarray):
        data = torch.as_tensor(data)
    if isinstance(data, torch.Tensor):
        if data.ndim == 0:
            raise ShapeError(f"data is a 0-d tensor ({data!r}); pass inputs with the examples "
                             f"on the first axis.")
        return data.split(batch_size), math.ceil(data.shape[0] / batch_size), int(data.shape[0])
    if isinstance(data, Mapping):
        return _split_mapping(torch, data, batch_size)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ReplensError(
            f"data must be a tensor, a mapping of input tensors, a DataLoader or an iterable "
            f"of batches; got {type(data).__name__}.")
    _refuse_shuffling(torch, data)
    try:
        total = len(data)
    except TypeError:  # a generator, or a DataLoader over an IterableDataset
        total = None
    return data, total, None


def _split_mapping(torch: Any, data: Mapping[str, Any], batch_size: int
                   ) -> tuple[list[dict[str, Any]], int, int | None]:
    sizes = {int(value.shape[0]) for value in data.values()
             if isinstance(value, torch.Tensor) and value.ndim}
    if not sizes:
        return [dict(data)], 1, None
    if len(sizes) > 1:
        shapes = {key: tuple(value.shape) for key, value in data.items()
                  if isinstance(value, torch.Tensor)}
        raise ShapeError(f"the tensors in data must all have the examples on their first axis, "
                         f"with one length; got shapes {shapes}.")
    n = sizes.pop()
    batches = []
    for start in range(0, n, batch_size):
        batches.append({key: (value[start:start + batch_size]
                              if isinstance(value, torch.Tensor) and value.ndim else value)
                        for key, value in data.items()})
    return batches, len(batches), n


def _refuse_shuffling(torch: Any, data: Any) -> None:
    random_samplers = (torch.utils.data.RandomSampler, torch.utils.data.SubsetRandomSampler,
                       torch.utils.data.WeightedRandomSampler)
    if isinstance(getattr(data, "sampler", None), random_samplers):
        raise ReplensError(
            f"data is a DataLoader that shuffles (its sampler is a "
            f"{type(data.sampler).__name__}), so every call would see the examples in another "
            f"order and rows would not correspond across models. Build it with shuffle=False.")


def model_inputs(torch: Any, batch: Any, device: Any
                 ) -> tuple[tuple[Any, ...], dict[str, Any], int | None]:
    """(args, kwargs, examples) for one batch, its tensors moved to `device`.

    `examples` is the first axis of the first input tensor, or None if the batch holds none.
    """
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ShapeError("data yielded an empty batch (an empty tuple or list).")
        batch = batch[0]
    if isinstance(batch, Mapping):
        kwargs = {key: _to_device(torch, value, device) for key, value in batch.items()}
        return (), kwargs, _examples(torch, kwargs.values())
    args = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    args = tuple(_to_device(torch, value, device) for value in args)
    return args, {}, _examples(torch, args)


def _to_device(torch: Any, value: Any, device: Any) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _examples(torch: Any, values: Iterable[Any]) -> int | None:
    for value in values:
        if isinstance(value, torch.Tensor) and value.ndim:
            return int(value.shape[0])
    return None


def progress_batches(batches: Iterable[Any], progress: bool | None, total: int | None
                     ) -> Iterable[Any]:
    """`batches` under an "extract" bar on stderr when `progress` is True (or None and a tty)."""
    return _progress.wrap(batches, progress, total=total, desc="extract", unit="batch")


def match_names(patterns: Sequence[str], available: Sequence[str], what: str
                ) -> tuple[list[str], set[str]]:
    """Names in `available` (in its order) matched by any pattern, and those given exactly.

    Raises UnknownOptionError for a pattern that matches nothing, listing some of the
    available names and the closest ones.
    """
    matched: set[str] = set()
    exact: set[str] = set()
    for pattern in patterns:
        hits = [name for name in available if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise UnknownOptionError(_no_match_message(pattern, available, what))
        matched.update(hits)
        if not any(character in pattern for character in _GLOB_CHARACTERS):
            exact.add(pattern)
    return [name for name in available if name in matched], exact


def _no_match_message(pattern: str, available: Sequence[str], what: str) -> str:
    shown = ", ".join(repr(name) for name in available[:8])
    more = f", ... ({len(available)} in all)" if len(available) > 8 else ""
    close = difflib.get_close_matches(pattern, available, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(name) for name in close)}?" if close else ""
    return (f"layers pattern {pattern!r} matches no {what}.{hint} Available: {shown}{more}. "
            f"Patterns are fnmatch globs over the full dotted names, e.g. 'layer1.*'.")


# ---------------------------------------------------------------------------------------
# Options and torch


def import_torch() -> Any:
    """torch, imported now; an ImportError that says how to install it if it is missing."""
    return optional_import("torch", "torch", "extracting activations")


def check_model(torch: Any, model: Any) -> None:
    """Raise ReplensError unless `model` is a torch module."""
    if not isinstance(model, torch.nn.Module):
        raise ReplensError(f"model must be a torch.nn.Module; got {type(model).__name__}.")


def check_dtype(dtype: Any) -> str | None:
    """The `dtype` option as a numpy dtype name (None kept); a torch dtype is accepted too."""
    if dtype is None:
        return None
    if hasattr(dtype, "is_floating_point"):  # a torch dtype
        dtype = str(dtype).removeprefix("torch.")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    check_option("dtype", name if name in DTYPES else dtype, DTYPES)
    return name


def _torch_dtype(torch: Any, dtype: str | None, current: Any) -> Any:
    if dtype is not None:
        return getattr(torch, dtype)
    if current.is_floating_point and current not in (torch.float16, torch.float32, torch.float64):
        return torch.float32  # bfloat16, float8 ...: numpy has no such dtype
    return current


def check_progress(progress: Any) -> None:
    check_option("progress", progress, (None, False, True))


def input_device(torch: Any, model: torch.nn.Module, device: Any) -> Any:
    """Where inputs go: `device`, else the device of the model's first parameter or buffer."""
    if device is None:
        for tensor in (*model.parameters(), *model.buffers()):
            return tensor.device
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise UnknownOptionError(
            f"device must be a torch device or its name ('cpu', 'cuda:0', ...) or None; got "
            f"{device!r} ({error}).") from None
