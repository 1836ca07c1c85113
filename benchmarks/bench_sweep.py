"""Group "sweep": rl.sweep across many models, in process and on a local Dask cluster.

(a) N models x L layers, linear CKA, matching layers, every unordered pair (``pairs="upper"``),
    n x p float32 activations saved as .npz files (workers read them from the paths).
    Contenders: the in-process sweep; ``executor=`` a LocalCluster of 2 single-threaded
    worker processes (cluster start-up and the workers' first import of replens excluded,
    said in its row); a loop of ``rl.compare``
    over the model pairs, one call per (pair, layer) (timed on a slice of the pairs and
    scaled). Targets: dask / in-process >= 1.6x on 2 cores; in-process / loop >= 5x.
    Exactness: the sweep's entries against the loop's on the slice (max |difference|).
(b) Overhead of the store and scheduling: tiny models (n=50, p=4, 1 layer), one model pair
    per tile (``tile_models=1``), time per tile in process and on the cluster.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._timing import configure_torch_threads, fmt_ratio, fmt_seconds, table
from .bench_measures import Report

FULL = dict(models=40, layers=8, n=2000, p=256, loop_pairs=40, tiny_models=20, tile_models=20, quick=False)
QUICK = dict(models=10, layers=3, n=300, p=32, loop_pairs=10, tiny_models=8, tile_models=4, quick=True)


def _write_models(folder: Path, cfg: dict) -> dict[str, str]:
    import replens as rl

    rng = np.random.default_rng(0)
    latent = rng.standard_normal((cfg["n"], 32)).astype(np.float32)
    paths = {}
    for i in range(cfg["models"]):
        acts = {f"layer{k}": np.tanh(latent @ rng.standard_normal((32, cfg["p"])).astype(np.float32)
                                     + 0.5 * rng.standard_normal((cfg["n"], cfg["p"])).astype(np.float32))
                for k in range(cfg["layers"])}
        paths[f"net{i:03d}"] = str(rl.save_activations(folder / f"net{i:03d}.npz", acts))
    return paths


def _import_replens() -> None:
    """Run on each worker before timing: replens and its sweep module imported."""
    import replens.sweeps.tiles  # noqa: F401


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def bench_population(cfg: dict, report: Report, folder: Path) -> dict[str, Any]:
    import replens as rl
    from dask.distributed import Client, LocalCluster

    paths = _write_models(folder, cfg)
    names = list(paths)
    kw = dict(layers="matching", pairs="upper", tile_models=cfg["tile_models"])
    t_in, res = _timed(lambda: rl.sweep(paths, store=folder / "inproc", **kw).run())
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_import_replens)  # what a long-lived cluster has done already
        startup = time.perf_counter() - started
        t_dask, res_dask = _timed(lambda: rl.sweep(paths, store=folder / "dask", executor=client, **kw).run())
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i:]]
    slice_pairs = pairs[: cfg["loop_pairs"]]
    loaded = {name: rl.load_activations(path) for name, path in paths.items()}

    def loop():
        return {(a, b, layer): rl.compare({layer: loaded[a][layer]}, {layer: loaded[b][layer]}).values[0, 0, 0]
                for a, b in slice_pairs for layer in loaded[a]}

    t_slice, looped = _timed(loop)
    t_loop = t_slice * len(pairs) / len(slice_pairs)
    layers = list(res.layers)
    error = max(abs(res.values[0, names.index(a), names.index(b), layers.index(layer), layers.index(layer)] - value)
                for (a, b, layer), value in looped.items())
    dask_error = float(np.nanmax(np.abs(res.values - res_dask.values)))
    n_tiles = res.total_tiles
    rows = [["in process", fmt_seconds(t_in), f"{n_tiles} tiles", "1.0x"],
            ["dask, 2 workers", fmt_seconds(t_dask), f"start-up and imports {startup:.1f} s excluded", fmt_ratio(t_in / t_dask)],
            ["loop of rl.compare", fmt_seconds(t_loop), f"scaled from {len(slice_pairs)} of {len(pairs)} pairs",
             fmt_ratio(t_in / t_loop)]]
    print(f"\n(a) {cfg['models']} models x {cfg['layers']} layers, linear CKA, matching layers, upper pairs, "
          f"n={cfg['n']}, p={cfg['p']}")
    print(table(["contender", "time", "note", "speed vs in process"], rows))
    speedup, vs_loop = t_in / t_dask, t_loop / t_in
    report.target("dask 2 workers vs in process >= 1.6x", speedup >= 1.6, f"{speedup:.2f}x")
    report.target("in-process sweep vs loop of rl.compare >= 5x", vs_loop >= 5, f"{vs_loop:.2f}x")
    report.target("sweep entries equal rl.compare (1e-12)", error <= 1e-12 and dask_error <= 1e-12,
                  f"max |diff| {error:.2e} (loop slice), {dask_error:.2e} (dask vs in process)")
    return {"in_process_s": t_in, "dask_s": t_dask, "dask_startup_s": startup, "loop_s_scaled": t_loop,
            "tiles": n_tiles, "speedup_dask": speedup, "speedup_vs_loop": vs_loop, "max_abs_diff": error,
            "pairs": len(pairs), "scores": len(pairs) * cfg["layers"]}


def bench_overhead(cfg: dict, report: Report, folder: Path) -> dict[str, Any]:
    import replens as rl
    from dask.distributed import Client, LocalCluster

    rng = np.random.default_rng(1)
    nets = {f"t{i}": {"fc": rng.standard_normal((50, 4))} for i in range(cfg["tiny_models"])}
    kw = dict(tile_models=1)
    t_in, res = _timed(lambda: rl.sweep(nets, store=folder / "tiny_in", **kw).run())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t_dask, _ = _timed(lambda: rl.sweep(nets, store=folder / "tiny_dask", executor=client, **kw).run())
    t_resume, again = _timed(lambda: rl.sweep(nets, store=folder / "tiny_in", **kw).run())
    tiles = res.total_tiles
    rows = [["in process", fmt_seconds(t_in / tiles)], ["dask, 2 workers", fmt_seconds(t_dask / tiles)],
            ["rerun of a finished store (plan + read all tiles)", fmt_seconds(t_resume)]]
    print(f"\n(b) store and scheduling overhead: {tiles} tiles of one tiny model pair (n=50, p=4)")
    print(table(["per tile", "time"], rows))
    report.target("a finished store recomputes nothing", again.computed_tiles == 0, f"{again.computed_tiles} tiles")
    return {"tiles": tiles, "in_process_per_tile_s": t_in / tiles, "dask_per_tile_s": t_dask / tiles,
            "rerun_finished_s": t_resume}


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    threads = configure_torch_threads()
    report = Report()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="replens-bench-sweep-") as folder:
        warnings.simplefilter("ignore")
        sections = {"population": bench_population(cfg, report, Path(folder)),
                    "overhead": bench_overhead(cfg, report, Path(folder))}
    return {"config": cfg, "torch_threads": threads, "sections": sections,
            "targets": report.targets, "warnings": report.warnings}
