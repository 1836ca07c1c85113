"""The sweep store: a folder that is the source of truth of one sweep.

Layout::

    STORE/
      sweep.json          the manifest: models (where to read them, their SHA-256, layers,
                          examples), measures and their options, layer pairs, model pairs,
                          conv mode, tile size; written once, atomically, by the driver
      inputs/<k>.npz      models given as in-memory arrays, saved once so that workers read
                          them from a path (the driver never ships arrays)
      tiles/t<index>.npz  one file per finished tile: its model pairs and values

Concurrency without locks: each tile is written by exactly one task to its own file through
:func:`replens._io.atomic_path` (a temporary file, fsync, ``os.replace``), so a reader sees
either no file or the complete tile; a tile computed twice (a retried task whose first try
finished after all) is replaced by identical bytes. The index of what is done is the listing
of ``tiles/``; nothing else is ever rewritten, so many workers on many machines may write
into one shared file system folder at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..errors import CorruptFileError, ReplensError

MANIFEST = "sweep.json"
FORMAT = "replens-sweep/1"

# What a rerun must match exactly; the order is the order the differences are reported in.
CHECKED_KEYS = ("models", "measures", "layers", "layer_pairs", "pairs", "conv", "layout", "sequence",
                "tile_models", "dtype")


class StoreMismatchError(ReplensError):
    """A sweep's inputs or options differ from those its store was made with."""


def manifest_path(store: Path) -> Path:
    return store / MANIFEST


def tile_path(store: Path, index: int) -> Path:
    return store / "tiles" / f"t{index:07d}.npz"


def read_manifest(store: Path) -> dict[str, Any]:
    """The manifest of the sweep in `store`; CorruptFileError if it cannot be parsed."""
    path = manifest_path(store)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"sweep store {store}: cannot read {MANIFEST} ({exc}); the store is "
                               f"damaged; delete the folder to start the sweep again.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptFileError(f"sweep store {store}: {MANIFEST} is not a {FORMAT} manifest (format "
                               f"{manifest.get('format') if isinstance(manifest, dict) else None!r}).")
    return manifest


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between a stored manifest and the one a rerun would write."""
    found = []
    for key in CHECKED_KEYS:
        old, new = stored.get(key), wanted.get(key)
        if old == new:
            continue
        if key == "models":
            found.extend(_model_differences(old or [], new or []))
        else:
            found.append(f"{key}: stored {_short(old)}, now {_short(new)}")
    return found


def _model_differences(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[str]:
    old_names = [m["name"] for m in old]
    new_names = [m["name"] for m in new]
    if old_names != new_names:
        return [f"models: stored {_short(old_names)}, now {_short(new_names)}"]
    found = []
    for before, after in zip(old, new):
        for field in ("sha256", "layers", "shapes", "n_examples"):
            if before.get(field) != after.get(field):
                found.append(f"model {before['name']!r} {field}: stored {_short(before.get(field))}, "
                             f"now {_short(after.get(field))}")
    return found


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def create_or_check(store: Path, manifest: dict[str, Any]) -> bool:
    """Write `manifest` into a new store, or check an existing store's equals it.

    Returns True when the store already existed. Raises StoreMismatchError naming every
    difference when the existing store was made for other inputs or options.
    """
    path = manifest_path(store)
    if path.exists():
        stored = read_manifest(store)
        found = differences(stored, manifest)
        if found:
            raise StoreMismatchError(
                f"store {store} holds a sweep with other inputs or options: " + "; ".join(found)
                + ". Pass a new store, delete this one, or rerun with the stored inputs and options.")
        return True
    if store.exists() and any(store.iterdir()):
        raise StoreMismatchError(f"store {store} exists, is not empty and holds no {MANIFEST}; pass a "
                                 f"new or empty folder as store.")
    (store / "tiles").mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return False


def finished_tiles(store: Path) -> set[int]:
    """Indices of the tiles whose files exist (the index of what is done)."""
    folder = store / "tiles"
    if not folder.is_dir():
        return set()
    done = set()
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith("t") and name.endswith(".npz") and name[1:-4].isdigit():
            done.add(int(name[1:-4]))
    return done


def write_tile(store: Path, index: int, sweep_id: str, pairs: np.ndarray, values: np.ndarray) -> Path:
    """Write one finished tile atomically: its (k, 2) model pairs and (measures, k, layer pairs) values."""
    path = tile_path(store, index)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.savez(stream, sweep_id=np.array(sweep_id), pairs=pairs.astype(np.int64), values=values)
    return path


def read_tile(store: Path, index: int, sweep_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The (pairs, values) of a finished tile; CorruptFileError if it is damaged or foreign."""
    path = tile_path(store, index)
    try:
        with np.load(path, allow_pickle=False) as stored:
            found_id = str(stored["sweep_id"])
            pairs, values = stored["pairs"], stored["values"]
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"sweep store {store}: tile file {path.name} cannot be read ({exc}); "
                               f"delete it and rerun the sweep to compute it again.") from exc
    if found_id != sweep_id:
        raise CorruptFileError(f"sweep store {store}: tile file {path.name} belongs to sweep "
                               f"{found_id!r}, not {sweep_id!r}; delete it and rerun.")
    return pairs, values
