"""``replens sweep``: a measure between the layers of many networks, resumable, on Dask if asked."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._app import log
from ._measure_spec import parse_measure_spec


def _read_config(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML ({exc}).", param_hint="'--config'") from exc
    known = {"models", "measures", "layers", "pairs", "conv", "layout", "sequence", "tile_models", "store"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise click.BadParameter(f"{path} has unknown keys {unknown}; known keys: {sorted(known)}.",
                                 param_hint="'--config'")
    return config


def _named_models(paths: Sequence[Any], base: Path) -> dict[str, Path]:
    models: dict[str, Path] = {}
    for entry in paths:
        path = Path(entry) if Path(entry).is_absolute() else base / entry
        name = path.stem if path.is_file() else path.name
        if name in models:
            raise click.BadParameter(f"two models are named {name!r} ({models[name]} and {path}); name them in a "
                                     f"--config [models] table instead.", param_hint="MODELS")
        models[name] = path
    return models


@click.command("sweep")
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A TOML file with models (a [models] table name = path, or a list of paths), measures, "
                   "layers, pairs, conv, layout, sequence, tile_models and store.")
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="The sweep's folder; rerunning with the same store computes only what is missing.")
@click.option("--measure", "-m", "measure_specs", multiple=True, metavar="SPEC",
              help="Measure (repeatable): NAME or NAME:option=value,... (default: linear_cka).")
@click.option("--layers", default=None, help="all (every layer pair) or matching (same layer name). Default: all.")
@click.option("--pairs", default=None, help="all (every ordered model pair) or upper (each pair once). Default: all.")
@click.option("--conv", default=None, help="4-D layers: flatten, spatial_as_examples or mean_pool. Default: flatten.")
@click.option("--tile-models", type=click.IntRange(min=1), default=None, help="Models per tile side (default 8).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on the dask.distributed scheduler at ADDRESS (e.g. tcp://host:8786).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run on a local Dask cluster of N worker processes.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the tidy CSV, heatmaps, manifest and report (default: STORE/report).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def sweep_command(models: Sequence[Path], config_path: Path | None, store: Path | None, measure_specs: Sequence[str],
                  layers: str | None, pairs: str | None, conv: str | None, tile_models: int | None,
                  scheduler: str | None, workers: int | None, out_dir: Path | None, report: bool,
                  progress: bool | None) -> None:
    """Sweep measures between the layers of MODELS (activation files or cache folders).

    Writes STORE/sweep.json, one file per finished tile, and STORE/values.csv (measure,
    model_a, model_b, layer_a, layer_b, value); prints the CSV's path. A killed run resumes
    where it stopped when run again with the same store. Then writes the outputs of compare
    into --out (default STORE/report), replaced whole on a rerun: values.csv, one
    model-by-model heatmap per measure and layer, manifest.json (inputs' hashes, options,
    versions, the store) and report.html, and names them on stderr.
    """
    import dataclasses

    from .._io import package_versions, require_packages
    from ..report.bundle import check_output_folder, write_sweep_csv
    from ..report.sweep import write_sweep_outputs
    from ..sweeps.sweep import sweep

    config = _read_config(config_path) if config_path is not None else {}
    base = config_path.parent if config_path is not None else Path.cwd()
    if models and "models" in config:
        raise click.UsageError("give the models either as MODELS or in --config, not both.")
    listed = config.get("models", list(models))
    if isinstance(listed, dict):
        named = {str(k): (Path(v) if Path(v).is_absolute() else base / v) for k, v in listed.items()}
    else:
        named = _named_models(listed, base)
    if not named:
        raise click.UsageError("no models: give activation files or folders as MODELS, or a --config with models.")
    if scheduler is not None and workers is not None:
        raise click.UsageError("give --scheduler or --workers, not both.")
    store = store if store is not None else (Path(config["store"]) if "store" in config else None)
    if store is None:
        raise click.UsageError("missing --store DIR (or store = \"DIR\" in --config).")
    store = Path(store)
    out_dir = out_dir if out_dir is not None else store / "report"
    if out_dir.resolve() == store.resolve():
        raise click.BadParameter(f"{out_dir} is the store; the outputs need a folder of their own (default "
                                 f"STORE/report).", param_hint="'--out'")
    check_output_folder(out_dir)  # before any work: a file, a foreign folder or a cache is refused
    # The heatmaps come last: a missing matplotlib is said now, before any tile is computed.
    require_packages(["matplotlib"], "plot", "replens sweep (its heatmaps and report.html)")
    specs = list(measure_specs) or list(config.get("measures", ["linear_cka"]))
    measures = [parse_measure_spec(spec) for spec in specs]
    layer_option = layers or config.get("layers", "all")
    if isinstance(layer_option, list):
        layer_option = [tuple(p) for p in layer_option]
    pair_option = pairs or config.get("pairs", "all")
    if isinstance(pair_option, list):
        pair_option = [tuple(p) for p in pair_option]
    executor: Any = None
    client = None
    if scheduler is not None:
        from .._io import optional_import

        distributed = optional_import("dask.distributed", "dask", "replens sweep --scheduler")
        client = executor = distributed.Client(scheduler)
    elif workers is not None:
        executor = "dask"
    started = time.perf_counter()
    try:
        planned = sweep(named, measures=measures, layers=layer_option, pairs=pair_option, store=store,
                        executor=executor, conv=conv or config.get("conv", "flatten"), progress=progress,
                        layout=config.get("layout", "NCHW"), sequence=config.get("sequence", "flatten"),
                        tile_models=tile_models or config.get("tile_models", 8), n_workers=workers)
        missing = len(planned.missing())
        log(f"{len(named)} models, {len(planned.tiles)} tiles, {missing} to compute")
        result = planned.run()
    finally:
        if client is not None:
            client.close()
    log(f"computed {result.computed_tiles} of {result.total_tiles} tiles in {time.perf_counter() - started:.1f} s")
    click.echo(str(write_sweep_csv(result, store / "values.csv")))
    executor_text = (f"dask.distributed scheduler {scheduler}" if scheduler is not None else
                     f"local Dask cluster of {workers} workers" if workers is not None else "in process")
    result = dataclasses.replace(result, attrs={**result.attrs, "executor": executor_text})
    manifest = {
        "inputs": {entry["path"]: {"sha256": str(entry["sha256"]).removeprefix("sha256:"), "model": entry["name"]}
                   for entry in planned.manifest["models"]},
        "measures": [{"name": m["name"], "label": m["label"], "options": m["options"]}
                     for m in planned.manifest["measures"]],
        "options": {"layers": layer_option, "pairs": pair_option, "conv": result.attrs.get("conv"),
                    "layout": result.attrs.get("layout"), "sequence": result.attrs.get("sequence"),
                    "tile_models": result.attrs.get("tile_models"), "executor": executor_text},
        "store": str(store.resolve()),
        "tiles": {"total": result.total_tiles, "computed_this_run": result.computed_tiles},
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    written = write_sweep_outputs(result, out_dir, manifest, report=report)
    log(f"wrote {len(written)} files to {out_dir}: " + ", ".join(path.name for path in written))

