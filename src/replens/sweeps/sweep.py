"""rl.sweep(): a measure between many networks' layers, tiled, resumable, on Dask if asked.

Cost model: N models with L layers each, M measures. A full sweep (``pairs="upper"``,
``layers="all"``) needs N L preparations per measure preparation and about N^2 L^2 / 2 scores;
tiles of B models re-prepare each model once per tile it appears in, so preparations grow to
about N L (N / B) -- the price of tiles that run anywhere without shared memory -- while the
scores are done exactly once. Every entry equals ``rl.compare`` on that pair of layers to
rounding (1e-12 is checked by the tests), whatever the tile size, executor, order of
completion or number of restarts: each entry is computed by the same prepare and score
functions from the same float64 inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _progress
from .._io import file_sha256, optional_import
from .._validate import check_option
from ..activations.cache import ActivationCache, hash_inputs
from ..activations.files import load_activations, save_activations
from ..engine.compare import check_compare_options
from ..engine.layouts import as_matrix
from ..errors import ShapeError, UnknownOptionError
from .executors import dask_client, run_in_process, run_on_dask
from .store import FORMAT, create_or_check, finished_tiles, read_manifest, read_tile
from .tiles import Tile, plan_tiles

SYMMETRIZE = ("mean", "upper", "lower", None)
CONV_MODES = ("flatten", "spatial_as_examples", "mean_pool")


@dataclass(frozen=True)
class Distances:
    """An (N, N) matrix of distances 1 - similarity between networks, with their names.

    ``values[i, j]`` is the distance between ``names[i]`` and ``names[j]`` at ``layer`` (a
    ``(layer_a, layer_b)`` pair) under ``measure``. ``np.asarray(d)`` gives ``values``.
    """

    values: np.ndarray
    names: tuple[str, ...]
    measure: str
    layer: tuple[str, str]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)


@dataclass(frozen=True)
class SweepResult:
    """Every measure between every requested (model, layer) pair of a sweep.

    ``values`` has shape (measures, models, models, layers, layers): ``values[k, i, j, p, q]``
    is measure ``measures[k]`` between layer ``layers[p]`` of ``models[i]`` and layer
    ``layers[q]`` of ``models[j]``; NaN where the pair was not requested or a model lacks the
    layer. ``computed_tiles`` is how many tiles this run computed (0 for a finished store),
    ``total_tiles`` how many the sweep has.
    """

    values: np.ndarray
    models: tuple[str, ...]
    measures: tuple[str, ...]
    layers: tuple[str, ...]
    computed_tiles: int
    total_tiles: int
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_xarray(self) -> Any:
        """A DataArray with dims (measure, model_a, model_b, layer_a, layer_b) (needs xarray)."""
        xr = optional_import("xarray", "io", "SweepResult.to_xarray")
        return xr.DataArray(
            self.values, dims=("measure", "model_a", "model_b", "layer_a", "layer_b"),
            coords={"measure": list(self.measures), "model_a": list(self.models), "model_b": list(self.models),
                    "layer_a": list(self.layers), "layer_b": list(self.layers)},
            attrs={key: json.dumps(value) for key, value in self.attrs.items()})

    def distances(self, measure: str, *, layer: str | tuple[str, str], symmetrize: str | None = "mean") -> Distances:
        """The (N, N) distances 1 - similarity between the models at one layer (pair).

        Parameters
        ----------
        measure : str
            A label from ``measures``.
        layer : str or (layer_a, layer_b)
            A layer name (the same layer on both sides) or a pair of names.
        symmetrize : {"mean", "upper", "lower", None}, default "mean"
            ``"mean"``: (D + D^T) / 2, using the one side present where only one was swept
            (``pairs="upper"``); ``"upper"`` / ``"lower"``: mirror that triangle; None: as stored.
        """
        if measure not in self.measures:
            raise UnknownOptionError(f"measure must be one of the sweep's measures {self.measures}; got {measure!r}.")
        check_option("symmetrize", symmetrize, SYMMETRIZE)
        layer_a, layer_b = (layer, layer) if isinstance(layer, str) else tuple(layer)
        for name in (layer_a, layer_b):
            if name not in self.layers:
                raise UnknownOptionError(f"layer must name one of the sweep's layers {self.layers}; got {name!r}.")
        similarity = self.values[self.measures.index(measure), :, :,
                                 self.layers.index(layer_a), self.layers.index(layer_b)]
        d = 1.0 - similarity
        if symmetrize == "mean":
            t = d.T
            d = np.where(np.isnan(d), t, np.where(np.isnan(t), d, (d + t) / 2))
        elif symmetrize == "upper":
            d = np.triu(d) + np.triu(d, 1).T
        elif symmetrize == "lower":
            d = np.tril(d) + np.tril(d, -1).T
        return Distances(d, self.models, measure, (layer_a, layer_b))


class Sweep:
    """A planned sweep bound to its store; :meth:`run` computes what is missing.

    Make one with :func:`sweep`. ``tiles`` lists every tile; :meth:`missing` those without a
    file in the store; :meth:`result` assembles the store's finished tiles.
    """

    def __init__(self, store: Path, manifest: dict[str, Any], tiles: list[Tile], executor: Any,
                 progress: bool | None, n_workers: int | None) -> None:
        self.store = store
        self.manifest = manifest
        self.tiles = tiles
        self._executor = executor
        self._progress = progress
        self._n_workers = n_workers

    def __repr__(self) -> str:
        return (f"Sweep({len(self.manifest['models'])} models, {len(self.manifest['layer_pairs'])} layer pairs, "
                f"{len(self.tiles)} tiles, store={str(self.store)!r})")

    def missing(self) -> list[Tile]:
        """The tiles without a finished file in the store, in order."""
        done = finished_tiles(self.store)
        return [tile for tile in self.tiles if tile.index not in done]

    def run(self) -> SweepResult:
        """Compute the missing tiles (all of them the first time) and return the whole result."""
        todo = self.missing()
        shown = _progress.bar(self._progress, total=len(self.tiles), desc="sweep", unit="tile",
                              initial=len(self.tiles) - len(todo))
        try:
            if not todo:
                computed = 0
            elif self._executor is None:
                computed = run_in_process(str(self.store), todo, shown.update)
            else:
                client, owned = dask_client(self._executor, n_workers=self._n_workers)
                try:
                    computed = run_on_dask(client, str(self.store), todo, shown.update)
                finally:
                    if owned:
                        cluster = client.cluster
                        client.close()
                        cluster.close()
        finally:
            shown.close()
        return self.result(computed_tiles=computed)

    def result(self, *, computed_tiles: int = 0) -> SweepResult:
        """The store's finished tiles as a SweepResult (NaN where tiles are missing)."""
        manifest = self.manifest
        names = tuple(m["name"] for m in manifest["models"])
        layers = tuple(manifest["layers"])
        labels = tuple(m["label"] for m in manifest["measures"])
        values = np.full((len(labels), len(names), len(names), len(layers), len(layers)), np.nan)
        layer_a = np.array([p[0] for p in manifest["layer_pairs"]], dtype=np.int64)
        layer_b = np.array([p[1] for p in manifest["layer_pairs"]], dtype=np.int64)
        for index in sorted(finished_tiles(self.store)):
            if index >= len(self.tiles):
                continue
            pairs, tile_values = read_tile(self.store, index, manifest["sweep_id"])
            for p, (a, b) in enumerate(pairs):
                values[:, a, b, layer_a, layer_b] = tile_values[:, p, :]
        attrs = {key: manifest[key] for key in ("conv", "layout", "sequence", "n_examples", "dtype", "tile_models")}
        attrs["measure_options"] = {m["label"]: {"name": m["name"], "options": m["options"]} for m in manifest["measures"]}
        attrs["store"] = str(self.store)
        return SweepResult(values, names, labels, layers, computed_tiles, len(self.tiles), attrs)


def sweep(
    models: Mapping[str, Any],
    measures: Any = ("linear_cka",),
    layers: str | Sequence[tuple[str, str]] = "all",
    pairs: str | Sequence[tuple[str, str]] = "all",
    store: str | os.PathLike[str] = "run.zarr",
    executor: Any = None,
    conv: str = "flatten",
    progress: bool | None = None,
    *,
    layout: str = "NCHW",
    sequence: str = "flatten",
    tile_models: int = 8,
    n_workers: int | None = None,
) -> Sweep:
    """Plan a sweep of `measures` between many networks' layers, bound to a resumable store.

    Parameters
    ----------
    models : mapping model name -> activations
        Each a ``{layer: array (n, ...)}`` mapping, an activation-cache folder, or a file
        :func:`replens.load_activations` reads. All must hold the same number of probe
        examples (checked; caches that record an ``inputs_hash`` must agree on it). In-memory
        arrays are saved once into ``STORE/inputs`` so that workers read them from a path.
    measures : name, Measure, or iterable of them; default ("linear_cka",)
        As for :func:`replens.compare` (registered measures; callables are refused because
        workers must rebuild them by name).
    layers : "all", "matching" or a list of (layer_a, layer_b), default "all"
        Every layer pair, only pairs of the same layer name, or the pairs listed.
    pairs : "all", "upper" or a list of (model_a, model_b), default "all"
        Every ordered model pair (the diagonal included), each unordered pair once (i <= j
        in `models`' order), or the pairs listed.
    store : path, default "run.zarr"
        The sweep's folder (see :mod:`replens.sweeps.store`): created on first use; a rerun
        with the same inputs and options computes only the tiles missing from it; one with
        other inputs or options is refused, naming the difference.
    executor : None, "dask" or a dask.distributed.Client, default None
        None runs in this process; ``"dask"`` starts a local cluster of `n_workers`
        single-threaded processes; a Client uses its cluster (SLURM via dask-jobqueue, ...).
    conv : {"flatten", "spatial_as_examples", "mean_pool"}, default "flatten"
        How 4-D layers become (examples, features), as in compare.
    progress : bool or None
        A progress bar over tiles on stderr (None: when stderr is a terminal).
    layout, sequence : as in compare.
    tile_models : int, default 8
        Models per tile side: a tile holds up to tile_models^2 model pairs with all their
        layer pairs; larger tiles re-read and re-prepare each model less often.
    n_workers : int, optional
        Worker processes of the local cluster ``executor="dask"`` starts.

    Returns
    -------
    Sweep
        Call ``.run()`` for a :class:`SweepResult`.

    Examples
    --------
    >>> import numpy as np, replens as rl, tempfile, os
    >>> rng = np.random.default_rng(0)
    >>> nets = {f"net{i}": {"fc": rng.standard_normal((50, 4))} for i in range(3)}
    >>> res = rl.sweep(nets, store=os.path.join(tempfile.mkdtemp(), "run")).run()
    >>> res.to_xarray().shape
    (1, 3, 3, 1, 1)
    """
    resolved = _checked_measures(measures)
    check_option("conv", conv, CONV_MODES)
    check_compare_options(resolved, conv, layout, sequence)
    if isinstance(tile_models, bool) or not isinstance(tile_models, int) or tile_models < 1:
        raise UnknownOptionError(f"tile_models must be a positive integer; got {tile_models!r}.")
    if executor is not None and executor != "dask" and not _is_client(executor):
        raise UnknownOptionError(f"executor must be None, 'dask' or a dask.distributed.Client; got "
                                 f"{executor!r:.80}.")
    if not isinstance(models, Mapping) or len(models) < 1:
        raise ShapeError(f"models must be a non-empty mapping model name -> activations; got "
                         f"{type(models).__name__}.")
    for name in models:
        if not isinstance(name, str) or not name:
            raise ShapeError(f"models' names must be non-empty strings; got {name!r}.")
    names = list(models)
    dtype = _work_dtype(resolved)
    store_path = Path(store)
    entries = [_describe(name, models[name], store_path, k) for k, name in enumerate(names)]
    n_examples = _checked_examples(entries)
    layer_names = _union_layers(entries)
    layer_pairs = _layer_pairs(layers, layer_names)
    model_pairs = _model_pairs(pairs, names)
    spec = {"models": [{key: e[key] for key in ("name", "sha256", "layers", "shapes", "n_examples")}
                       for e in entries],
            "measures": [{"name": m.name, "label": m.label, "options": _jsonable(m.options)} for m in resolved],
            "layers": layer_names, "layer_pairs": layer_pairs,
            "pairs": pairs if isinstance(pairs, str) else model_pairs, "conv": conv,
            "layout": layout, "sequence": sequence, "tile_models": tile_models, "dtype": dtype}
    sweep_id = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    manifest = dict(spec, format=FORMAT, sweep_id=sweep_id, n_examples=n_examples)
    manifest["models"] = [{key: e[key] for key in ("name", "sha256", "layers", "shapes", "n_examples", "path",
                                                    "in_store")} for e in entries]
    _check_shapes(manifest)
    existed = create_or_check(store_path, manifest)
    for entry, name in zip(entries, names):
        if entry["in_store"]:
            _save_input(store_path, entry, models[name])
    if existed:
        manifest = read_manifest(store_path)
    return Sweep(store_path, manifest, plan_tiles([tuple(p) for p in model_pairs], tile_models), executor,
                 progress, n_workers)


def _is_client(executor: Any) -> bool:
    return type(executor).__name__ == "Client" and type(executor).__module__.startswith("distributed")


def _checked_measures(measures: Any) -> tuple[Any, ...]:
    resolved = check_compare_options(measures, "flatten", "NCHW", "flatten")
    from ..measures.registry import measure as by_name

    for m in resolved:
        try:
            rebuilt = by_name(m.name, **m.options)
        except Exception:
            rebuilt = None
        if rebuilt is None or rebuilt.label != m.label or rebuilt.definition is not m.definition:
            raise UnknownOptionError(
                f"measures must be registered measures (names or rl.measure(...)), because each worker "
                f"rebuilds them by name; {m.label!r} is not. Register it with rl.register_measure in a "
                f"module the workers import.")
    return resolved


def _work_dtype(resolved: Sequence[Any]) -> str:
    asked = {m.options["dtype"] for m in resolved if m.options.get("dtype") is not None}
    if len(asked) > 1:
        raise UnknownOptionError(f"the measures ask for different precisions ({', '.join(sorted(asked))}); "
                                 f"one sweep runs in one dtype. Configure them alike.")
    return next(iter(asked), "float64")


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)
            for key, value in options.items()}


def _describe(name: str, source: Any, store: Path, k: int) -> dict[str, Any]:
    """What the manifest records about one model: where to read it, its hash, layers, shapes."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).resolve()
        if not path.exists():
            raise FileNotFoundError(f"models[{name!r}]: no activations at {path}; pass an existing file or "
                                    f"activation-cache folder.")
        acts = load_activations(path)
        entry = {"path": str(path), "in_store": False, "sha256": "sha256:" + file_sha256(path),
                 "inputs_hash": ActivationCache.open(path).inputs_hash if path.is_dir() else None}
    elif isinstance(source, Mapping):
        if not source:
            raise ShapeError(f"models[{name!r}] holds no layers; pass a mapping layer -> array (n, ...).")
        acts = {}
        for layer, array in source.items():
            if not isinstance(layer, str):
                raise ShapeError(f"models[{name!r}] layer names must be strings; got {layer!r}.")
            acts[layer] = np.asarray(array)
        digest = hashlib.sha256(json.dumps(list(acts)).encode())
        digest.update(hash_inputs(*acts.values()).encode())
        entry = {"path": f"inputs/{k}.npz", "in_store": True, "sha256": "sha256:" + digest.hexdigest(),
                 "inputs_hash": None}
    else:
        raise ShapeError(f"models[{name!r}] must be a mapping layer -> array, an activation-cache folder or "
                         f"an activations file; got {type(source).__name__}.")
    shapes = {layer: list(np.shape(array)) for layer, array in acts.items()}
    counts = {int(shape[0]) if shape else 0 for shape in shapes.values()}
    if len(counts) != 1 or any(len(shape) < 2 for shape in shapes.values()):
        raise ShapeError(f"models[{name!r}]: every layer must be an array (n, ...) of one n; got shapes {shapes}.")
    entry.update(name=name, layers=list(acts), shapes=shapes, n_examples=counts.pop())
    return entry


def _checked_examples(entries: list[dict[str, Any]]) -> int:
    counts = {e["name"]: e["n_examples"] for e in entries}
    if len(set(counts.values())) > 1:
        raise ShapeError(f"every model must hold the same probe examples; got numbers of examples {counts}. "
                         f"Extract every model's activations on the same inputs, in the same order.")
    recorded = {e["name"]: e["inputs_hash"] for e in entries if e["inputs_hash"] is not None}
    if len(set(recorded.values())) > 1:
        raise ShapeError(f"every model must hold the same probe examples, but their activation caches record "
                         f"different inputs_hash values {recorded}; extract every model on the same inputs.")
    return next(iter(counts.values()))


def _check_shapes(manifest: dict[str, Any]) -> None:
    """Refuse, before any work, a layer the conv / sequence mode cannot turn into a matrix."""
    for entry in manifest["models"]:
        for layer, shape in entry["shapes"].items():
            if len(shape) not in (2, 3, 4):
                raise ShapeError(f"models[{entry['name']!r}][{layer!r}] has shape {tuple(shape)}; layers must "
                                 f"be 2-D (n, features), 3-D (n, t, d) or 4-D conv maps.")
            as_matrix(np, layer, np.zeros([1] + shape[1:]), conv=manifest["conv"], layout=manifest["layout"],
                      sequence=manifest["sequence"])


def _union_layers(entries: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for e in entries:
        for layer in e["layers"]:
            seen.setdefault(layer, None)
    return list(seen)


def _layer_pairs(layers: Any, names: list[str]) -> list[list[int]]:
    if isinstance(layers, str):
        check_option("layers", layers, ("all", "matching"))
        if layers == "all":
            return [[i, j] for i in range(len(names)) for j in range(len(names))]
        return [[i, i] for i in range(len(names))]
    return [[names.index(a), names.index(b)] for a, b in _checked_name_pairs("layers", layers, names)]


def _model_pairs(pairs: Any, names: list[str]) -> list[list[int]]:
    if isinstance(pairs, str):
        check_option("pairs", pairs, ("all", "upper"))
        n = len(names)
        return [[i, j] for i in range(n) for j in range(n) if pairs == "all" or i <= j]
    return [[names.index(a), names.index(b)] for a, b in _checked_name_pairs("pairs", pairs, names)]


def _checked_name_pairs(argument: str, pairs: Any, names: list[str]) -> list[tuple[str, str]]:
    if not isinstance(pairs, Iterable):
        raise UnknownOptionError(f"{argument} must be a string option or a list of (a, b) name pairs; got "
                                 f"{pairs!r:.80}.")
    checked = []
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise UnknownOptionError(f"{argument} must be a list of (a, b) name pairs; got an item {item!r:.80}.")
        for name in item:
            if name not in names:
                raise UnknownOptionError(f"{argument} names {name!r}, which is not among {names[:20]}; "
                                         f"use names from the models.")
        pair = (item[0], item[1])
        if pair not in checked:
            checked.append(pair)
    if not checked:
        raise UnknownOptionError(f"{argument} is an empty list; list at least one (a, b) pair.")
    return checked


def _save_input(store: Path, entry: dict[str, Any], source: Mapping[str, Any]) -> None:
    """Save an in-memory model into the store once (workers read it from there)."""
    path = store / entry["path"]
    if path.exists():
        return
    save_activations(path, {layer: np.asarray(array) for layer, array in source.items()})  # atomic
