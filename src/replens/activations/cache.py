"""ActivationCache: activations on disk, written batch by batch, read lazily.

A cache is a folder::

    acts/
      manifest.json      format tag and version, layers (name, file, per-example shape, dtype),
                         number of examples, a hash of the inputs, what made the cache (the
                         model's fingerprint, the layers asked for, pool, dtype, graph_nodes),
                         the chunks written so far with a CRC-32 of every layer's rows in each,
                         a CRC-32 of every layer file's header and of the manifest itself,
                         versions, times
      layer_0.npy        one .npy per layer, shape (n_examples, *shape), memory-mapped
      layer_1.npy
      ...
      .replens.lock      while a writer holds the cache: its pid, host and start time

Layer files are named by position, so a layer may be called anything (``"layer1.0/conv"``).
Each :meth:`ActivationCache.write` puts one batch of rows into every layer, flushes them to
disk, and only then records the rows in the manifest, which is replaced atomically; after a
crash the manifest never claims rows that are not on disk, and :attr:`resume_from` says where
to start again. Reading returns read-only memory maps, so a cache larger than memory can be
passed to :func:`replens.compare`.

One writer at a time: writing takes an exclusive lock (``flock`` on ``.replens.lock``, which
the kernel releases when the holder dies, so a killed writer never blocks the next one; where
``flock`` is missing, a lock file whose holder is no longer alive on this host is taken over).
A second writer gets a :class:`~replens.errors.ReplensError` naming the holder. The lock is
released when the cache is complete, on :meth:`ActivationCache.close`, or when the writing
object is garbage-collected.

Integrity: every chunk (the rows of one :meth:`ActivationCache.write`) has a CRC-32 per layer
in the manifest, checked the first time a layer is read (:meth:`ActivationCache.__getitem__`)
and by :meth:`ActivationCache.verify` (``replens verify``); a mismatch is a
:class:`~replens.errors.CorruptFileError` naming the file and the chunk. CRC-32 (zlib) detects
every error of up to 32 consecutive bits, so any flipped byte, at about 2.5 GB/s on one core:
accidental damage, not tampering, is what it guards against.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import socket
import tempfile
import weakref
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._io import (CACHE_FORMAT, MANIFEST_NAME, atomic_path, default_mode, package_versions,
                   replens_folder_format, special_file_kind, swap_in)
from .._backend import release_rows
from .._validate import check_positive_int
from ..errors import CorruptFileError, DtypeError, ReplensError, ShapeError, UnknownOptionError
from ._arrays import as_host_array, check_storable_dtype, check_fits_dtype

__all__ = ["ActivationCache", "hash_inputs", "check_unlocked", "LOCK"]

MANIFEST = MANIFEST_NAME
LOCK = ".replens.lock"
_FORMAT = CACHE_FORMAT
_FORMAT_VERSION = 2  # 2: provenance, per-chunk and header checksums, the manifest's own checksum
_HASH_CHUNK = 1 << 24
_CRC_BLOCK = 1 << 24


class ActivationCache:
    """An on-disk store of layer activations for a fixed set of examples.

    Make one with :meth:`create`, fill it with :meth:`write` (or :meth:`append`), and read
    it back, in this process or a later one, with :meth:`open`.

    Attributes
    ----------
    path : Path
        The cache folder.
    layers : tuple of str
        Layer names, in the order given to :meth:`create`.
    n_examples : int
        Number of examples (rows) in every layer.
    inputs_hash : str or None
        The caller's fingerprint of the inputs, e.g. from :func:`hash_inputs`.
    provenance : dict or None
        What made the activations (model fingerprint, layers, pool, dtype, graph_nodes).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from replens.activations.cache import ActivationCache
    >>> path = os.path.join(tempfile.mkdtemp(), "acts")
    >>> cache = ActivationCache.create(path, {"fc1": ((8,), "float32")}, n_examples=6)
    >>> for start in range(cache.resume_from, 6, 4):
    ...     cache.write({"fc1": np.ones((min(4, 6 - start), 8))}, start)
    >>> reopened = ActivationCache.open(path)
    >>> reopened.is_complete, reopened["fc1"].shape
    (True, (6, 8))
    """

    def __init__(self, path: Path, manifest: dict[str, Any], *, allow_incomplete: bool = False,
                 lock: "_WriterLock | None" = None):
        """Use :meth:`create` or :meth:`open`; this takes an already validated manifest."""
        self.path = path
        self._manifest = manifest
        self._allow_incomplete = allow_incomplete
        self._by_name = {layer["name"]: layer for layer in manifest["layers"]}
        self._verified: set[str] = set()
        self._lock: _WriterLock | None = None
        self._release: Any = None
        if lock is not None:
            self._hold(lock)

    # -----------------------------------------------------------------------------------
    # Making and opening

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        layers: Mapping[str, tuple[Any, Any]],
        *,
        n_examples: int,
        inputs_hash: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        resume: bool = False,
    ) -> "ActivationCache":
        """Make an empty cache folder (or, with `resume`, reopen a matching one).

        Parameters
        ----------
        path : str or path-like
            The folder to create. It is built beside its final place and moved there when
            ready, so an interrupted call leaves nothing at `path`.
        layers : mapping name -> (per_example_shape, dtype)
            e.g. ``{"conv1": ((64, 8, 8), "float32"), "fc": (10, np.float16)}``; the shape
            excludes the example axis (an int, a tuple, or ``()`` for one number per
            example), the dtype is a numpy or torch dtype (bool, integer or float; not
            bfloat16, which numpy cannot map). From a first batch:
            ``{name: (a.shape[1:], a.dtype) for name, a in batch.items()}``.
        n_examples : int
            Number of examples every layer will hold.
        inputs_hash : str, optional
            A fingerprint of the inputs, recorded in the manifest and checked on resume.
        provenance : mapping str -> JSON value, optional
            What made the activations, recorded in the manifest and checked field by field
            on resume: :func:`~replens.activations.extract_to_cache` records ``model`` (see
            :func:`~replens.activations.pipeline.model_fingerprint`), ``layers``, ``pool``,
            ``dtype`` and ``graph_nodes``.
        overwrite : bool, default False
            Replace an existing cache at `path`. Only a folder whose manifest carries a
            replens format tag and version (a cache or a comparison's output), or an empty
            folder, is ever deleted; a cache another process is writing is not.
        resume : bool, default False
            If a cache exists at `path` with the same layers, shapes, dtypes, n_examples,
            inputs_hash and provenance, return it so that writing continues from
            :attr:`resume_from`; create it otherwise.

        The returned cache holds the writer lock (see the module docstring) until it is
        complete or :meth:`close` is called.

        Raises
        ------
        ReplensError
            `path` exists and neither flag allows using it; `resume` found a cache made
            for other layers, inputs or provenance (the message names the field); or another
            process is writing the cache (the message names it).
        ShapeError, DtypeError, UnknownOptionError
            A layer spec or option is invalid.
        """
        path = Path(path)
        specs = _parse_specs(layers)
        n_examples = check_positive_int("n_examples", n_examples)
        if inputs_hash is not None and not isinstance(inputs_hash, str):
            raise UnknownOptionError(f"inputs_hash must be a string or None; got "
                                     f"{type(inputs_hash).__name__}. Pass e.g. hash_inputs(inputs).")
        for flag, value in (("overwrite", overwrite), ("resume", resume)):
            if not isinstance(value, bool):
                raise UnknownOptionError(f"{flag} must be True or False; got {value!r}.")
        if overwrite and resume:
            raise UnknownOptionError("overwrite=True and resume=True contradict each other: choose "
                                     "resume to continue an existing cache or overwrite to replace it.")
        provenance = _checked_provenance(provenance)
        if path.exists() and not overwrite:
            if resume:
                return cls._resumed(path, specs, n_examples, inputs_hash, provenance)
            raise ReplensError(
                f"{str(path)!r} already exists. Pass resume=True to continue writing the cache there, "
                f"overwrite=True to replace it, or use ActivationCache.open(path) to read it.")
        old_lock = None
        if path.exists():
            check_replaceable(path)
            if (path / MANIFEST).exists():
                old_lock = _WriterLock.acquire(path)  # never replace a cache someone is writing
        try:
            manifest = _new_manifest(specs, n_examples, inputs_hash, provenance)
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = _build_folder(path, manifest)
        finally:
            if old_lock is not None:
                old_lock.release(unlink=False)
        return cls(path, manifest, lock=lock)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> "ActivationCache":
        """Open an existing cache, checking its manifest against its layer files.

        Parameters
        ----------
        path : str or path-like
            A folder made by :meth:`create`.
        allow_incomplete : bool, default False
            Let layers be read before every row is written (rows never written read as 0).

        Raises
        ------
        FileNotFoundError
            Nothing exists at `path`.
        ReplensError
            `path` is not a cache, the manifest is damaged or from a newer replens, or a layer
            file is missing; ShapeError / DtypeError when a layer file disagrees with it.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no activation cache at {str(path)!r}. Check the path, or make one "
                                    f"with ActivationCache.create(path, layers, n_examples=...).")
        if not path.is_dir():
            raise ReplensError(f"{str(path)!r} is a file, not an activation cache folder. Read activation "
                               f"files with load_activations(path).")
        manifest = _read_manifest(path)
        _check_layer_files(path, manifest)
        return cls(path, manifest, allow_incomplete=allow_incomplete)

    @classmethod
    def _resumed(cls, path: Path, specs: list[tuple[str, tuple[int, ...], np.dtype]], n_examples: int,
                 inputs_hash: str | None, provenance: dict[str, Any] | None) -> "ActivationCache":
        cache = cls.open(path, allow_incomplete=True)
        wanted = {name: (shape, dtype.str) for name, shape, dtype in specs}
        stored = {name: (shape, dtype.str) for name, (shape, dtype) in cache.layer_specs.items()}
        differences = []
        if list(wanted.items()) != list(stored.items()):
            differences.append(f"layers {stored} (asked for {wanted})")
        differences += cache.differences(n_examples=n_examples, inputs_hash=inputs_hash,
                                         provenance=provenance)
        if differences:
            raise ReplensError(
                f"cannot resume {str(path)!r}: it was made with {'; '.join(differences)}. Pass "
                f"overwrite=True to start again, or use another path.")
        cache._allow_incomplete = False
        cache._take_lock()
        return cache

    def differences(self, *, n_examples: int, inputs_hash: str | None,
                    provenance: Mapping[str, Any] | None) -> list[str]:
        """How this cache differs from what a caller asks for, one phrase per field.

        Each phrase names the field and both values: ``"n_examples 10 (asked for 11)"``,
        ``"provenance field 'pool' None (asked for 'mean')"``. Empty when everything
        matches; a field the cache did not record differs from any value asked for.
        """
        out = []
        if self.n_examples != n_examples:
            out.append(f"n_examples {self.n_examples} (asked for {n_examples})")
        if self.inputs_hash != inputs_hash:
            out.append(f"inputs_hash {_short(self.inputs_hash)} (asked for {_short(inputs_hash)})")
        wanted = _checked_provenance(provenance) or {}
        stored = self.provenance or {}
        for field in [*wanted, *(key for key in stored if key not in wanted)]:
            if field not in stored:
                out.append(f"provenance field {field!r} not recorded (asked for {_shown(wanted[field])})")
            elif field not in wanted:
                out.append(f"provenance field {field!r} {_shown(stored[field])} (asked for nothing)")
            elif stored[field] != wanted[field]:
                out.append(f"provenance field {field!r} {_shown(stored[field])} (asked for "
                           f"{_shown(wanted[field])})")
        return out

    # -----------------------------------------------------------------------------------
    # Description

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(layer["name"] for layer in self._manifest["layers"])

    @property
    def n_examples(self) -> int:
        return int(self._manifest["n_examples"])

    @property
    def inputs_hash(self) -> str | None:
        return self._manifest["inputs_hash"]

    @property
    def provenance(self) -> dict[str, Any] | None:
        """What made the activations (model fingerprint, layers, pool, dtype, graph_nodes), as
        given to :meth:`create`; None if nothing was recorded."""
        value = self._manifest.get("provenance")
        return copy.deepcopy(value) if value is not None else None

    @property
    def layer_specs(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """name -> (per-example shape, dtype), in order; the `layers` argument of :meth:`create`."""
        return {layer["name"]: (tuple(layer["shape"]), np.dtype(layer["dtype"]))
                for layer in self._manifest["layers"]}

    @property
    def written(self) -> tuple[tuple[int, int], ...]:
        """The row ranges [start, stop) written so far, sorted and merged."""
        return tuple((start, stop) for start, stop in self._manifest["written"])

    @property
    def completed(self) -> int:
        """How many of the n_examples rows have been written."""
        return sum(stop - start for start, stop in self.written)

    @property
    def resume_from(self) -> int:
        """The first row not yet written (n_examples once complete)."""
        written = self.written
        return written[0][1] if written and written[0][0] == 0 else 0

    @property
    def is_complete(self) -> bool:
        return self.completed == self.n_examples

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest as stored in manifest.json."""
        return copy.deepcopy(self._manifest)

    def __repr__(self) -> str:
        return (f"ActivationCache({str(self.path)!r}, {len(self.layers)} layers, "
                f"{self.completed}/{self.n_examples} examples written)")

    # -----------------------------------------------------------------------------------
    # Writing

    def write(self, batch: Mapping[str, Any], start: int) -> None:
        """Store rows [start, start + b) of every layer and record them in the manifest.

        Parameters
        ----------
        batch : mapping name -> array of shape (b, *shape)
            One array per layer of the cache (all of them; numpy arrays or torch tensors),
            with the same b. Floats of any precision are rounded to the layer's float dtype;
            into an integer or bool layer only casts that cannot change a value are allowed.
        start : int
            The first row to write. Rows may be written in any order, and again.

        Raises
        ------
        ShapeError
            Layers missing or unknown, a shape that does not match the layer, arrays with
            different b, or rows beyond n_examples.
        DtypeError
            An array that is not numeric, or whose values the layer's dtype cannot hold
            (an integer that a cast would change, a float beyond float16's 65504).
        ReplensError
            Another writer holds the cache (the message names it), or the cache was replaced
            since this object opened it.

        The first write takes the writer lock (kept until the cache is complete or
        :meth:`close`); each write records the chunk's CRC-32 per layer in the manifest.
        """
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise UnknownOptionError(f"start must be an integer >= 0 (the first row to write); got "
                                     f"{start!r}.")
        start = int(start)
        arrays = self._checked_batch(batch, start)
        stop = start + next(iter(arrays.values())).shape[0]
        self._take_lock()
        checksums = []
        for name, array in arrays.items():
            rows = np.load(self.path / self._by_name[name]["file"], mmap_mode="r+")
            rows[start:stop] = array
            rows.flush()
            checksums.append(_crc32(rows[start:stop]))
            del rows
        self._record(start, stop, checksums)
        if self.is_complete:
            self.close()

    def close(self) -> None:
        """Release the writer lock, if this object holds it (writing again takes it again)."""
        if self._release is not None:
            self._release()
        self._lock = self._release = None

    def __enter__(self) -> "ActivationCache":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _hold(self, lock: "_WriterLock") -> None:
        self._lock = lock
        self._release = weakref.finalize(self, lock.release)

    def _take_lock(self) -> None:
        """Hold the writer lock, and work from the manifest as it is on disk now."""
        if self._lock is not None:
            return
        lock = _WriterLock.acquire(self.path)
        try:
            manifest = _read_manifest(self.path)
            if manifest["layers"] != self._manifest["layers"] or manifest["n_examples"] != self.n_examples:
                raise ReplensError(
                    f"the activation cache {str(self.path)!r} was replaced by another one since this "
                    f"object opened it; open it again (ActivationCache.open or create(resume=True)).")
        except BaseException:
            lock.release()
            raise
        self._manifest = manifest
        self._hold(lock)

    def append(self, batch: Mapping[str, Any]) -> None:
        """Write `batch` at :attr:`resume_from`: the next rows when writing in order."""
        self.write(batch, self.resume_from)

    def _checked_batch(self, batch: Mapping[str, Any], start: int) -> dict[str, np.ndarray]:
        if not isinstance(batch, Mapping):
            raise ShapeError(f"batch must be a mapping layer name -> array; got {type(batch).__name__}.")
        missing = [name for name in self.layers if name not in batch]
        unknown = [name for name in batch if name not in self._by_name]
        if missing or unknown:
            raise ShapeError(
                f"batch must hold exactly the cache's layers {list(self.layers)}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {unknown}" if unknown else "")
                + ". Write every layer for the same rows together.")
        arrays = {}
        size = None
        for name in self.layers:
            label = f"batch[{name!r}]"
            array = as_host_array(batch[name], label)
            check_storable_dtype(label, array.dtype)
            shape, dtype = tuple(self._by_name[name]["shape"]), np.dtype(self._by_name[name]["dtype"])
            if array.ndim == 0 or array.shape[1:] != shape:
                raise ShapeError(f"{label} must have shape (b, {', '.join(map(str, shape))}{',' if len(shape) == 1 else ''}) "
                                 f"for this layer; got {array.shape}.")
            if not _casts_exactly(array.dtype, dtype):
                raise DtypeError(f"{label} has dtype {array.dtype}, which the layer's dtype {dtype} cannot "
                                 f"hold without changing values. Convert it first, or create the cache "
                                 f"with dtype {array.dtype}.")
            check_fits_dtype(label, array, dtype)
            if size is None:
                size = array.shape[0]
            elif array.shape[0] != size:
                first = self.layers[0]
                raise ShapeError(f"every array in batch must have the same number of rows; got "
                                 f"{size} for {first!r} and {array.shape[0]} for {name!r}.")
            arrays[name] = array
        if size == 0:
            raise ShapeError("batch has 0 rows; pass at least one row per layer.")
        if start + size > self.n_examples:
            raise ShapeError(f"rows [{start}, {start + size}) do not fit: the cache holds {self.n_examples} "
                             f"examples (rows 0 to {self.n_examples - 1}). Check start, or create the "
                             f"cache with a larger n_examples.")
        return arrays

    def _record(self, start: int, stop: int, checksums: list[str]) -> None:
        """Add chunk [start, stop) to the manifest; chunks it overlaps keep only their other rows
        (their checksums computed again from disk), so that chunks never overlap."""
        manifest = copy.deepcopy(self._manifest)
        chunks = []
        for chunk in manifest.get("chunks", []):
            if chunk["stop"] <= start or chunk["start"] >= stop:
                chunks.append(chunk)
                continue
            for begin, end in ((chunk["start"], start), (stop, chunk["stop"])):
                if begin < end:
                    chunks.append({"start": begin, "stop": end, "crc32": self._checksums_on_disk(begin, end)})
        chunks.append({"start": start, "stop": stop, "crc32": checksums})
        manifest["chunks"] = sorted(chunks, key=lambda chunk: chunk["start"])
        manifest["written"] = _merged([*map(list, self.written), [start, stop]])
        manifest["updated"] = _now()
        _write_manifest(self.path, manifest)
        self._manifest = manifest

    def _checksums_on_disk(self, start: int, stop: int) -> list[str]:
        sums = []
        for layer in self._manifest["layers"]:
            rows = np.load(self.path / layer["file"], mmap_mode="r")
            sums.append(_crc32(rows[start:stop]))
            del rows
        return sums

    # -----------------------------------------------------------------------------------
    # Integrity

    def verify(self, layers: Sequence[str] | None = None) -> int:
        """Check every recorded chunk of `layers` (default: all) against its CRC-32.

        Cost: one pass over the bytes written, about 2.5 GB/s on one core. Returns the number
        of (layer, chunk) checksums checked; 0 for a cache written before checksums were
        recorded (format version 1).

        Raises
        ------
        CorruptFileError
            A chunk's bytes differ from what was written; the message names the layer file,
            the layer and the chunk's rows.
        """
        checked = 0
        for name in self.layers if layers is None else layers:
            checked += self._verify_layer(name)
        return checked

    def _verify_layer(self, name: str) -> int:
        index = self.layers.index(name)
        layer = self._by_name[name]
        chunks = self._manifest.get("chunks", [])
        file = self.path / layer["file"]
        rows = np.load(file, mmap_mode="r")
        for number, chunk in enumerate(chunks):
            found = _crc32(rows[chunk["start"]:chunk["stop"]])
            release_rows(rows, chunk["start"], chunk["stop"])  # read once: no need to keep them resident
            if found != chunk["crc32"][index]:
                raise CorruptFileError(
                    f"{str(file)!r} (layer {name!r}) of the activation cache {str(self.path)!r} is "
                    f"corrupt: chunk {number} (rows {chunk['start']} to {chunk['stop'] - 1}) has "
                    f"checksum {found} but {chunk['crc32'][index]} was recorded when it was written. "
                    f"The file was damaged on disk; make the cache again (replens extract "
                    f"--overwrite, or ActivationCache.create(path, ..., overwrite=True)).")
        del rows
        self._verified.add(name)
        return len(chunks)

    # -----------------------------------------------------------------------------------
    # Reading

    def __getitem__(self, name: str) -> np.memmap:
        """Layer `name` as a read-only memory map of shape (n_examples, *shape)."""
        if name not in self._by_name:
            raise UnknownOptionError(f"layer {name!r} is not in the cache at {str(self.path)!r}; it holds "
                                     f"{', '.join(repr(layer) for layer in self.layers)}.")
        if not (self.is_complete or self._allow_incomplete):
            raise ReplensError(
                f"the cache at {str(self.path)!r} is incomplete: {self.completed} of {self.n_examples} "
                f"examples written (first missing row {self.resume_from}). Finish writing it (resume "
                f"from cache.resume_from), or open it with ActivationCache.open(path, "
                f"allow_incomplete=True) to read the rows written so far (unwritten rows read as 0).")
        if name not in self._verified:
            self._verify_layer(name)
        return np.load(self.path / self._by_name[name]["file"], mmap_mode="r")

    def as_dict(self) -> dict[str, np.memmap]:
        """name -> read-only memory map, in layer order; pass it to :func:`replens.compare`."""
        return {name: self[name] for name in self.layers}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self._by_name)


def hash_inputs(*arrays: Any) -> str:
    """A SHA-256 fingerprint of arrays (dtype, shape and values), for ``inputs_hash``.

    Returns ``"sha256:<hex>"``. Equal arrays (same dtype, shape and values, whatever their
    memory layout or byte order) give equal fingerprints across runs and machines; the cost
    is one pass over the bytes.
    """
    digest = hashlib.sha256()
    for index, value in enumerate(arrays):
        array = as_host_array(value, f"arrays[{index}]")
        if array.dtype.kind == "O":
            raise DtypeError(f"arrays[{index}] has dtype object, which has no stable bytes to hash; "
                             f"convert it to a numeric array first.")
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        flat = array.reshape(-1).view(np.uint8)
        for offset in range(0, flat.size, _HASH_CHUNK):
            digest.update(flat[offset:offset + _HASH_CHUNK].data)
    return f"sha256:{digest.hexdigest()}"


# ---------------------------------------------------------------------------------------
# Layer specs


def _parse_specs(layers: Any) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    if not isinstance(layers, Mapping) or not layers:
        raise ShapeError(f"layers must be a non-empty mapping name -> (per_example_shape, dtype), e.g. "
                         f"{{'fc1': ((128,), 'float32')}}; got {layers!r:.100}.")
    specs = []
    for name, spec in layers.items():
        if not isinstance(name, str):
            raise ShapeError(f"layer names must be strings; got {type(name).__name__} {name!r:.80}.")
        label = f"layers[{name!r}]"
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
            raise ShapeError(f"{label} must be a pair (per_example_shape, dtype), e.g. ((128,), "
                             f"'float32'); got {spec!r:.100}.")
        specs.append((name, _parse_shape(label, spec[0]), _parse_dtype(label, spec[1])))
    return specs


def _parse_shape(label: str, shape: Any) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not (isinstance(dims, (tuple, list))
            and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in dims)):
        raise ShapeError(f"{label} shape must be a tuple of positive integers, the shape of one "
                         f"example without the example axis (e.g. (64, 8, 8), or () for a scalar); "
                         f"got {shape!r:.100}.")
    return tuple(int(d) for d in dims)


def _parse_dtype(label: str, dtype: Any) -> np.dtype:
    if type(dtype).__module__ == "torch":
        name = str(dtype).removeprefix("torch.")
        if name == "bfloat16":
            raise DtypeError(f"{label} dtype bfloat16 cannot be memory-mapped by numpy; use float32 (which "
                             f"holds every bfloat16 exactly) or float16.")
        dtype = name
    try:
        parsed = np.dtype(dtype)
    except TypeError as exc:
        raise DtypeError(f"{label} dtype {dtype!r:.80} is not a dtype; use e.g. 'float32' or "
                         f"np.float16.") from exc
    check_storable_dtype(f"{label} dtype", parsed)
    return parsed


def _casts_exactly(source: np.dtype, target: np.dtype) -> bool:
    """Floats round into any float layer; other targets need a cast that keeps every value."""
    if target.kind == "f":
        return source.kind in "biuf"
    return bool(np.can_cast(source, target, casting="safe"))


# ---------------------------------------------------------------------------------------
# The manifest


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_manifest(specs: list[tuple[str, tuple[int, ...], np.dtype]], n_examples: int,
                  inputs_hash: str | None, provenance: dict[str, Any] | None) -> dict[str, Any]:
    created = _now()
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "n_examples": n_examples,
        "inputs_hash": inputs_hash,
        "provenance": provenance,
        "layers": [{"name": name, "file": f"layer_{index}.npy", "shape": list(shape), "dtype": dtype.str}
                   for index, (name, shape, dtype) in enumerate(specs)],
        "written": [],
        "chunks": [],
        "versions": package_versions(),
        "created": created,
        "updated": created,
    }


def _crc32(rows: np.ndarray) -> str:
    """``"crc32:<8 hex digits>"`` of an array's bytes in C order, 16 MiB at a time."""
    flat = np.ascontiguousarray(rows).reshape(-1).view(np.uint8)
    value = 0
    for offset in range(0, flat.size, _CRC_BLOCK):
        value = zlib.crc32(flat[offset:offset + _CRC_BLOCK], value)
    return f"crc32:{value:08x}"


def _manifest_checksum(manifest: Mapping[str, Any]) -> str:
    body = {key: value for key, value in manifest.items() if key != "manifest_crc32"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return f"crc32:{zlib.crc32(text.encode('utf-8')):08x}"


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format_version", 1) >= 2:
        manifest["manifest_crc32"] = _manifest_checksum(manifest)
    with atomic_path(folder / MANIFEST) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the cache folder `path`, checked (structure, then its own checksum)."""
    manifest_path = path / MANIFEST
    special = special_file_kind(manifest_path)
    if special is not None:
        raise ReplensError(f"{str(manifest_path)!r} is {special}, not a file; an activation cache's "
                           f"manifest is a regular file. Check the path.")
    if not manifest_path.is_file():
        raise ReplensError(f"{str(path)!r} has no {MANIFEST}, so it is not an activation cache (or "
                           f"its creation was interrupted). Make one with ActivationCache.create.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_manifest(path, f"it is not valid JSON ({exc})") from exc
    _check_manifest(path, manifest)
    return manifest


def _checked_provenance(provenance: Any) -> dict[str, Any] | None:
    """`provenance` as a JSON round trip (tuples become lists), so it compares equal to what
    the manifest gives back."""
    if provenance is None:
        return None
    if not isinstance(provenance, Mapping) or not all(isinstance(key, str) for key in provenance):
        raise UnknownOptionError(f"provenance must be a mapping str -> JSON value, or None; got "
                                 f"{type(provenance).__name__}.")
    try:
        return json.loads(json.dumps(dict(provenance), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UnknownOptionError(f"provenance must hold JSON values only (str, int, float, bool, None, "
                                 f"lists and dicts of them): {exc}.") from exc


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _short(digest: str | None) -> str:
    return repr(digest) if digest is None or len(digest) <= 24 else repr(f"{digest[:19]}...")


def _merged(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def _bad_manifest(path: Path, problem: str) -> ReplensError:
    return CorruptFileError(f"the manifest of the activation cache {str(path)!r} is invalid: {problem}. The "
                        f"cache is damaged or was edited by hand; make it again with "
                        f"ActivationCache.create(path, ..., overwrite=True).")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_manifest(path: Path, manifest: Any) -> None:
    tag = manifest.get("format") if isinstance(manifest, dict) else None
    if isinstance(tag, str) and tag.startswith("replens.") and tag != _FORMAT and "layers" not in manifest:
        raise ReplensError(f"{str(path)!r} is a {tag} folder written by replens (a comparison's output), not an "
                           f"activation cache; pass a cache folder or an activation file.")
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise _bad_manifest(path, f"its 'format' is not {_FORMAT!r}")
    version = manifest.get("format_version")
    if not _is_int(version) or version < 1:
        raise _bad_manifest(path, f"format_version must be a positive integer; got {version!r}")
    if version > _FORMAT_VERSION:
        raise ReplensError(f"the activation cache {str(path)!r} was written by a newer replens (format "
                           f"version {version}; this one reads up to {_FORMAT_VERSION}). Upgrade replens.")
    n_examples = manifest.get("n_examples")
    if not _is_int(n_examples) or n_examples < 1:
        raise _bad_manifest(path, f"n_examples must be a positive integer; got {n_examples!r}")
    if not isinstance(manifest.get("inputs_hash", ...), (str, type(None))):
        raise _bad_manifest(path, f"inputs_hash must be a string or null; got {manifest.get('inputs_hash', '(missing)')!r}")
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _bad_manifest(path, "layers must be a non-empty list")
    names = set()
    for layer in layers:
        _check_layer_entry(path, layer)
        if layer["name"] in names:
            raise _bad_manifest(path, f"the layer name {layer['name']!r} appears twice")
        names.add(layer["name"])
    if len({layer["file"] for layer in layers}) != len(layers):
        raise _bad_manifest(path, "two layers share a file")
    written = manifest.get("written")
    if not (isinstance(written, list) and all(
            isinstance(r, list) and len(r) == 2 and all(map(_is_int, r)) and 0 <= r[0] < r[1] <= n_examples
            for r in written)):
        raise _bad_manifest(path, f"written must be a list of [start, stop] row ranges within "
                                  f"[0, {n_examples}]; got {written!r:.200}")
    manifest["written"] = _merged(written)
    if version >= 2:
        _check_chunks(path, manifest)
        recorded = manifest.get("manifest_crc32")
        if recorded != _manifest_checksum(manifest):
            raise CorruptFileError(
                f"the manifest of the activation cache {str(path)!r} is corrupt: its checksum is "
                f"{_manifest_checksum(manifest)} but {recorded!r} was recorded when it was written. "
                f"It was damaged on disk or edited by hand; make the cache again with "
                f"ActivationCache.create(path, ..., overwrite=True).")


def _check_chunks(path: Path, manifest: dict[str, Any]) -> None:
    chunks = manifest.get("chunks")
    n_layers = len(manifest["layers"])
    if not (isinstance(chunks, list) and all(
            isinstance(c, dict) and _is_int(c.get("start")) and _is_int(c.get("stop"))
            and 0 <= c["start"] < c["stop"] <= manifest["n_examples"]
            and isinstance(c.get("crc32"), list) and len(c["crc32"]) == n_layers
            and all(isinstance(v, str) for v in c["crc32"]) for c in chunks)):
        raise _bad_manifest(path, f"chunks must be a list of {{start, stop, crc32}} entries with one "
                                  f"checksum per layer; got {chunks!r:.200}")
    covered = _merged([[c["start"], c["stop"]] for c in chunks])
    if covered != manifest["written"] or sum(c["stop"] - c["start"] for c in chunks) != sum(
            stop - start for start, stop in covered):
        raise _bad_manifest(path, f"its chunks cover rows {covered} but written says {manifest['written']}")
    headers = manifest.get("headers")
    if headers is not None and not (isinstance(headers, list) and len(headers) == n_layers
                                    and all(isinstance(v, str) for v in headers)):
        raise _bad_manifest(path, f"headers must be a list of one checksum per layer; got {headers!r:.200}")


def _check_layer_entry(path: Path, layer: Any) -> None:
    if not isinstance(layer, dict) or not all(key in layer for key in ("name", "file", "shape", "dtype")):
        raise _bad_manifest(path, f"each layer needs name, file, shape and dtype; got {layer!r:.200}")
    name, file = layer["name"], layer["file"]
    if not isinstance(name, str):
        raise _bad_manifest(path, f"layer name {name!r:.80} is not a string")
    # A file name only: a manifest must not point outside its own folder.
    if not (isinstance(file, str) and file.endswith(".npy") and Path(file).name == file
            and file not in (".", "..") and "\\" not in file):
        raise _bad_manifest(path, f"layer {name!r} has file {file!r:.80}; expected a .npy file name "
                                  f"inside the cache folder")
    shape = layer["shape"]
    if not (isinstance(shape, list) and all(_is_int(d) and d >= 1 for d in shape)):
        raise _bad_manifest(path, f"layer {name!r} has shape {shape!r:.80}; expected a list of positive "
                                  f"integers")
    try:
        dtype = np.dtype(layer["dtype"]) if isinstance(layer["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise _bad_manifest(path, f"layer {name!r} has dtype {layer['dtype']!r:.80}; expected a numeric "
                                  f"dtype such as '<f4'")


def _check_layer_files(path: Path, manifest: dict[str, Any]) -> None:
    n_examples = manifest["n_examples"]
    headers = manifest.get("headers")
    for index, layer in enumerate(manifest["layers"]):
        file = path / layer["file"]
        special = special_file_kind(file)
        if special is not None:
            raise CorruptFileError(f"{str(file)!r} (layer {layer['name']!r}) of the activation cache "
                                   f"{str(path)!r} is {special}, not a file. The cache is damaged; make it "
                                   f"again with ActivationCache.create(path, ..., overwrite=True).")
        if not file.is_file():
            raise CorruptFileError(f"the activation cache {str(path)!r} is missing {layer['file']} (layer "
                                   f"{layer['name']!r}). The cache is damaged; make it again with "
                                   f"ActivationCache.create(path, ..., overwrite=True).")
        try:
            rows = np.load(file, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # a damaged header fails in many ways (ValueError, SyntaxError, ...)
            raise CorruptFileError(f"could not read {str(file)!r} (layer {layer['name']!r}) of the activation "
                                   f"cache {str(path)!r}: {exc}. The cache is damaged; make it again with "
                                   f"ActivationCache.create(path, ..., overwrite=True).") from exc
        expected = (n_examples, *layer["shape"])
        if rows.shape != expected:
            raise CorruptFileError(f"{str(file)!r} (layer {layer['name']!r}) has shape {rows.shape} but the "
                                   f"manifest says {expected}. The cache is damaged; make it again with "
                                   f"ActivationCache.create(path, ..., overwrite=True).")
        if rows.dtype != np.dtype(layer["dtype"]):
            raise CorruptFileError(f"{str(file)!r} (layer {layer['name']!r}) has dtype {rows.dtype} but the "
                                   f"manifest says {np.dtype(layer['dtype'])}. The cache is damaged; make it "
                                   f"again with ActivationCache.create(path, ..., overwrite=True).")
        offset = rows.offset
        del rows
        if headers is not None:
            found = _header_checksum(file, offset)
            if found != headers[index]:
                raise CorruptFileError(
                    f"{str(file)!r} (layer {layer['name']!r}) of the activation cache {str(path)!r} is "
                    f"corrupt: its .npy header (bytes 0 to {offset - 1}) has checksum {found} but "
                    f"{headers[index]} was recorded. The cache is damaged; make it again with "
                    f"ActivationCache.create(path, ..., overwrite=True).")


def _header_checksum(file: Path, offset: int) -> str:
    with open(file, "rb") as stream:
        return f"crc32:{zlib.crc32(stream.read(offset)):08x}"


# ---------------------------------------------------------------------------------------
# Making and replacing the folder


def check_replaceable(path: Path, option: str = "overwrite=True") -> None:
    """Refuse to replace `path` unless replens wrote it (a cache or an output) or it is empty.

    Overwriting deletes only those, never anything else: a folder is replens's when its
    manifest.json carries a ``replens.*`` format tag and a format version. `option` names the
    caller's flag in the message ("overwrite=True" for the Python API, "overwrite" where it
    may also be the command line's --overwrite).
    """
    if path.is_dir() and not any(path.iterdir()):
        return
    tag, foreign = replens_folder_format(path)
    if tag is not None:
        return
    raise ReplensError(f"{str(path)!r} is not a replens folder: {foreign}. {option} only replaces an "
                       f"activation cache or a replens output (a folder whose {MANIFEST} carries a replens "
                       f"format tag and version), so that nothing replens did not write is deleted. "
                       f"Choose another path, or remove it yourself.")


def _build_folder(path: Path, manifest: dict[str, Any]) -> "_WriterLock":
    """Make the layer files and manifest in a temporary folder, holding its writer lock, then
    move it to `path`; return the lock."""
    building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    lock = None
    try:
        os.chmod(building, default_mode(0o777))  # mkdtemp's 0700 would hide the cache from the group
        lock = _WriterLock.acquire(building)
        headers = []
        for layer in manifest["layers"]:
            rows = np.lib.format.open_memmap(building / layer["file"], mode="w+", dtype=np.dtype(layer["dtype"]),
                                             shape=(manifest["n_examples"], *layer["shape"]))
            rows.flush()
            offset = rows.offset
            del rows
            headers.append(_header_checksum(building / layer["file"], offset))
        manifest["headers"] = headers
        _write_manifest(building, manifest)
        lock.moved_to(path)
        if not path.exists():
            try:
                os.replace(building, path)
            except OSError:
                if not path.exists():
                    raise
                check_unlocked(path)  # another writer made it meanwhile: name it if it still writes
                raise ReplensError(f"{str(path)!r} was created by another writer while this one prepared it; "
                                   f"run again to resume it (resume=True).") from None
            return lock
        shutil.rmtree(swap_in(building, path), ignore_errors=True)
        return lock
    except BaseException:
        if lock is not None:
            lock.release(unlink=False)
        shutil.rmtree(building, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------
# The writer lock


def check_unlocked(path: Path) -> None:
    """Raise the ReplensError naming the writer if one holds the cache at `path` now.

    A probe (the lock is taken and given back at once), so that a second writer is told
    before it does any work; writing takes the lock again for real.
    """
    _WriterLock.acquire(Path(path)).release()


class _WriterLock:
    """An exclusive lock on a cache folder's ``.replens.lock``, naming its holder.

    With ``fcntl.flock`` (Linux, macOS) the kernel holds the lock and drops it when the holder
    exits or is killed, so a dead writer's lock is free at once; the file only says who holds
    it. Without ``flock`` the file's existence is the lock, and one whose holder process is no
    longer alive on this host is taken over.
    """

    def __init__(self, folder: Path, descriptor: int | None) -> None:
        self.file = folder / LOCK
        self.descriptor = descriptor

    @classmethod
    def acquire(cls, folder: Path) -> "_WriterLock":
        try:
            import fcntl
        except ImportError:
            fcntl = None
        for _ in range(100):  # a holder that unlinks its file as we open it: try again
            lock = cls._try_flock(folder, fcntl) if fcntl is not None else cls._try_exclusive(folder)
            if lock is not None:
                return lock
        raise ReplensError(f"could not take the writer lock {str(folder / LOCK)!r}: it kept changing hands. "
                           f"Try again.")

    @classmethod
    def _try_flock(cls, folder: Path, fcntl: Any) -> "_WriterLock | None":
        file = folder / LOCK
        descriptor = os.open(file, os.O_RDWR | os.O_CREAT, default_mode(0o666))
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise _locked(folder, holder) from None
        try:
            same = os.stat(file).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # released and unlinked between our open and our flock
            os.close(descriptor)
            return None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(_holder()).encode(), 0)
        return cls(folder, descriptor)

    @classmethod
    def _try_exclusive(cls, folder: Path) -> "_WriterLock | None":
        file = folder / LOCK
        try:
            descriptor = os.open(file, os.O_RDWR | os.O_CREAT | os.O_EXCL, default_mode(0o666))
        except FileExistsError:
            try:
                with open(file, "rb") as stream:
                    holder = json.loads(stream.read() or b"{}")
            except FileNotFoundError:
                return None
            except ValueError:
                holder = {}
            if _holder_is_gone(holder):
                file.unlink(missing_ok=True)
                return None
            raise _locked(folder, holder) from None
        os.write(descriptor, json.dumps(_holder()).encode())
        os.close(descriptor)
        return cls(folder, None)

    def moved_to(self, folder: Path) -> None:
        """The locked folder is about to be renamed to `folder` (the lock moves with it)."""
        self.file = folder / LOCK

    def release(self, unlink: bool = True) -> None:
        """Give the lock up; `unlink` removes the file too (while still holding it)."""
        if unlink:
            try:
                os.unlink(self.file)
            except FileNotFoundError:
                pass
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}


def _read_holder(descriptor: int) -> dict[str, Any]:
    try:
        record = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _holder_is_gone(holder: Mapping[str, Any]) -> bool:
    """Whether the process that wrote a lock file is dead (only knowable on this host)."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not _is_int(pid) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by someone else
        return False
    return False


def _locked(folder: Path, holder: Mapping[str, Any]) -> ReplensError:
    who = (f"process {holder.get('pid', '?')} on host {holder.get('host', '?')}, writing since "
           f"{holder.get('started', '?')}" if holder else "another process")
    return ReplensError(f"the activation cache {str(folder)!r} is being written by {who}; one writer at a "
                        f"time. Wait for it to finish (or stop it), then run again; a writer that died "
                        f"leaves no lock behind.")
