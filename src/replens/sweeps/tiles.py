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
from ..engine.compare import compare
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

    Entries whose layer a model lacks are NaN. The tile's models are read once. When the
    tile's pairs are a whole block (every pair of its two model blocks, or the upper triangle
    of a block with itself), each layer of the left side is compared with its partner layers
    of the right side by one :func:`replens.compare` call over all the tile's models, so that
    compare's whole-matrix paths apply (Gram-space linear CKA: one pass forming every model's
    Gram rows, ``n^2 / 2`` per pair instead of ``n p^2``); otherwise, and for sparse tiles,
    each (measure preparation, model, layer) is prepared once and every requested pair scored.
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
    matrices: dict[int, dict[str, np.ndarray]] = {}
    for model in sorted(needed):
        entry = models[model]
        acts = load_activations(Path(store, entry["path"]) if entry["in_store"] else Path(entry["path"]))
        matrices[model] = {layer: _matrix(acts[layer], entry["name"], layer, manifest)
                           for layer in sorted(needed[model] & set(entry["layers"]))}
        del acts
    values = np.full((len(measures), len(tile.pairs), len(layer_pairs)), np.nan)
    if _whole_block(tile) is not None:
        _fill_by_compare(values, tile, matrices, measures, manifest)
    else:
        _fill_by_pairs(values, tile, matrices, measures, manifest)
    return np.array(tile.pairs, dtype=np.int64).reshape(-1, 2), values


def _whole_block(tile: Tile) -> tuple[list[int], list[int] | None] | None:
    """(left models, right models or None for a block with itself) when the tile's pairs are
    every pair of two blocks, or the upper triangle (or every ordered pair) of one block."""
    pairs = set(tile.pairs)
    left, right = sorted({a for a, _ in pairs}), sorted({b for _, b in pairs})
    if left == right:
        upper = {(a, b) for i, a in enumerate(left) for b in left[i:]}
        if pairs == upper or pairs == {(a, b) for a in left for b in left}:
            return left, None
    if not set(left) & set(right) and pairs == {(a, b) for a in left for b in right}:
        return left, right
    return None


def layer_components(layer_pairs: list[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """The requested layer pairs split into connected groups: (left layers, right layers) such
    that every requested pair lies in one group and every layer in one group per side.

    ``layers="matching"`` gives one group per layer, ``"all"`` a single group; comparing each
    group's left layers with its right layers prepares every (model, layer) once per side.
    """
    groups: list[tuple[set[int], set[int]]] = []
    for la, lb in layer_pairs:
        touching = [g for g in groups if la in g[0] or lb in g[1]]
        merged = ({la}, {lb})
        for g in touching:
            merged[0].update(g[0])
            merged[1].update(g[1])
            groups.remove(g)
        groups.append(merged)
    return [(sorted(left), sorted(right)) for left, right in groups]


def _fill_by_compare(values: np.ndarray, tile: Tile, matrices: dict[int, dict[str, np.ndarray]],
                     measures: list[Measure], manifest: dict[str, Any]) -> None:
    """Fill a whole-block tile with one compare() per group of layers (see :func:`compute_tile`)."""
    models = manifest["models"]
    layer_names = manifest["layers"]
    layer_pairs = [tuple(p) for p in manifest["layer_pairs"]]
    left, right = _whole_block(tile)
    position = {pair: p for p, pair in enumerate(tile.pairs)}
    where = {pair: q for q, pair in enumerate(layer_pairs)}
    for layers_a, layers_b in layer_components(layer_pairs):
        side_a = [(a, la) for la in layers_a for a in left if layer_names[la] in matrices[a]]
        side_b = [(b, lb) for lb in layers_b for b in (left if right is None else right)
                  if layer_names[lb] in matrices[b]]
        if not side_a or not side_b:
            continue
        reps_a = [(_label(models, a, layer_names[la]), matrices[a][layer_names[la]]) for a, la in side_a]
        reps_b = None if side_a == side_b else [
            (_label(models, b, layer_names[lb]), matrices[b][layer_names[lb]]) for b, lb in side_b]
        result = compare(reps_a, reps_b, measures, conv="flatten", progress=False)
        for i, (a, la) in enumerate(side_a):
            for j, (b, lb) in enumerate(side_b):
                p, q = position.get((a, b)), where.get((la, lb))
                if p is not None and q is not None:
                    values[:, p, q] = result.values[:, i, j]


def _label(models: list[dict[str, Any]], model: int, layer: str) -> str:
    return f"{models[model]['name']}[{layer!r}]"


def _fill_by_pairs(values: np.ndarray, tile: Tile, matrices: dict[int, dict[str, np.ndarray]],
                   measures: list[Measure], manifest: dict[str, Any]) -> None:
    """Fill any tile pair by pair, each (measure preparation, model, layer) prepared once."""
    models = manifest["models"]
    layer_names = manifest["layers"]
    layer_pairs = [tuple(p) for p in manifest["layer_pairs"]]
    prepared: dict[tuple[Any, int, str], Any] = {}
    for model, layers in matrices.items():
        for layer, matrix in layers.items():
            for m in measures:
                key = (m.preparation_key, model, layer)
                if key not in prepared:
                    prepared[key] = m.prepare(matrix, name=_label(models, model, layer))
    for p, (a, b) in enumerate(tile.pairs):
        for q, (la, lb) in enumerate(layer_pairs):
            name_a, name_b = layer_names[la], layer_names[lb]
            if name_a not in matrices[a] or name_b not in matrices[b]:
                continue
            memo: dict = {}
            names = (_label(models, a, name_a), _label(models, b, name_b))
            for k, m in enumerate(measures):
                values[k, p, q] = m.score(prepared[(m.preparation_key, a, name_a)],
                                          prepared[(m.preparation_key, b, name_b)], memo, names=names)


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
