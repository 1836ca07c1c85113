"""ActivationCache: activations on disk, written batch by batch, read lazily.

A cache is a folder::

    acts/
      manifest.json      layers (name, file, per-example shape, dtype), number of examples,
                         a hash of the inputs, the rows written so far, versions, times
      layer_0.npy        one .npy per layer, shape (n_examples, *shape), memory-mapped
      layer_1.npy
      ...

Layer files are named by position, so a layer may be called anything (``"layer1.0/conv"``).
Each :meth:`ActivationCache.write` puts one batch of rows into every layer, flushes them to
disk, and only then records the rows in the manifest, which is replaced atomically; after a
crash the manifest never claims rows that are not on disk, and :attr:`resume_from` says where
to start again. Reading returns read-only memory maps, so a cache larger than memory can be
passed to :func:`replens.compare`. One process writes a cache at a time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, default_mode, package_versions
from .._validate import check_positive_int
from ..errors import DtypeError, ReplensError, ShapeError, UnknownOptionError
from ._arrays import as_host_array, check_storable_dtype

__all__ = ["ActivationCache", "hash_inputs"]

MANIFEST = "manifest.json"
_FORMAT = "replens.activation_cache"
_FORMAT_VERSION = 1
_HASH_CHUNK = 1 << 24


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

    def __init__(self, path: Path, manifest: dict[str, Any], *, allow_incomplete: bool = False):
        """Use :meth:`create` or :meth:`open`; this takes an already validated manifest."""
        self.path = path
        self._manifest = manifest
        self._allow_incomplete = allow_incomplete
        self._by_name = {layer["name"]: layer for layer in manifest["layers"]}

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
        overwrite : bool, default False
            Replace an existing cache at `path` (only a cache or an empty folder is ever
            deleted).
        resume : bool, default False
            If a cache exists at `path` with the same layers, shapes, dtypes, n_examples and
            inputs_hash, return it so that writing continues from :attr:`resume_from`;
            create it otherwise.

        Raises
        ------
        ReplensError
            `path` exists and neither flag allows using it; or `resume` found a cache made
            for other layers or inputs.
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
        if path.exists() and not overwrite:
            if resume:
                return cls._resumed(path, specs, n_examples, inputs_hash)
            raise ReplensError(
                f"{str(path)!r} already exists. Pass resume=True to continue writing the cache there, "
                f"overwrite=True to replace it, or use ActivationCache.open(path) to read it.")
        if path.exists():
            check_replaceable(path)
        manifest = _new_manifest(specs, n_examples, inputs_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        _build_folder(path, manifest)
        return cls(path, manifest)

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
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise ReplensError(f"{str(path)!r} has no {MANIFEST}, so it is not an activation cache (or "
                               f"its creation was interrupted). Make one with ActivationCache.create.")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad_manifest(path, f"it is not valid JSON ({exc})") from exc
        _check_manifest(path, manifest)
        _check_layer_files(path, manifest)
        return cls(path, manifest, allow_incomplete=allow_incomplete)

    @classmethod
    def _resumed(cls, path: Path, specs: list[tuple[str, tuple[int, ...], np.dtype]], n_examples: int,
                 inputs_hash: str | None) -> "ActivationCache":
        cache = cls.open(path)
        wanted = {name: (shape, dtype.str) for name, shape, dtype in specs}
        stored = {name: (shape, dtype.str) for name, (shape, dtype) in cache.layer_specs.items()}
        differences = []
        if list(wanted.items()) != list(stored.items()):
            differences.append(f"layers {stored} (asked for {wanted})")
        if cache.n_examples != n_examples:
            differences.append(f"n_examples {cache.n_examples} (asked for {n_examples})")
        if cache.inputs_hash != inputs_hash:
            differences.append(f"inputs_hash {cache.inputs_hash!r} (asked for {inputs_hash!r})")
        if differences:
            raise ReplensError(
                f"cannot resume {str(path)!r}: it was made with {'; '.join(differences)}. Pass "
                f"overwrite=True to start again, or use another path.")
        return cache

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
            An array that is not numeric, or whose values the layer's dtype cannot hold.
        """
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise UnknownOptionError(f"start must be an integer >= 0 (the first row to write); got "
                                     f"{start!r}.")
        start = int(start)
        arrays = self._checked_batch(batch, start)
        stop = start + next(iter(arrays.values())).shape[0]
        for name, array in arrays.items():
            rows = np.load(self.path / self._by_name[name]["file"], mmap_mode="r+")
            rows[start:stop] = array
            rows.flush()
            del rows
        self._record(start, stop)

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

    def _record(self, start: int, stop: int) -> None:
        manifest = copy.deepcopy(self._manifest)
        manifest["written"] = _merged([*map(list, self.written), [start, stop]])
        manifest["updated"] = _now()
        _write_manifest(self.path, manifest)
        self._manifest = manifest

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
                  inputs_hash: str | None) -> dict[str, Any]:
    created = _now()
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "n_examples": n_examples,
        "inputs_hash": inputs_hash,
        "layers": [{"name": name, "file": f"layer_{index}.npy", "shape": list(shape), "dtype": dtype.str}
                   for index, (name, shape, dtype) in enumerate(specs)],
        "written": [],
        "versions": package_versions(),
        "created": created,
        "updated": created,
    }


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    with atomic_path(folder / MANIFEST) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _merged(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def _bad_manifest(path: Path, problem: str) -> ReplensError:
    return ReplensError(f"the manifest of the activation cache {str(path)!r} is invalid: {problem}. The "
                        f"cache is damaged or was edited by hand; make it again with "
                        f"ActivationCache.create(path, ..., overwrite=True).")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_manifest(path: Path, manifest: Any) -> None:
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
    for layer in manifest["layers"]:
        file = path / layer["file"]
        if not file.is_file():
            raise ReplensError(f"the activation cache {str(path)!r} is missing {layer['file']} (layer "
                               f"{layer['name']!r}). The cache is damaged; make it again with "
                               f"ActivationCache.create(path, ..., overwrite=True).")
        try:
            rows = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ReplensError(f"could not read {str(file)!r} (layer {layer['name']!r}) of the activation "
                               f"cache {str(path)!r}: {exc}. The cache is damaged; make it again with "
                               f"ActivationCache.create(path, ..., overwrite=True).") from exc
        expected = (n_examples, *layer["shape"])
        if rows.shape != expected:
            raise ShapeError(f"{str(file)!r} (layer {layer['name']!r}) has shape {rows.shape} but the "
                             f"manifest says {expected}. The cache is damaged; make it again with "
                             f"ActivationCache.create(path, ..., overwrite=True).")
        if rows.dtype != np.dtype(layer["dtype"]):
            raise DtypeError(f"{str(file)!r} (layer {layer['name']!r}) has dtype {rows.dtype} but the "
                             f"manifest says {np.dtype(layer['dtype'])}. The cache is damaged; make it "
                             f"again with ActivationCache.create(path, ..., overwrite=True).")
        del rows


# ---------------------------------------------------------------------------------------
# Making and replacing the folder


def check_replaceable(path: Path, option: str = "overwrite=True") -> None:
    """Refuse to replace `path` unless it is a cache folder or an empty folder.

    Overwriting deletes only those, never anything else. `option` names the caller's flag in
    the message ("overwrite=True" for the Python API, "overwrite" where it may also be the
    command line's --overwrite).
    """
    if path.is_dir() and ((path / MANIFEST).is_file() or not any(path.iterdir())):
        return
    what = "a file" if not path.is_dir() else f"a folder without {MANIFEST}"
    raise ReplensError(f"{str(path)!r} is {what}, not an activation cache; {option} only replaces "
                       f"a cache. Choose another path, or remove it yourself.")


def _build_folder(path: Path, manifest: dict[str, Any]) -> None:
    """Make the layer files and manifest in a temporary folder, then move it to `path`."""
    building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(building, default_mode(0o777))  # mkdtemp's 0700 would hide the cache from the group
        for layer in manifest["layers"]:
            rows = np.lib.format.open_memmap(building / layer["file"], mode="w+", dtype=np.dtype(layer["dtype"]),
                                             shape=(manifest["n_examples"], *layer["shape"]))
            rows.flush()
            del rows
        _write_manifest(building, manifest)
        if not path.exists():
            os.replace(building, path)
            return
        old = building.with_name(building.name + ".old")
        os.replace(path, old)
        try:
            os.replace(building, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
