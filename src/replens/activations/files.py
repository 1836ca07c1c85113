"""Activation files: save and load an ordered mapping layer name -> array (n, ...).

Formats are chosen by the path's suffix:

``.npz``
    numpy's zip of ``.npy`` entries, one per layer, plus a ``__replens__`` entry (a JSON
    string) that records the layer order. Read with ``allow_pickle=False``.
``.safetensors``
    one tensor per layer under its own name; the order is kept in the header metadata.
    Needs the ``safetensors`` package.
``.h5`` / ``.hdf5``
    one dataset per layer (``layer_0``, ``layer_1``, ...) whose ``replens_name`` attribute
    holds the layer's name, since HDF5 reads ``/`` in a name as a group separator; the order
    is kept in a root attribute. Needs ``h5py``.
``.pt`` / ``.pth`` (read only)
    a dict of tensors saved by ``torch.save``, read with ``torch.load(weights_only=True)``,
    which refuses any pickled object other than tensors and plain containers.
a folder
    an :class:`~replens.activations.cache.ActivationCache`; its layers come back as read-only
    memory maps.

Nothing is ever unpickled. Files written here are written to a temporary file in the
destination folder and moved into place with :func:`os.replace`, so a reader sees the old
file or the complete new one, never a partial one, and a failed write leaves nothing behind.
Files written by other tools are read too; their entries then come in the file's own order
(zip order for ``.npz``, name order for ``.safetensors`` and ``.h5``).
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from .._io import atomic_path
from ..errors import DtypeError, ReplensError, ShapeError, UnknownOptionError
from ._arrays import as_host_array, check_storable_dtype
from .cache import MANIFEST, ActivationCache

__all__ = ["save_activations", "load_activations"]

Activations = Union[Mapping[str, Any], Sequence[tuple[str, Any]]]

_FORMAT_VERSION = 1
_NPZ_META = "__replens__"
_SAFETENSORS_META = "replens"
_H5_META = "replens"
_H5_NAME = "replens_name"

_SAVE_SUFFIXES = {".npz": "npz", ".safetensors": "safetensors", ".h5": "h5", ".hdf5": "h5"}
_LOAD_SUFFIXES = {**_SAVE_SUFFIXES, ".pt": "torch", ".pth": "torch"}


# ---------------------------------------------------------------------------------------
# Public functions


def save_activations(path: str | os.PathLike[str], acts: Activations) -> Path:
    """Write activations to ``.npz``, ``.safetensors`` or ``.h5`` / ``.hdf5``, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its suffix picks the format. Missing parent folders are created and an
        existing file is replaced (only once the new one is complete).
    acts : mapping name -> array of shape (n, ...), or sequence of (name, array) pairs
        numpy arrays, torch tensors (detached and copied to the CPU; bfloat16 is widened to
        float32, exactly) or array-likes, all with the same number of examples n and a real
        or boolean dtype. Names are any strings and are kept exactly, in order.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    UnknownOptionError
        The suffix is not one of the formats, or a name is reserved by the format.
    ShapeError
        `acts` is empty, names repeat or are not strings, an array is 0-D, or the arrays
        disagree on n.
    DtypeError
        An array is not numeric (object, string, complex...).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from replens.activations.files import save_activations, load_activations
    >>> folder = tempfile.mkdtemp()
    >>> acts = {"layer1.0/conv": np.ones((4, 3), np.float32), "fc": np.zeros((4, 2))}
    >>> path = save_activations(os.path.join(folder, "acts.npz"), acts)
    >>> list(load_activations(path))
    ['layer1.0/conv', 'fc']
    """
    path = Path(path)
    kind = _format_of(path, _SAVE_SUFFIXES, "save_activations")
    layers = _checked_layers(_as_items(acts, "acts"), "acts")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = {"npz": _save_npz, "safetensors": _save_safetensors, "h5": _save_h5}[kind]
    with atomic_path(path) as temporary:
        writer(temporary, layers)
    return path


def load_activations(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read activations written by :func:`save_activations` (or a compatible file).

    Parameters
    ----------
    path : str or path-like
        An ``.npz``, ``.safetensors``, ``.h5`` / ``.hdf5`` or ``.pt`` / ``.pth`` file, or an
        :class:`~replens.activations.cache.ActivationCache` folder.

    Returns
    -------
    dict name -> ndarray of shape (n, ...)
        In stored order. Arrays from files are in memory; a cache's are read-only memory
        maps, read only when used. bfloat16 tensors (``.pt``, ``.safetensors``) become
        float32, exactly.

    Raises
    ------
    FileNotFoundError
        Nothing exists at `path`.
    UnknownOptionError
        The suffix is not a known format.
    DtypeError
        An entry is not numeric; in particular an ``.npz`` entry that would need unpickling.
    ShapeError
        The file holds no arrays, a 0-D entry, or entries that disagree on n.
    ReplensError
        The file is damaged, or a ``.pt`` file holds something other than a dict of tensors.
    """
    path = Path(path)
    if path.is_dir():
        return _load_cache(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no activation file at {str(path)!r}. Check the path, or write one with "
            f"save_activations(path, acts).")
    kind = _format_of(path, _LOAD_SUFFIXES, "load_activations")
    reader = {"npz": _load_npz, "safetensors": _load_safetensors, "h5": _load_h5,
              "torch": _load_torch}[kind]
    layers = reader(path)
    return dict(_checked_layers(layers, f"the file {str(path)!r}"))


def _format_of(path: Path, suffixes: Mapping[str, str], function: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        listed = ", ".join(suffixes)
        got = f"suffix {suffix!r}" if suffix else "no suffix"
        raise UnknownOptionError(
            f"{function} reads the format from the file's suffix, one of {listed}; got {got} in "
            f"{str(path)!r}. Use one of those suffixes"
            + (" (or ActivationCache for a folder of memory-mapped arrays)." if function == "save_activations"
               else ", or an ActivationCache folder."))
    return suffixes[suffix]


def _as_items(acts: Any, argument: str) -> list[tuple[Any, Any]]:
    if isinstance(acts, Mapping):
        return list(acts.items())
    if isinstance(acts, (str, bytes)) or not isinstance(acts, Sequence):
        raise ShapeError(f"{argument} must be a mapping name -> array or a sequence of (name, array) "
                         f"pairs; got {type(acts).__name__}.")
    items = list(acts)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ShapeError(f"{argument} must be a mapping name -> array or a sequence of (name, "
                             f"array) pairs; got an item {type(item).__name__} {item!r:.80}.")
    return items


def _checked_layers(items: list[tuple[Any, Any]], argument: str) -> list[tuple[str, np.ndarray]]:
    if not items:
        raise ShapeError(f"{argument} holds no layers; expected at least one name -> array (n, ...).")
    names = [name for name, _ in items]
    for name in names:
        if not isinstance(name, str):
            raise ShapeError(f"layer names in {argument} must be strings; got {type(name).__name__} "
                             f"{name!r:.80}. Convert the names with str().")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ShapeError(f"{argument} has duplicate layer names {duplicated}; names must be unique. "
                         f"Rename the layers, e.g. by adding a suffix.")
    layers = []
    for name, value in items:
        label = f"{argument}[{name!r}]"
        array = as_host_array(value, label)
        check_storable_dtype(label, array.dtype)
        if array.ndim == 0:
            raise ShapeError(f"{label} must have shape (n, ...) with one row per example; got a "
                             f"0-D array. Reshape it, e.g. array.reshape(1).")
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        layers.append((name, array))
    first_name, first = layers[0]
    for name, array in layers[1:]:
        if array.shape[0] != first.shape[0]:
            raise ShapeError(
                f"every layer in {argument} must have the same number of examples n (first axis); "
                f"got {first_name!r} {first.shape} and {name!r} {array.shape}. Rows must be the "
                f"same inputs, in the same order, for every layer.")
    return layers


def _optional(module: str, package: str, kind: str) -> Any:
    """Import a reader's package only when its format is used, saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{kind} files need the {package} package, which is not installed; install "
                          f"it (pip install {package}) or use .npz, which needs nothing more.") from exc


def _damaged(path: Path, kind: str, detail: Any) -> ReplensError:
    return ReplensError(f"could not read {str(path)!r} as {kind}: {str(detail).rstrip('.')}. The file is damaged or "
                        f"was not written as {kind}; write it again with save_activations.")


# ---------------------------------------------------------------------------------------
# .npz


def _save_npz(path: Path, layers: list[tuple[str, np.ndarray]]) -> None:
    names = [name for name, _ in layers]
    if _NPZ_META in names:
        raise UnknownOptionError(f"the layer name {_NPZ_META!r} is reserved in .npz files (it holds "
                                 f"the layer order); rename that layer or use .safetensors or .h5.")
    # Written entry by entry (as np.savez does) so that any name works, even 'file'.
    meta = np.asarray(json.dumps({"format_version": _FORMAT_VERSION, "layers": names}))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in [*layers, (_NPZ_META, meta)]:
            with archive.open(name + ".npy", "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, array, allow_pickle=False)


def _load_npz(path: Path) -> list[tuple[str, np.ndarray]]:
    with open(path, "rb") as stream:
        magic = stream.read(6)
    if magic.startswith(b"\x80"):
        raise DtypeError(f"{str(path)!r} holds pickled Python objects, not a zip of arrays, and replens "
                         f"never unpickles. Write the activations with save_activations.")
    if magic.startswith(b"\x93NUMPY"):
        raise _damaged(path, ".npz", "it holds a single .npy array, not a zip of named arrays")
    if not magic.startswith(b"PK"):
        raise _damaged(path, ".npz", "it is not a zip archive")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _damaged(path, ".npz", exc) from exc
    with archive:
        names = [name for name in archive.files if name != _NPZ_META]
        if _NPZ_META in archive.files:
            names = _stored_order(path, ".npz", _read_npz_entry(path, archive, _NPZ_META)[()], names)
        return [(name, _read_npz_entry(path, archive, name)) for name in names]


def _read_npz_entry(path: Path, archive: Any, name: str) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DtypeError(
                f"the entry {name!r} of {str(path)!r} is an object array, which could only be read "
                f"by unpickling it, and replens never unpickles. Save numeric arrays instead "
                f"(array.astype('float32')).") from exc
        raise _damaged(path, ".npz", exc) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _damaged(path, ".npz", exc) from exc


def _stored_order(path: Path, kind: str, meta: Any, present: list[str]) -> list[str]:
    """The layer order recorded in a file, checked against the entries it holds."""
    try:
        record = json.loads(str(meta))
        names = record["layers"]
        version = record["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _damaged(path, kind, f"its replens metadata is unreadable ({exc})") from exc
    if not isinstance(version, int) or version > _FORMAT_VERSION:
        raise ReplensError(f"{str(path)!r} was written by a newer replens (format version {version}; "
                           f"this one reads up to {_FORMAT_VERSION}). Upgrade replens.")
    if not (isinstance(names, list) and sorted(names) == sorted(present)):
        raise _damaged(path, kind, f"its metadata lists layers {names!r:.200} but it holds "
                                   f"{present!r:.200}")
    return names


# ---------------------------------------------------------------------------------------
# .safetensors


def _save_safetensors(path: Path, layers: list[tuple[str, np.ndarray]]) -> None:
    save_file = _optional("safetensors.numpy", "safetensors", ".safetensors").save_file
    names = [name for name, _ in layers]
    if "__metadata__" in names:
        raise UnknownOptionError("the layer name '__metadata__' is reserved in .safetensors files; "
                                 "rename that layer or use .npz or .h5.")
    meta = json.dumps({"format_version": _FORMAT_VERSION, "layers": names})
    tensors = {name: np.ascontiguousarray(array) for name, array in layers}
    save_file(tensors, str(path), metadata={_SAFETENSORS_META: meta})


def _load_safetensors(path: Path) -> list[tuple[str, np.ndarray]]:
    safetensors = _optional("safetensors", "safetensors", ".safetensors")
    try:
        with safetensors.safe_open(str(path), framework="np") as stored:
            present = list(stored.keys())
            meta = (stored.metadata() or {}).get(_SAFETENSORS_META)
            names = present if meta is None else _stored_order(path, ".safetensors", meta, present)
            return [(name, _safetensors_entry(stored, path, name)) for name in names]
    except safetensors.SafetensorError as exc:
        raise _damaged(path, ".safetensors", exc) from exc


def _safetensors_entry(stored: Any, path: Path, name: str) -> np.ndarray:
    try:
        return stored.get_tensor(name)
    except TypeError:  # a dtype numpy lacks (bfloat16, float8): read it through torch
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as through_torch:
            return as_host_array(through_torch.get_tensor(name), f"the entry {name!r} of {str(path)!r}")


# ---------------------------------------------------------------------------------------
# .h5 / .hdf5


def _save_h5(path: Path, layers: list[tuple[str, np.ndarray]]) -> None:
    h5py = _optional("h5py", "h5py", "HDF5")

    meta = json.dumps({"format_version": _FORMAT_VERSION, "layers": [name for name, _ in layers]})
    with h5py.File(path, "w", track_order=True) as stored:
        stored.attrs[_H5_META] = meta
        for index, (name, array) in enumerate(layers):
            dataset = stored.create_dataset(f"layer_{index}", data=array)
            dataset.attrs[_H5_NAME] = name


def _load_h5(path: Path) -> list[tuple[str, np.ndarray]]:
    h5py = _optional("h5py", "h5py", "HDF5")

    try:
        stored = h5py.File(path, "r")
    except OSError as exc:
        raise _damaged(path, "HDF5", exc) from exc
    with stored:
        if _H5_META not in stored.attrs:
            return _foreign_h5(stored)
        by_name = {}
        for key, dataset in stored.items():
            if isinstance(dataset, h5py.Dataset) and _H5_NAME in dataset.attrs:
                by_name[str(dataset.attrs[_H5_NAME])] = dataset
        names = _stored_order(path, "HDF5", stored.attrs[_H5_META], list(by_name))
        return [(name, _h5_array(path, name, by_name[name])) for name in names]


def _foreign_h5(stored: Any) -> list[tuple[str, np.ndarray]]:
    """Every dataset of a file written elsewhere, named by its path without the leading '/'."""
    import h5py

    datasets: list[tuple[str, Any]] = []
    stored.visititems(lambda name, item: datasets.append((name, item))
                      if isinstance(item, h5py.Dataset) else None)
    return [(name, _h5_array(Path(stored.filename), name, dataset)) for name, dataset in datasets]


def _h5_array(path: Path, name: str, dataset: Any) -> np.ndarray:
    check_storable_dtype(f"the entry {name!r} of {str(path)!r}", dataset.dtype)
    return np.asarray(dataset[()])


# ---------------------------------------------------------------------------------------
# .pt / .pth


def _load_torch(path: Path) -> list[tuple[str, np.ndarray]]:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"reading {str(path)!r} needs torch; install it (pip install torch) or "
                          f"save the activations as .safetensors or .npz.") from exc
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise ReplensError(
            f"could not read {str(path)!r} with torch.load(weights_only=True): "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. replens reads only "
            f".pt files holding a dict name -> tensor and never unpickles other objects; save "
            f"the activations with save_activations(path.safetensors, acts) instead.") from exc
    if not (isinstance(stored, Mapping) and all(torch.is_tensor(value) for value in stored.values())):
        got = (f"a dict with values of type {sorted({type(v).__name__ for v in stored.values()})}"
               if isinstance(stored, Mapping) else f"a {type(stored).__name__}")
        raise ReplensError(f"{str(path)!r} must hold a dict name -> tensor; got {got}. Save "
                           f"{{name: tensor}} with torch.save, or use save_activations.")
    return list(stored.items())


# ---------------------------------------------------------------------------------------
# Cache folders


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    if not (path / MANIFEST).is_file():
        raise ReplensError(
            f"{str(path)!r} is a folder without a {MANIFEST}, so it is not an ActivationCache. "
            f"Pass an activation file (.npz, .safetensors, .h5, .pt) or a cache folder.")
    return ActivationCache.open(path).as_dict()
