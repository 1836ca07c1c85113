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

What a file holds is what was written:

- every layer name :func:`save_activations` accepts loads back identically in every format;
  a name a format cannot hold (a NUL character or a lone surrogate, which no format stores
  faithfully; a name the format reserves) is refused before anything is written, so an
  existing file stays as it was;
- each layer has a checksum that is verified when it is read (:func:`verify_activations`,
  ``replens verify``): the zip CRC-32 of its entry in ``.npz``, a CRC-32 of its values in
  the replens metadata of ``.safetensors`` and ``.h5``; a mismatch or a file that cannot be
  parsed is a :class:`~replens.errors.CorruptFileError` naming the file and the layer;
- a header that declares more data than the file holds (a lying ``.npy`` header inside an
  ``.npz``, a decompression bomb, an HDF5 dataset whose storage is missing) is refused before
  memory is allocated;
- HDF5 external links, soft links, external raw storage and virtual datasets, which read
  other files, are refused; so are FIFOs, devices and sockets, whose reading blocks or never
  ends.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from .._io import atomic_path, optional_import, special_file_kind
from ..errors import CorruptFileError, DtypeError, ReplensError, ShapeError, UnknownOptionError
from ._arrays import MAX_COMPRESSION_RATIO, as_host_array, check_storable_dtype, crc32_of, read_npy_from_zip
from .cache import MANIFEST, ActivationCache

__all__ = ["save_activations", "load_activations", "verify_activations", "Verification"]

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
        The suffix is not one of the formats.
    ReplensError
        A name the format cannot hold: one with a NUL character or a lone surrogate (in any
        format), ``"__replens__"`` or one over 65,000 bytes in ``.npz``, ``"__metadata__"``
        in ``.safetensors``. Nothing is written.
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
    _check_names(kind, [name for name, _ in layers])
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
    CorruptFileError
        The file is damaged: a layer's checksum differs, its structure cannot be parsed, or
        a header declares more data than the file holds (named with the layer).
    ReplensError
        A ``.pt`` file holds something other than a dict of tensors; an HDF5 file reads
        other files (external links or storage, virtual datasets); `path` is a FIFO, a
        device or a socket.
    """
    return _read(Path(path))[0]


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_activations` checked.

    Attributes
    ----------
    path : Path
    kind : str
        ``"npz"``, ``"safetensors"``, ``"h5"``, ``"torch"`` or ``"cache"``.
    layers : int
        Layers read.
    n_examples : int
    checked : int
        Checksums verified (one per layer for files, one per layer and chunk for a cache); 0
        when the file records none (written by another tool, or by replens before checksums).
    method : str
        How: ``"zip CRC-32 per entry"``, ``"CRC-32 per layer"``, ``"CRC-32 per chunk"`` or
        ``"none"``.
    """

    path: Path
    kind: str
    layers: int
    n_examples: int
    checked: int
    method: str


def verify_activations(path: str | os.PathLike[str]) -> Verification:
    """Read every layer of an activation file or cache and verify its checksums.

    Cost: one pass over the file's bytes (CRC-32, about 2.5 GB/s on one core, plus the read
    itself); a cache's layers are read through their memory maps.

    Raises
    ------
    CorruptFileError
        Naming the file and the layer (and for a cache the chunk) whose bytes differ.
    FileNotFoundError, UnknownOptionError, ReplensError
        As for :func:`load_activations`.
    """
    path = Path(path)
    if path.is_dir() and special_file_kind(path) is None:
        if not (path / MANIFEST).is_file():
            _load_cache(path)  # the error that says it is not a cache
        cache = ActivationCache.open(path, allow_incomplete=True)
        checked = cache.verify()
        return Verification(path, "cache", len(cache.layers), cache.n_examples, checked,
                            "CRC-32 per chunk" if checked else "none")
    layers, checked, method = _read(path)
    first = next(iter(layers.values()))
    return Verification(path, _format_of(path, _LOAD_SUFFIXES, "verify_activations"), len(layers),
                        int(first.shape[0]), checked, method if checked else "none")


def _read(path: Path) -> tuple[dict[str, np.ndarray], int, str]:
    """(layers, checksums verified, how) for a file or cache folder."""
    special = special_file_kind(path)
    if special is not None:
        raise ReplensError(f"{str(path)!r} is {special}, not an activation file; reading it would block or "
                           f"never end. Pass a regular file (.npz, .safetensors, .h5, .pt) or a cache folder.")
    if path.is_dir():
        return _load_cache(path), 0, "none"
    if not path.exists():
        raise FileNotFoundError(
            f"no activation file at {str(path)!r}. Check the path, or write one with "
            f"save_activations(path, acts).")
    kind = _format_of(path, _LOAD_SUFFIXES, "load_activations")
    reader = {"npz": _load_npz, "safetensors": _load_safetensors, "h5": _load_h5,
              "torch": _load_torch}[kind]
    layers, checked, method = reader(path)
    return dict(_checked_layers(layers, f"the file {str(path)!r}")), checked, method


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
    return optional_import(module, "io", f"reading or writing {kind} files",
                           hint="or use .npz, which needs nothing more")


def _damaged(path: Path, kind: str, detail: Any) -> CorruptFileError:
    return CorruptFileError(f"could not read {str(path)!r} as {kind}: {str(detail).rstrip('.')}. The file is "
                            f"damaged or was not written as {kind}; write it again with save_activations.")


def _bad_checksum(path: Path, name: str, found: str, recorded: Any) -> CorruptFileError:
    return CorruptFileError(f"{str(path)!r} is corrupt: layer {name!r} has checksum {found} but {recorded!r} "
                            f"was recorded when it was written. The file was damaged after it was written; "
                            f"write it again with save_activations.")


_NPZ_NAME_LIMIT = 65_000  # zip stores a name's length in 16 bits; leave room for ".npy"


def _check_names(kind: str, names: list[str]) -> None:
    """Refuse, before anything is written, a layer name the format `kind` cannot hold."""
    where = {"npz": ".npz", "safetensors": ".safetensors", "h5": "HDF5"}[kind]
    for name in names:
        if "\x00" in name:
            raise ReplensError(f"the layer name {name!r:.80} holds a NUL character, which {where} files cannot "
                               f"store faithfully; rename that layer. Nothing was written.")
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReplensError(f"the layer name {name!r:.80} is not valid Unicode text ({exc.reason}: a lone "
                               f"surrogate), so no file format can store it; rename that layer. Nothing was "
                               f"written.") from exc
        if kind == "npz":
            if name == _NPZ_META:
                raise ReplensError(f"the layer name {_NPZ_META!r} is reserved in .npz files (it holds the "
                                   f"layer order); rename that layer or use .safetensors or .h5. Nothing was "
                                   f"written.")
            if len(encoded) > _NPZ_NAME_LIMIT:
                raise ReplensError(f"the layer name {name[:40]!r}... is {len(encoded)} bytes long; .npz (zip) "
                                   f"entry names hold at most {_NPZ_NAME_LIMIT}. Use .safetensors or .h5, or a "
                                   f"shorter name. Nothing was written.")
            if zipfile.ZipInfo(name + ".npy").filename != name + ".npy":
                raise ReplensError(f"the layer name {name!r:.80} would be changed by zip on this system (path "
                                   f"separators); use .safetensors or .h5, or rename that layer. Nothing was "
                                   f"written.")
        if kind == "safetensors" and name == "__metadata__":
            raise ReplensError("the layer name '__metadata__' is reserved in .safetensors files; rename that "
                               "layer or use .npz or .h5. Nothing was written.")


# ---------------------------------------------------------------------------------------
# .npz


def _save_npz(path: Path, layers: list[tuple[str, np.ndarray]]) -> None:
    names = [name for name, _ in layers]
    # Written entry by entry (as np.savez does) so that any name works, even 'file'. The layer
    # order comes first: a damaged directory that loses entries then loses layers it lists.
    meta = np.asarray(json.dumps({"format_version": _FORMAT_VERSION, "layers": names}))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in [(_NPZ_META, meta), *layers]:
            with archive.open(name + ".npy", "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, array, allow_pickle=False)


def _load_npz(path: Path) -> tuple[list[tuple[str, np.ndarray]], int, str]:
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
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, struct.error, NotImplementedError...: all damage
        raise _damaged(path, ".npz", exc) from exc
    with archive:
        entries = {}
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise _damaged(path, ".npz", f"its entry {info.filename!r} is not a .npy array")
            entries[info.filename[:-4]] = info
        if len(entries) != len(archive.infolist()):
            raise _damaged(path, ".npz", "two entries have the same name")
        names = [name for name in entries if name != _NPZ_META]
        if _NPZ_META in entries:
            names = _stored_order(path, ".npz", _read_npz_entry(path, archive, entries[_NPZ_META], _NPZ_META)[()],
                                  names)
        layers = [(name, _read_npz_entry(path, archive, entries[name], name)) for name in names]
    return layers, len(layers), "zip CRC-32 per entry"


def _read_npz_entry(path: Path, archive: Any, info: Any, name: str) -> np.ndarray:
    if name == _NPZ_META:
        # The layer order: a 0-d unicode array, the one non-numeric entry replens writes.
        if info.file_size > 1 << 28:
            raise _damaged(path, ".npz", f"its {_NPZ_META} entry is {info.file_size} bytes")
        try:
            with archive.open(info) as stream:
                meta = np.lib.format.read_array(stream, allow_pickle=False)
        except Exception as exc:  # BadZipFile, zlib.error, a header that does not parse...
            raise _damaged(path, ".npz", f"its {_NPZ_META} entry: {exc}") from exc
        if meta.dtype.kind != "U" or meta.ndim != 0:
            raise _damaged(path, ".npz", f"its {_NPZ_META} entry is not a text")
        return meta
    return read_npy_from_zip(archive, info, f"the entry {name!r} of {str(path)!r}",
                             lambda detail: _damaged(path, ".npz", f"layer {name!r}: {detail}"))


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
    tensors = {name: np.ascontiguousarray(array) for name, array in layers}
    meta = json.dumps({"format_version": _FORMAT_VERSION, "layers": list(tensors),
                       "crc32": [crc32_of(array) for array in tensors.values()]})
    save_file(tensors, str(path), metadata={_SAFETENSORS_META: meta})


def _load_safetensors(path: Path) -> tuple[list[tuple[str, np.ndarray]], int, str]:
    safetensors = _optional("safetensors", "safetensors", ".safetensors")
    try:
        with safetensors.safe_open(str(path), framework="np") as stored:
            present = list(stored.keys())
            meta = (stored.metadata() or {}).get(_SAFETENSORS_META)
            names = present if meta is None else _stored_order(path, ".safetensors", meta, present)
            layers = [(name, _safetensors_entry(stored, path, name)) for name in names]
    except safetensors.SafetensorError as exc:
        raise _damaged(path, ".safetensors", exc) from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, ReplensError):
            raise
        raise _damaged(path, ".safetensors", exc) from exc
    return layers, _check_sums(path, ".safetensors", meta, layers), "CRC-32 per layer"


def _safetensors_entry(stored: Any, path: Path, name: str) -> np.ndarray:
    try:
        return stored.get_tensor(name)
    except (TypeError, AttributeError):  # a dtype numpy lacks (bfloat16, float8): read it through torch
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as through_torch:
            return as_host_array(through_torch.get_tensor(name), f"the entry {name!r} of {str(path)!r}")


def _check_sums(path: Path, kind: str, meta: Any, layers: list[tuple[str, np.ndarray]]) -> int:
    """Verify the per-layer CRC-32 recorded in replens metadata; the number checked (0: none)."""
    if meta is None:
        return 0
    recorded = json.loads(str(meta)).get("crc32")
    if recorded is None:  # written by replens before checksums
        return 0
    if not (isinstance(recorded, list) and len(recorded) == len(layers)):
        raise _damaged(path, kind, f"its metadata holds {recorded!r:.100} as checksums for {len(layers)} layers")
    for (name, array), expected in zip(layers, recorded):
        found = crc32_of(array)
        if found != expected:
            raise _bad_checksum(path, name, found, expected)
    return len(layers)


# ---------------------------------------------------------------------------------------
# .h5 / .hdf5


def _save_h5(path: Path, layers: list[tuple[str, np.ndarray]]) -> None:
    h5py = _optional("h5py", "h5py", "HDF5")

    meta = json.dumps({"format_version": _FORMAT_VERSION, "layers": [name for name, _ in layers],
                       "crc32": [crc32_of(array) for _, array in layers]})
    with h5py.File(path, "w", track_order=True) as stored:
        stored.attrs[_H5_META] = meta
        for index, (name, array) in enumerate(layers):
            dataset = stored.create_dataset(f"layer_{index}", data=array)
            dataset.attrs[_H5_NAME] = name  # for other readers; replens reads the names from the metadata


def _load_h5(path: Path) -> tuple[list[tuple[str, np.ndarray]], int, str]:
    h5py = _optional("h5py", "h5py", "HDF5")

    try:
        stored = h5py.File(path, "r")
    except OSError as exc:
        raise _damaged(path, "HDF5", exc) from exc
    try:
        with stored:
            if _H5_META not in stored.attrs:
                return _foreign_h5(path, stored), 0, "none"
            meta = stored.attrs[_H5_META]
            datasets = _h5_datasets(path, stored)
            by_position = {key: dataset for key, dataset in datasets}
            try:
                names = json.loads(str(meta))["layers"]
            except (ValueError, KeyError, TypeError) as exc:
                raise _damaged(path, "HDF5", f"its replens metadata is unreadable ({exc})") from exc
            keys = [f"layer_{index}" for index in range(len(names) if isinstance(names, list) else 0)]
            if sorted(keys) != sorted(by_position):
                raise _damaged(path, "HDF5", f"its metadata lists {len(keys)} layers but it holds datasets "
                                             f"{sorted(by_position)!r:.200}")
            _stored_order(path, "HDF5", meta, names)
            layers = [(name, _h5_array(path, name, by_position[key])) for name, key in zip(names, keys)]
            checked = _check_sums(path, "HDF5", meta, layers)
    except (OSError, RuntimeError, KeyError) as exc:  # h5py reports damaged structures so
        raise _damaged(path, "HDF5", exc) from exc
    return layers, checked, "CRC-32 per layer"


def _foreign_h5(path: Path, stored: Any) -> list[tuple[str, np.ndarray]]:
    """Every dataset of a file written elsewhere, named by its path without the leading '/'."""
    return [(name, _h5_array(path, name, dataset)) for name, dataset in _h5_datasets(path, stored)]


def _h5_datasets(path: Path, group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every dataset under `group`, in the file's order, reached through hard links only.

    External links (and soft links, which may point anywhere or loop) are refused rather
    than followed, so reading a file never opens another one.
    """
    import h5py

    found: list[tuple[str, Any]] = []
    for key in group:
        name = f"{prefix}{key}"
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise ReplensError(f"{str(path)!r} holds an HDF5 external link {name!r} -> {link.filename}:{link.path}; "
                               f"replens never follows links into other files. Copy the data into the file "
                               f"(h5py: del f[name]; f[name] = data).")
        if isinstance(link, h5py.SoftLink):
            raise ReplensError(f"{str(path)!r} holds an HDF5 soft link {name!r} -> {link.path}; replens reads "
                               f"datasets through hard links only. Store the data under that name instead.")
        item = group[key]
        if isinstance(item, h5py.Group):
            found += _h5_datasets(path, item, f"{name}/")
        elif isinstance(item, h5py.Dataset):
            found.append((name, item))
    return found


def _h5_array(path: Path, name: str, dataset: Any) -> np.ndarray:
    check_storable_dtype(f"the entry {name!r} of {str(path)!r}", dataset.dtype)
    if dataset.is_virtual:
        raise ReplensError(f"the entry {name!r} of {str(path)!r} is an HDF5 virtual dataset, which reads other "
                           f"files; replens reads data stored in the file itself. Copy it into a plain dataset.")
    if dataset.external:
        raise ReplensError(f"the entry {name!r} of {str(path)!r} keeps its data in external files "
                           f"({dataset.external[0][0]!r}...); replens reads data stored in the file itself. Copy "
                           f"it into a plain dataset.")
    declared = int(dataset.size) * dataset.dtype.itemsize
    stored = int(dataset.id.get_storage_size())
    file_size = os.path.getsize(path)
    plain = dataset.chunks is None and not dataset.compression
    if declared and (stored == 0 or stored > file_size or (plain and stored < declared)
                     or declared > MAX_COMPRESSION_RATIO * stored):
        raise _damaged(path, "HDF5", f"layer {name!r} declares shape {dataset.shape} of {dataset.dtype} ({declared} "
                                     f"bytes) but stores {stored} bytes in a {file_size}-byte file; refused "
                                     f"before reading")
    return np.asarray(dataset[()])


# ---------------------------------------------------------------------------------------
# .pt / .pth


def _load_torch(path: Path) -> list[tuple[str, np.ndarray]]:
    torch = optional_import("torch", "torch", f"reading {str(path)!r}",
                            hint="or save the activations as .safetensors or .npz")
    checked = _check_torch_records(path)
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
    return list(stored.items()), checked, "zip CRC-32 per record"


def _check_torch_records(path: Path) -> int:
    """Verify the zip CRC-32 of every record of a torch.save file (torch.load does not);
    the number checked, 0 for the legacy non-zip format, which has no checksums."""
    if not zipfile.is_zipfile(path):
        return 0
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            for info in records:
                with archive.open(info) as stream:
                    while stream.read(1 << 24):
                        pass
    except Exception as exc:  # BadZipFile ("Bad CRC-32 for file ..."), zlib.error, EOFError...
        raise _damaged(path, "a torch.save file", f"{type(exc).__name__}: {exc}") from exc
    return len(records)


# ---------------------------------------------------------------------------------------
# Cache folders


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    if not (path / MANIFEST).is_file():
        raise ReplensError(
            f"{str(path)!r} is a folder without a {MANIFEST}, so it is not an ActivationCache. "
            f"Pass an activation file (.npz, .safetensors, .h5, .pt) or a cache folder.")
    return ActivationCache.open(path).as_dict()
