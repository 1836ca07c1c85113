"""Tiles: the coarse tasks of a sweep, and the function a worker runs for one.

A tile is the set of requested model pairs (a, b) with a in one block of ``tile_models``
models and b in another, with all their layer pairs. A worker given a tile reads the
manifest and the activations of the tile's models itself (from the paths in the manifest),
prepares each (measure preparation, model, layer) once, scores every requested layer pair of
every model pair in the tile and writes the tile's file. A tile of B x B model pairs and L
layers costs 2 B L preparations and B^2 x (layer pairs) scores; the task carries only the
store's path and the tile's pair indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..activations.files import load_activations
from ..engine.layouts import as_matrix
from ..measures.registry import Measure, measure
from .store import manifest_path, read_manifest, write_tile


@dataclass(frozen=True)
class Tile:
    """One task: its index in the sweep and its model pairs as (index_a, index_b)."""

    index: int
    pairs: tuple[tuple[int, int], ...]


def plan_tiles(pairs: Sequence[tuple[int, int]], tile_models: int) -> list[Tile]:
    """Group model pairs into tiles by the blocks of `tile_models` models their two sides fall in.

    Deterministic: the same pairs and tile size give the same tiles, in the same order, so a
    rerun finds its finished tiles by index.
    """
    blocks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for a, b in pairs:
        blocks.setdefault((a // tile_models, b // tile_models), []).append((a, b))
    return [Tile(index, tuple(sorted(blocks[key]))) for index, key in enumerate(sorted(blocks))]


def configured_measures(manifest: dict[str, Any]) -> list[Measure]:
    """The manifest's measures, rebuilt from their names and options."""
    return [measure(entry["name"], **entry["options"]) for entry in manifest["measures"]]


def _matrix(array: Any, model: str, layer: str, manifest: dict[str, Any]) -> np.ndarray:
    """Layer `layer` of `model` as compare() sees it: cast to the work dtype, then reshaped."""
    dtype = np.float32 if manifest["dtype"] == "float32" else np.float64
    x = np.asarray(array)
    if x.ndim != 2:
        x = x.astype(dtype, copy=False)
    return as_matrix(np, f"{model}/{layer}", x, conv=manifest["conv"], layout=manifest["layout"],
                     sequence=manifest["sequence"])


def compute_tile(store: Path, tile: Tile, manifest: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The (pairs, values) of one tile: values of shape (measures, model pairs, layer pairs).

    Entries whose layer a model lacks are NaN. Each model's layers are prepared once per
    measure preparation (measures sharing one, e.g. CCA and PWCCA, share it).
    """
    manifest = read_manifest(store) if manifest is None else manifest
    models = manifest["models"]
    layer_names = manifest["layers"]
    layer_pairs = [tuple(p) for p in manifest["layer_pairs"]]
    measures = configured_measures(manifest)
    needed: dict[int, set[str]] = {}
    for a, b in tile.pairs:
        needed.setdefault(a, set()).update(layer_names[la] for la, _ in layer_pairs)
        needed.setdefault(b, set()).update(layer_names[lb] for _, lb in layer_pairs)
    prepared: dict[tuple[Any, int, str], Any] = {}
    for model in sorted(needed):
        entry = models[model]
        acts = load_activations(Path(store, entry["path"]) if entry["in_store"] else Path(entry["path"]))
        for layer in sorted(needed[model] & set(entry["layers"])):
            matrix = _matrix(acts[layer], entry["name"], layer, manifest)
            for m in measures:
                key = (m.preparation_key, model, layer)
                if key not in prepared:
                    prepared[key] = m.prepare(matrix, name=f"{entry['name']}[{layer!r}]")
        del acts
    values = np.full((len(measures), len(tile.pairs), len(layer_pairs)), np.nan)
    for p, (a, b) in enumerate(tile.pairs):
        for q, (la, lb) in enumerate(layer_pairs):
            name_a, name_b = layer_names[la], layer_names[lb]
            if name_a not in models[a]["layers"] or name_b not in models[b]["layers"]:
                continue
            memo: dict = {}
            names = (f"{models[a]['name']}[{name_a!r}]", f"{models[b]['name']}[{name_b!r}]")
            for k, m in enumerate(measures):
                values[k, p, q] = m.score(prepared[(m.preparation_key, a, name_a)],
                                          prepared[(m.preparation_key, b, name_b)], memo, names=names)
    return np.array(tile.pairs, dtype=np.int64).reshape(-1, 2), values


_MANIFESTS: dict[tuple[str, int, int], dict[str, Any]] = {}


def _manifest_of(store: Path) -> dict[str, Any]:
    """The store's manifest, parsed once per worker process (keyed by its mtime and size)."""
    stat = manifest_path(store).stat()
    key = (str(store.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _MANIFESTS:
        _MANIFESTS.clear()
        _MANIFESTS[key] = read_manifest(store)
    return _MANIFESTS[key]


def run_tile(store: str, index: int, pairs: tuple[tuple[int, int], ...]) -> int:
    """What a worker runs: compute tile `index` of the sweep in `store` and write its file.

    Takes only the store's path and the tile's model-pair indices (small, picklable), reads
    everything else from the store and the models' own paths. Returns the tile's index.
    """
    folder = Path(store)
    manifest = _manifest_of(folder)
    tile_pairs, values = compute_tile(folder, Tile(index, tuple(tuple(p) for p in pairs)), manifest)
    write_tile(folder, index, manifest["sweep_id"], tile_pairs, values)
    return index
