"""extract_to_cache(): activations of a whole dataset into an ActivationCache, chunk by chunk.

:func:`replens.extract` keeps every layer of every example in memory. These functions run
it (or :func:`replens.extract_hf`) over one *chunk* of `chunk_size` examples at a time and
write each chunk into an :class:`~replens.activations.cache.ActivationCache` at its row
offset, so memory is bounded by the chunk, not by the number of examples:

- the cache is created from the first chunk's layer names, shapes and dtypes;
- each chunk is recorded in the cache's manifest only once it is on disk; after an
  interruption, calling again with the same arguments resumes at the first unwritten chunk
  (:attr:`ActivationCache.resume_from`), after checking that the cache was made from the
  same inputs (their fingerprint) and gives the same layers;
- a complete cache made from the same inputs is returned at once, without running the model;
- the manifest records what made the cache (:func:`provenance_of`: the model's fingerprint,
  the layers asked for, pool, dtype, graph_nodes) beside the inputs' fingerprint, and a cache
  made otherwise is refused, naming the field that differs, whether it is complete or not;
- one process writes a cache at a time (the cache's writer lock).

Rows are computed in the same batches as one call of :func:`replens.extract` with the same
`batch_size` when `chunk_size` is a multiple of it, so the cache then holds exactly what
that call returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .. import _progress
from .._validate import check_option, check_positive_int
from ..errors import ReplensError, ShapeError, TooFewExamplesError, UnknownOptionError
from ._runtime import DEFAULT_BATCH_SIZE, check_model, check_progress, import_torch
from .cache import MANIFEST, ActivationCache, check_replaceable, check_unlocked, hash_inputs
from .hf import extract_hf
from .hooks import extract

__all__ = ["extract_to_cache", "extract_hf_to_cache", "fingerprint", "model_fingerprint", "provenance_of",
           "DEFAULT_CHUNK_SIZE"]

DEFAULT_CHUNK_SIZE = 1024
DATASET_FINGERPRINT_EXAMPLES = 16
AUTO = "auto"

Run = Callable[[Any, bool], dict[str, np.ndarray]]


def extract_to_cache(
    model: Any,
    data: Any,
    path: str | Path,
    *,
    layers: str | Sequence[str] | None = None,
    pool: str | None = None,
    dtype: str | None = "float32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
    inputs_hash: str | None = AUTO,
    overwrite: bool = False,
    graph_nodes: bool = False,
) -> ActivationCache:
    """Run `model` over `data` chunk by chunk and store the chosen layers in a cache at `path`.

    Parameters
    ----------
    model : torch.nn.Module
        The network, as for :func:`replens.extract`.
    data : array, tensor, mapping or indexable dataset
        The inputs, examples on the first axis: a numpy array (a memory map from
        ``np.load(..., mmap_mode="r")`` is read one chunk at a time), a torch tensor, a
        mapping of such arrays (keyword inputs, e.g. a tokenizer's output), or a map-style
        dataset (``len(data)`` and ``data[i]``) whose items are tensors or arrays, mappings
        of them, or tuples such as ``(x, y)`` of which the first element is the input.
        Floating-point inputs are cast to the dtype of the model's floating-point
        parameters (float64 data into a float32 model). A DataLoader is refused: pass its
        dataset.
    path : str or path-like
        The cache folder. If it holds an incomplete cache made from the same inputs,
        extraction resumes there; if complete, it is returned as it is.
    layers, pool, dtype, batch_size
        As for :func:`replens.extract`.
    chunk_size : int
        Examples per chunk: the unit of writing and of resuming. Peak memory is about
        `chunk_size` times the size of one example's captured layers (twice that while a
        chunk is being joined), whatever the number of examples.
    progress : bool, optional
        A tqdm bar over the examples on stderr, updated batch by batch. Default: when
        stderr is a terminal.
    inputs_hash : str or None or "auto"
        The inputs' fingerprint, recorded in the cache and checked on resume. ``"auto"``
        (default): :func:`fingerprint` of `data`. ``None`` records none (and so checks
        nothing but the number of examples and the layers).
    overwrite : bool
        Replace an existing cache at `path` (made from other inputs, say) instead of
        resuming it. Only a replens folder (a cache or a comparison's output) or an empty
        folder is ever replaced.
    graph_nodes : bool
        As for :func:`replens.extract`: capture torch.fx graph nodes instead of modules.

    Returns
    -------
    ActivationCache
        The complete cache, opened for reading (``cache.as_dict()`` for
        :func:`replens.compare`).

    Raises
    ------
    ReplensError
        `path` holds something other than a cache, or a cache made from other inputs, another
        model (its weights or class), layers, pool, dtype or graph_nodes, even a complete one:
        the message names the field (pass ``overwrite=True`` to start again); or another
        process is writing the cache.
    ShapeError
        The model fails on the first chunk (inputs of the wrong shape or dtype for it).
    ExtractionError
        A layer's values overflow float16 when ``dtype="float16"``.
    TooFewExamplesError
        `data` holds no example.

    Examples
    --------
    >>> import numpy as np, os, tempfile, torch
    >>> from replens.activations import extract_to_cache
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> path = os.path.join(tempfile.mkdtemp(), "acts")
    >>> cache = extract_to_cache(model, np.random.rand(100, 4), path, chunk_size=32, progress=False)
    >>> cache.is_complete, {name: cache[name].shape for name in cache}
    (True, {'0': (100, 8), '1': (100, 8), '2': (100, 2)})
    """
    torch = import_torch()
    source = as_source(data, texts=False)
    input_dtype = _floating_dtype(torch, model)
    check_option("graph_nodes", graph_nodes, (False, True))
    provenance = provenance_of(model, layers=layers, pool=pool, dtype=dtype, graph_nodes=graph_nodes)

    def run(batches: Any, first: bool) -> dict[str, np.ndarray]:
        batches = _Cast(batches, torch, input_dtype)
        with _first_chunk_errors(first, source):
            return extract(model, batches, layers=layers, pool=pool, dtype=dtype,
                           batch_size=batch_size, progress=False, graph_nodes=graph_nodes)

    return _fill_cache(source, path, run, batch_size=batch_size, chunk_size=chunk_size,
                       progress=progress, inputs_hash=inputs_hash, overwrite=overwrite,
                       provenance=provenance)


def extract_hf_to_cache(
    model: Any,
    inputs: Any,
    path: str | Path,
    *,
    tokenizer: Any = None,
    pool: str | None = "mean",
    layers: int | str | Sequence[int | str] | None = None,
    dtype: str | None = "float32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
    inputs_hash: str | None = AUTO,
    overwrite: bool = False,
) -> ActivationCache:
    """:func:`replens.extract_hf` chunk by chunk into a cache at `path`, resumable.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        As for :func:`replens.extract_hf`.
    inputs : sequence of str, or mapping
        Sentences (with `tokenizer`), tokenised batch by batch with ``padding=True,
        truncation=True`` exactly as :func:`replens.extract_hf` does; or a tokenizer's
        output for every example (a mapping of arrays or tensors, padded to one length).
    path, chunk_size, progress, inputs_hash, overwrite
        As for :func:`extract_to_cache`.
    tokenizer, pool, layers, dtype, batch_size
        As for :func:`replens.extract_hf`.

    Returns
    -------
    ActivationCache
        The complete cache: ``"hidden_states.i"`` -> ``(n_examples, width)`` when pooled.
    """
    torch = import_torch()
    texts = tokenizer is not None
    source = as_source(inputs, texts=True)
    if not texts and isinstance(source, _TextSource):
        raise UnknownOptionError("inputs are strings; pass tokenizer= (the model's tokenizer) to "
                                 "turn them into token ids, or pass the tokenizer's output instead.")

    check_model(torch, model)
    provenance = provenance_of(model, layers=layers, pool=pool, dtype=dtype, graph_nodes=None)

    def run(batches: Any, first: bool) -> dict[str, np.ndarray]:
        if texts:
            batches = _Tokenized(batches, tokenizer)
        batches = _Cast(batches, torch, None)
        with _first_chunk_errors(first, source):
            return extract_hf(model, batches, pool=pool, layers=layers, dtype=dtype,
                              batch_size=batch_size, progress=False)

    return _fill_cache(source, path, run, batch_size=batch_size, chunk_size=chunk_size,
                       progress=progress, inputs_hash=inputs_hash, overwrite=overwrite,
                       provenance=provenance)


def fingerprint(data: Any) -> str:
    """The inputs' fingerprint used by default as a cache's ``inputs_hash``.

    Arrays and tensors: :func:`~replens.activations.cache.hash_inputs` of every value (one
    pass over the bytes). Mappings: the same over their keys and values. Sentences: SHA-256
    of the texts. A dataset is only sampled, since reading it all would cost as much as a
    second pass of the model: its type, its length and its first
    ``DATASET_FINGERPRINT_EXAMPLES`` examples; pass your own ``inputs_hash`` for a full one.
    """
    return as_source(data, texts=True).fingerprint()


def model_fingerprint(model: Any) -> dict[str, str]:
    """What identifies a model's computation: its class and a hash of its state.

    Returns ``{"class": "package.module.QualifiedName", "sha256": "<hex>"}``; the hash runs
    over every parameter and buffer (persistent or not), in registration order, each as its
    name, dtype, shape and bytes, wherever the tensor lives (GPU tensors are copied to the
    host a tensor at a time). Cost: one pass over the model's bytes (ResNet-18, 47 MB: about
    0.05 s).
    """
    torch = import_torch()
    check_model(torch, model)
    digest = hashlib.sha256()
    named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        data = tensor.detach()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        flat = data.to("cpu").contiguous().reshape(-1)
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().data)
    kind = type(model)
    return {"class": f"{kind.__module__}.{kind.__qualname__}", "sha256": digest.hexdigest()}


def provenance_of(model: Any, *, layers: Any, pool: Any, dtype: Any, graph_nodes: Any) -> dict[str, Any]:
    """The provenance a cache records: the model's fingerprint and the extraction options.

    ``layers`` is recorded as asked for (a pattern, a list of them, positions or None), since
    the same patterns on another model may match other layers.
    """
    if isinstance(layers, (str, int)) or layers is None:
        asked = layers
    else:
        asked = list(layers)
    return {"model": model_fingerprint(model), "layers": asked, "pool": pool,
            "dtype": None if dtype is None else str(dtype).removeprefix("torch."), "graph_nodes": graph_nodes}


# ---------------------------------------------------------------------------------------
# Filling the cache


def _fill_cache(source: "_Source", path: str | Path, run: Run, *, batch_size: int, chunk_size: int,
                progress: bool | None, inputs_hash: str | None, overwrite: bool,
                provenance: dict[str, Any]) -> ActivationCache:
    path = Path(path)
    batch_size = check_positive_int("batch_size", batch_size)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    check_progress(progress)
    check_option("overwrite", overwrite, (False, True))
    if inputs_hash == AUTO:
        inputs_hash = source.fingerprint()
    elif inputs_hash is not None and not isinstance(inputs_hash, str):
        raise UnknownOptionError(f"inputs_hash must be a string, None or 'auto'; got "
                                 f"{type(inputs_hash).__name__}.")
    n = source.n
    resumed = path.exists() and not overwrite
    start = _first_row(path, n, inputs_hash, overwrite, provenance)
    if start == n:
        return ActivationCache.open(path)
    cache = None
    try:
        with _progress.bar(progress, total=n, initial=start, desc="extract", unit="example") as bar:
            for begin in range(start, n, chunk_size):
                stop = min(n, begin + chunk_size)
                batches = _Batches(source, begin, stop, batch_size, bar)
                acts = run(batches, cache is None)
                if cache is None:
                    cache = _open_for_writing(path, acts, n, inputs_hash, provenance, fresh=not resumed,
                                              overwrite=overwrite)
                cache.write(acts, begin)
                del acts
    finally:
        if cache is not None:
            cache.close()
    return ActivationCache.open(path)


def _first_row(path: Path, n: int, inputs_hash: str | None, overwrite: bool,
               provenance: dict[str, Any]) -> int:
    """Where to start: 0 for a new (or replaced) cache, else the existing cache's resume_from.

    An existing cache, complete or not, must have been made by the same model from the same
    inputs with the same options; the error names every field that differs.
    """
    if not path.exists():
        return 0
    if overwrite:
        check_replaceable(path, "overwrite")
        if (path / MANIFEST).exists():
            check_unlocked(path)
        return 0
    cache = ActivationCache.open(path, allow_incomplete=True)
    differences = cache.differences(n_examples=n, inputs_hash=inputs_hash, provenance=provenance)
    if differences:
        raise ReplensError(
            f"the activation cache {str(path)!r} was made otherwise: it has "
            f"{'; '.join(differences)}. Pass overwrite=True (replens extract --overwrite) to "
            f"replace it, or choose another path.")
    if not cache.is_complete:
        check_unlocked(path)  # another process writing it: say so before running the model
    return cache.resume_from


def _open_for_writing(path: Path, acts: Mapping[str, np.ndarray], n: int, inputs_hash: str | None,
                      provenance: dict[str, Any], *, fresh: bool, overwrite: bool) -> ActivationCache:
    """Create the cache from the first chunk's layers, or check them against the one resumed."""
    specs = {name: (array.shape[1:], array.dtype) for name, array in acts.items()}
    if fresh and not overwrite and path.exists():  # another writer made it meanwhile: join it (or be told)
        fresh = False
    if fresh:
        return ActivationCache.create(path, specs, n_examples=n, inputs_hash=inputs_hash,
                                      provenance=provenance, overwrite=overwrite and path.exists())
    return ActivationCache.create(path, specs, n_examples=n, inputs_hash=inputs_hash,
                                  provenance=provenance, resume=True)


@contextmanager
def _first_chunk_errors(first: bool, source: "_Source") -> Iterator[None]:
    """Turns the model failing on the first chunk into a ShapeError that names the inputs.

    A forward pass that fails on the first inputs it sees almost always means data of the
    wrong shape or dtype for the model; later failures are left as they are.
    """
    try:
        yield
    except (RuntimeError, IndexError) as error:
        if not first or type(error) not in (RuntimeError, IndexError):
            raise
        text = str(error).strip()
        detail = text.splitlines()[0] if text else type(error).__name__
        raise ShapeError(
            f"the model failed on the first batch of inputs ({source.describe()}): {detail}. Check "
            f"that the data holds what the model expects (shape and dtype), one example per row on "
            f"the first axis.") from error


# ---------------------------------------------------------------------------------------
# Batches of one chunk


class _Batches:
    """Batches of rows [start, stop) of a source, an iterable with len(); ticks the bar."""

    def __init__(self, source: "_Source", start: int, stop: int, batch_size: int, bar: Any) -> None:
        self.source, self.bar = source, bar
        self.bounds = [(begin, min(stop, begin + batch_size)) for begin in range(start, stop, batch_size)]

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[Any]:
        for begin, end in self.bounds:
            yield self.source.rows(begin, end)
            self.bar.update(end - begin)


class _Tokenized:
    """Batches of sentences, tokenised as extract_hf does (padding and truncation)."""

    def __init__(self, batches: Any, tokenizer: Any) -> None:
        self.batches, self.tokenizer = batches, tokenizer

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        for texts in self.batches:
            yield self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")


class _Cast:
    """Batches with numpy arrays made tensors, floating ones cast to `dtype` (None: kept)."""

    def __init__(self, batches: Any, torch: Any, dtype: Any) -> None:
        self.batches, self.torch, self.dtype = batches, torch, dtype

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches:
            yield self._cast(batch)

    def _cast(self, value: Any) -> Any:
        torch = self.torch
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.array(value))  # a writable copy of the rows only
        if isinstance(value, torch.Tensor):
            if self.dtype is not None and value.is_floating_point() and value.dtype != self.dtype:
                value = value.to(self.dtype)
            return value
        if isinstance(value, Mapping):
            return {key: self._cast(item) for key, item in value.items()}
        return value


# ---------------------------------------------------------------------------------------
# Sources: the inputs, read a few rows at a time


class _Source:
    """Rows of the inputs by index range; subclasses say how to read and fingerprint them."""

    n: int

    def rows(self, start: int, stop: int) -> Any:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class _ArraySource(_Source):
    def __init__(self, array: Any) -> None:
        if not array.shape:
            raise ShapeError("data is a 0-d array; pass inputs with the examples on the first axis.")
        self.array, self.n = array, int(array.shape[0])

    def rows(self, start: int, stop: int) -> Any:
        return self.array[start:stop]

    def fingerprint(self) -> str:
        return hash_inputs(self.array)

    def describe(self) -> str:
        return f"{self.n} examples of shape {tuple(self.array.shape[1:])}, dtype {self.array.dtype}"


class _MappingSource(_Source):
    def __init__(self, mapping: Mapping[str, Any]) -> None:
        sizes = {key: int(value.shape[0]) for key, value in mapping.items() if getattr(value, "ndim", 0)}
        if not sizes or len(set(sizes.values())) != 1:
            raise ShapeError(f"data is a mapping whose arrays must all hold the examples on their first "
                             f"axis, with one length; got lengths {sizes or '(no arrays)'}.")
        self.mapping, self.n = dict(mapping), next(iter(sizes.values()))

    def rows(self, start: int, stop: int) -> dict[str, Any]:
        return {key: value[start:stop] if getattr(value, "ndim", 0) else value
                for key, value in self.mapping.items()}

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for key in sorted(self.mapping):
            value = self.mapping[key]
            digest.update(f"{key}={hash_inputs(value) if getattr(value, 'ndim', 0) else repr(value)};".encode())
        return f"sha256:{digest.hexdigest()}"

    def describe(self) -> str:
        return "a mapping of " + ", ".join(
            f"{key} {tuple(value.shape)}" for key, value in self.mapping.items() if getattr(value, "ndim", 0))


class _TextSource(_Source):
    def __init__(self, texts: Sequence[str]) -> None:
        self.texts, self.n = list(texts), len(texts)

    def rows(self, start: int, stop: int) -> list[str]:
        return self.texts[start:stop]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for text in self.texts:
            encoded = text.encode("utf-8")
            digest.update(f"{len(encoded)}:".encode())
            digest.update(encoded)
        return f"sha256:{digest.hexdigest()}"

    def describe(self) -> str:
        return f"{self.n} sentences"


class _DatasetSource(_Source):
    """A map-style dataset: len() and data[i]; items stacked into batches."""

    def __init__(self, dataset: Any, torch: Any) -> None:
        self.dataset, self.torch, self.n = dataset, torch, len(dataset)

    def rows(self, start: int, stop: int) -> Any:
        return _stack(self.torch, [_input_of(self.dataset[i], i) for i in range(start, stop)])

    def fingerprint(self) -> str:
        head = self.rows(0, min(self.n, DATASET_FINGERPRINT_EXAMPLES))
        digest = hashlib.sha256()
        digest.update(f"{type(self.dataset).__module__}.{type(self.dataset).__qualname__}:{self.n};".encode())
        values = [head[key] for key in sorted(head)] if isinstance(head, Mapping) else [head]
        digest.update(hash_inputs(*values).encode())
        return f"sha256:{digest.hexdigest()}"

    def describe(self) -> str:
        first = _input_of(self.dataset[0], 0)
        shape = tuple(first.shape) if hasattr(first, "shape") else type(first).__name__
        return f"a dataset of {self.n} examples of shape {shape}"


def _input_of(item: Any, index: int) -> Any:
    if isinstance(item, (tuple, list)):
        if not item:
            raise ShapeError(f"data[{index}] is an empty {type(item).__name__}; items must be inputs "
                             f"or tuples such as (inputs, label).")
        item = item[0]
    return item


def _stack(torch: Any, items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, Mapping):
        return {key: _stack(torch, [item[key] for item in items]) for key in first}
    try:
        return torch.stack([torch.as_tensor(np.asarray(item) if not isinstance(item, torch.Tensor) else item)
                            for item in items])
    except (RuntimeError, TypeError, ValueError) as exc:
        shapes = sorted({tuple(getattr(item, "shape", ())) for item in items})
        raise ShapeError(f"the dataset's items cannot be stacked into a batch (shapes {shapes[:4]}): "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. Items must be "
                         f"tensors or arrays of one shape.") from exc


def as_source(data: Any, *, texts: bool) -> _Source:
    """`data` as a _Source, or a ReplensError saying what data may be."""
    torch = import_torch()
    if isinstance(data, (np.ndarray, torch.Tensor)):
        source: _Source = _ArraySource(data)
    elif isinstance(data, Mapping):
        source = _MappingSource(data)
    elif isinstance(data, (str, bytes)):
        raise ReplensError(f"data is a single {type(data).__name__}; pass a sequence of sentences, an "
                           f"array, a mapping of arrays or a dataset.")
    elif isinstance(data, Sequence) and data and all(isinstance(text, str) for text in data):
        if not texts:
            raise ReplensError("data holds sentences; a tokenizer must turn them into token ids first: "
                               "use extract_hf_to_cache(model, sentences, path, tokenizer=...).")
        source = _TextSource(data)
    elif isinstance(data, torch.utils.data.DataLoader):
        raise ReplensError("data is a DataLoader; pass its dataset instead (data.dataset): chunks are "
                           "read by index so that an interrupted extraction can resume.")
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        source = _DatasetSource(data, torch)
    else:
        raise ReplensError(
            f"data must be a numpy array, a tensor, a mapping of them, a sequence of sentences or a "
            f"map-style dataset (len() and data[i]); got {type(data).__name__}.")
    if source.n == 0:
        raise TooFewExamplesError("data holds no example; pass at least one.")
    return source


def _floating_dtype(torch: Any, model: Any) -> Any:
    """The dtype of the model's first floating-point parameter or buffer, else None."""
    check_model(torch, model)
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None
